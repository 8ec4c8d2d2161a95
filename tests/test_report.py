"""report.html: its aggregates, its place among the artifacts, `ftprep report`, escaping, size.

The browser's view of the page (what is on screen, that nothing is fetched and no data script
runs) is in test_report_browser.py.
"""

from __future__ import annotations

import collections
import html.parser
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import cli
from pipeline.commands.count import distribution
from pipeline.stages.report import build_report
from pipeline.stages.report.aggregate import EXACT, Lengths, aggregate
from pipeline.stages.report.charts import _binned
from pipeline.stages.report.samples import PER_RULE, read_samples
from tests.conftest import SHARED_DATA, chat, many_chats, needs_shared_data, write_jsonl


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


XSS = {
    "content": "<script>window.__ftprep_xss='content'</script>",
    "img": "<img src=x onerror=\"window.__ftprep_xss='img'\">",
    "svg": "<svg onload=\"window.__ftprep_xss='svg'\"></svg>",
    "rejected": "<script>window.__ftprep_xss='rejected'</script>",
    "broken": "<img src=y onerror=\"window.__ftprep_xss='broken'\">",
}
HOSTILE_NAME = "chat <img src=x onerror=window.__ftprep_xss=1> & $x$.jsonl"


def hostile_records() -> list:
    """Chats whose text tries to run script wherever the report quotes data: a kept example with
    an exact copy (the largest cluster), the same prompt with another answer (a conflict), a
    rejected record and a line that is not JSON."""
    records = many_chats(40)
    bad = chat(XSS["content"], XSS["img"])
    records[3:3] = [bad, bad, chat(XSS["content"], XSS["svg"] + " a different answer entirely")]
    records.append(
        {
            "messages": [
                {"role": "user", "content": XSS["rejected"]},
                {"role": "assistant", "content": ""},
            ]
        }
    )
    return records


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    data = write_jsonl(folder / HOSTILE_NAME, hostile_records())
    with open(data, "a", encoding="utf-8") as f:
        f.write('{"messages": "' + XSS["broken"] + "\n")  # not JSON
    out = folder / "out"
    code, output = run_cli("run", str(data), "--out", str(out), "--no-cache")
    assert code == 0, output
    return out


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: collections.Counter = collections.Counter()
        self.handlers: list[tuple[str, str]] = []
        self.fetching: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags[tag] += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name))
            if name in ("src", "srcset", "data", "poster") or (tag == "link" and name == "href"):
                self.fetching.append((tag, name, value or ""))


def parse(page: str) -> _Tags:
    tags = _Tags()
    tags.feed(page)
    return tags


# ---------------------------------------------------------------- the report among the artifacts


def test_run_writes_the_report_and_lists_its_hash(hostile_run: Path) -> None:
    page = (hostile_run / "report.html").read_bytes()
    entry = {o["path"]: o for o in manifest(hostile_run)["outputs"]}["report.html"]
    import hashlib

    assert entry["sha256"] == hashlib.sha256(page).hexdigest()
    assert entry["bytes"] == len(page)


def test_report_command_rebuilds_the_same_page(hostile_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(hostile_run, copy)
    before = (copy / "report.html").read_bytes(), (copy / "manifest.json").read_bytes()
    (copy / "report.html").unlink()
    code, output = run_cli("report", str(copy))
    assert (code, output) == (0, f"{copy / 'report.html'} ({len(before[0]):,} bytes)\n")
    assert ((copy / "report.html").read_bytes(), (copy / "manifest.json").read_bytes()) == before


def test_report_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    code, output = run_cli("report", str(tmp_path))
    assert code == 2
    assert output == (
        f"Error: {tmp_path} is not an ftprep run (no manifest.json): run `ftprep run ... --out "
        f"{tmp_path}` first\n"
    )


def test_no_report_writes_none_and_lists_none(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(20))
    out = tmp_path / "out"
    assert run_cli("run", str(data), "--out", str(out), "--no-report")[0] == 0
    assert not (out / "report.html").exists()
    m = manifest(out)
    assert "report.html" not in {o["path"] for o in m["outputs"]}
    assert m["config"]["report"] is False
    # asked for later, the page is written and listed
    assert run_cli("report", str(out))[0] == 0
    assert "report.html" in {o["path"] for o in manifest(out)["outputs"]}


def test_config_file_turns_the_report_off(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(20))
    config = tmp_path / "c.toml"
    config.write_text(f'[run]\ninputs = ["{data}"]\nreport = false\n')
    assert run_cli("run", "--config", str(config), "--out", str(tmp_path / "o"))[0] == 0
    assert not (tmp_path / "o" / "report.html").exists()
    config.write_text(f'[run]\ninputs = ["{data}"]\nreport = "no"\n')
    code, output = run_cli("run", "--config", str(config), "--out", str(tmp_path / "o"))
    assert code == 2 and "run.report has the wrong type" in output


# ---------------------------------------------------------------- safe by construction


def test_every_string_from_data_is_escaped(hostile_run: Path) -> None:
    page = (hostile_run / "report.html").read_text(encoding="utf-8")
    tags = parse(page)
    assert tags.tags["script"] == 0
    assert tags.handlers == []  # no onerror=, onload=, ... attribute anywhere
    assert tags.fetching == []  # nothing that a browser would fetch
    assert "http://" not in page and "https://" not in page
    assert "script-src 'none'" in page  # and a policy that would stop one, as a second wall
    # the payloads are there, as text
    for payload in (XSS["content"], XSS["img"], XSS["rejected"]):
        assert html_escape(payload) in page
    assert html_escape(HOSTILE_NAME) in page


def html_escape(text: str) -> str:
    import markupsafe

    return str(markupsafe.escape(text))


def test_the_charts_show_a_dollar_sign_as_itself(hostile_run: Path) -> None:
    """Mathtext is off: a file name with $x$ is drawn as written (and escaped in the SVG)."""
    page = (hostile_run / "report.html").read_text(encoding="utf-8")
    funnel = page[page.index('id="funnel-') :]
    funnel = funnel[: funnel.index("</svg>")]
    assert "&amp; $x$.jsonl" in funnel


# ---------------------------------------------------------------- what it shows


def test_samples_add_up_to_the_manifest(hostile_run: Path) -> None:
    m = manifest(hostile_run)
    found = read_samples(hostile_run, [])
    assert {r.rule: r.count for r in found.rules.values()} == m["rejected_by_rule"]
    assert all(len(r.samples) == min(PER_RULE, r.count) for r in found.rules.values())
    per_file = collections.Counter()
    for (source, _), n in found.rejected_by_file_stage.items():
        per_file[source] += n
    assert per_file == {e["path"]: e["rejected"] for e in m["inputs"] if e["rejected"]}
    assert sum(found.duplicate_kinds.values()) == m["counts"]["duplicates"]


def test_aggregates_match_the_parquet_files(hostile_run: Path) -> None:
    m = manifest(hostile_run)
    limit = m["tokenizer"]["max_tokens_per_example"]
    agg = aggregate(hostile_run, limit)
    for split in ("train", "validation"):
        table = pq.read_table(hostile_run / f"{split}.parquet")
        lengths = agg.lengths[split]
        assert lengths.examples == table.num_rows == m["counts"][split]
        assert lengths.tokens == m["tokens"][split]["tokens"]
        assert lengths.trained == m["tokens"][split]["trained_tokens"]
        assert lengths.distribution() == distribution(table["n_tokens"].to_pylist())
        roles = collections.Counter(
            msg["role"] for messages in table["messages"].to_pylist() for msg in messages
        )
        assert dict(agg.shapes[split].roles) == roles
        turns = collections.Counter(len(ms) for ms in table["messages"].to_pylist())
        assert {i: int(n) for i, n in enumerate(agg.shapes[split].turns) if n} == turns
    assert agg.leaked_ids == [] and agg.leaked_clusters == []


def test_a_cluster_in_both_splits_is_reported_as_leakage(hostile_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(hostile_run, copy)
    train = pq.read_table(copy / "train.parquet")
    validation = pq.read_table(copy / "validation.parquet")
    planted = train["cluster"][5].as_py()
    clusters = validation["cluster"].to_pylist()
    clusters[0] = planted
    at = validation.schema.get_field_index("cluster")
    validation = validation.set_column(at, "cluster", pa.array(clusters, pa.string()))
    pq.write_table(validation, copy / "validation.parquet")
    agg = aggregate(copy, None)
    assert agg.leaked_clusters == [planted] and agg.leaked_ids == []
    page = build_report(copy, manifest(copy)).decode()
    assert "LEAK" in page and planted in page


def test_the_page_quotes_the_largest_cluster_and_the_conflict(hostile_run: Path) -> None:
    page = (hostile_run / "report.html").read_text(encoding="utf-8")
    text = page[page.index('id="duplicates"') :]
    assert "1 copy removed" in text  # the exact copy of the hostile chat
    conflicts = page[page.index('id="conflicts"') : page.index('id="leakage"')]
    assert html_escape(XSS["svg"]) in conflicts and html_escape(XSS["img"]) in conflicts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5_000), min_size=1, max_size=300), st.integers(1, 6_000))
def test_length_aggregates_match_count_distribution(values: list[int], limit: int) -> None:
    agg = Lengths()
    half = len(values) // 2  # in two batches, as a file is read
    for part in (values[:half], values[half:]):
        arr = np.array(part, np.int64)
        agg.add(arr, arr // 2, limit)
    assert agg.distribution() == distribution(values)
    assert agg.billing == sum(min(v, limit) for v in values)
    assert agg.over_limit == sum(v > limit for v in values)
    assert agg.trained == sum(v // 2 for v in values)


def test_lengths_past_the_exact_range_keep_the_maximum() -> None:
    agg = Lengths()
    agg.add(np.array([10, EXACT + 5, 3 * EXACT], np.int64), np.zeros(3, np.int64), None)
    assert agg.distribution()["max"] == 3 * EXACT
    assert agg.tokens == 10 + EXACT + 5 + 3 * EXACT


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2_000), min_size=1, max_size=200))
def test_binned_counts_keep_every_example(values: list[int]) -> None:
    counts = np.bincount(values, minlength=EXACT)
    edges = np.unique(np.round(np.geomspace(1, max(values) * 1.25 + 2, 41)).astype(np.int64))
    per_bin = _binned(counts, edges)
    assert per_bin.sum() == len(values)
    for lo, hi, n in zip(edges[:-1], edges[1:], per_bin, strict=True):
        inside = sum(lo <= v < hi for v in values) + (sum(v == 0 for v in values) if lo == 1 else 0)
        if hi == edges[-1]:
            inside += sum(v >= hi for v in values)
        assert n == inside


# ---------------------------------------------------------------- bounded


def test_page_size_does_not_grow_with_the_examples(tmp_path: Path) -> None:
    """Samples only: ten times the examples (with long texts, copies and rejections) give a page
    of about the same size, far under 5 MB."""
    sizes = []
    for n in (200, 2_000):
        records = many_chats(n)
        for i in range(0, n, 10):
            records[i]["messages"][1]["content"] += " long" * 5_000  # 25 kB answers
        records += records[: n // 20]  # exact copies
        records += [{"messages": [{"role": "user", "content": "x" * 50_000}]}] * (n // 20)
        data = write_jsonl(tmp_path / f"in{n}.jsonl", records)
        out = tmp_path / f"out{n}"
        assert run_cli("run", str(data), "--out", str(out), "--no-cache")[0] == 0
        sizes.append((out / "report.html").stat().st_size)
    assert sizes[1] < 5_000_000
    assert sizes[1] < sizes[0] * 1.1, sizes


# ---------------------------------------------------------------- on real data


@needs_shared_data
def test_report_on_real_files_names_their_duplicates(tmp_path: Path) -> None:
    """mlx's WWDC file: 437 exact copies, the largest cluster 'Who was the head coach of the
    Philadelphia Eagles?' (19 copies removed within the file), near copies that differ by a few
    words of the answer; FastChat's identity file: conflicts (the same question, other
    answers)."""
    out = tmp_path / "out"
    inputs = [SHARED_DATA / "mlx_examples" / "wwdc25_train.jsonl", SHARED_DATA / "fastchat"]
    code, output = run_cli("run", *map(str, inputs), "--out", str(out), "--no-cache")
    assert code == 0, output
    page = (out / "report.html").read_text(encoding="utf-8")
    m = manifest(out)
    largest = m["dedupe"]["largest_clusters"][0]
    assert largest["copies"] == 19
    section = page[page.index('id="duplicates"') : page.index('id="conflicts"')]
    assert "19 copies removed" in section
    assert "Who was the head coach of the Philadelphia Eagles?" in section
    near = [json.loads(line) for line in (out / "duplicates.jsonl").read_text().splitlines()]
    near = [d for d in near if d["kind"] == "near"]
    assert near and all(d["prompt"] and d["response"] for d in near)  # what the page shows
    assert f"{m['dedupe']['conflicts']:,} example(s) ask what an earlier one asks" in page
    assert f"{m['counts']['records']:,}" in page and f"{m['tokens']['total']:,}" in page


REPORT_PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stderr.write(done.stdout + done.stderr)
"""


def _grown(run: Path, folder: Path, n: int) -> Path:
    """A copy of a run whose train.parquet holds ``n`` examples (its rows repeated, with ids and
    clusters of their own), written in row groups as the run writes them."""
    import shutil

    shutil.copytree(run, folder)
    table = pq.read_table(run / "train.parquet")
    file = pq.ParquetFile(run / "train.parquet")
    with pq.ParquetWriter(folder / "train.parquet", file.schema_arrow) as writer:
        for start in range(0, n, 50_000):
            rows = min(50_000, n - start)
            idx = pa.array(np.arange(start, start + rows) % table.num_rows)
            chunk = table.take(idx)
            ids = pa.array([f"grown-{i}" for i in range(start, start + rows)])
            chunk = chunk.set_column(chunk.schema.get_field_index("id"), "id", ids)
            chunk = chunk.set_column(chunk.schema.get_field_index("cluster"), "cluster", ids)
            writer.write_table(chunk, row_group_size=10_000)
    return folder


def test_report_memory_does_not_grow_with_the_examples(hostile_run: Path, tmp_path: Path) -> None:
    """Peak RSS of `ftprep report` on 20,000 and on 200,000 training examples: streaming
    aggregates, so ten times the rows cost (nearly) no more memory."""
    import subprocess
    import sys

    peaks = []
    for n in (20_000, 200_000):
        folder = _grown(hostile_run, tmp_path / f"run{n}", n)
        cmd = [sys.executable, "-c", REPORT_PEAK_RSS, sys.executable, "-m", "pipeline", "report"]
        done = subprocess.run([*cmd, str(folder)], capture_output=True, text=True)
        code, peak_kib = map(int, done.stdout.split())
        assert code == 0, done.stderr
        page = (folder / "report.html").read_text(encoding="utf-8")
        assert f"train: {n:,} examples" in page  # the chart's title: every row was counted
        peaks.append(peak_kib / 1024)
    assert peaks[1] < peaks[0] * 1.15 + 20, peaks  # MiB


def _section(page: str, name: str, following: str) -> str:
    import html as html_module
    import re

    part = page[page.index(f'id="{name}"') : page.index(f'id="{following}"')]
    return re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", " ", part)))


def test_contamination_and_the_gate_verdict_are_on_the_page(tmp_path: Path) -> None:
    """An eval item that a training prompt contains is shown beside that example, with where
    both are; after the gate the page carries its verdict and links its Data Docs."""
    records = many_chats(60)
    data = write_jsonl(tmp_path / "chats.jsonl", records)
    question = records[7]["messages"][0]["content"]
    eval_set = write_jsonl(tmp_path / "eval.jsonl", [{"question": question, "answer": "x"}])
    out = tmp_path / "out"
    code, output = run_cli(
        "run", str(data), "--out", str(out), "--no-cache", "--decontaminate", str(eval_set)
    )
    assert code == 0, output
    found = [json.loads(line) for line in (out / "contaminated.jsonl").read_text().splitlines()]
    assert len(found) == 1
    text = _section((out / "report.html").read_text(encoding="utf-8"), "leakage", "verdict")
    assert "1 training example(s) contain an eval item" in text
    assert f"{eval_set}:1" in text and f"{data}:8" in text
    assert question[:60] in text
    assert "The gate has not run" in (out / "report.html").read_text(encoding="utf-8")

    code, output = run_cli("gate", str(out))
    assert code == 0, output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'href="quality/index.html"' in page
    assert "passed" in _section(page, "gate", "settings")
    entry = {o["path"]: o for o in manifest(out)["outputs"]}["report.html"]
    import hashlib

    assert entry["sha256"] == hashlib.sha256(page.encode()).hexdigest()
