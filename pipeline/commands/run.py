"""``ftprep run``: the run's settings, the engine that runs it, and what it says afterwards.

``run_config`` merges the config file's ``[run]`` table with the flags given (a flag wins);
``execute`` runs the embedded or the Ray engine, with progress bars on a terminal; the summary
(``summary_text``: where every record went, the length policy's lines, the cache) and the reasons
for exit 1 (``threshold_failures``) are text here, kept apart from the engines, so the library
never prints.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, RunConfig, load_config
from pipeline.run_state import RunResult


def run_config(
    config_path: Path | None,
    given: dict[str, Any],
    val_ratio: float | None,
    val_size: int | None,
) -> RunConfig:
    """The run's settings: the config file's (when given) with the flags ``given`` over them (a
    None value was not given). ConfigError for a usage problem (exit 2)."""
    settings = load_config(config_path) if config_path else {}
    settings.pop("gate", None)
    _settle_split_size(settings, val_ratio, val_size, config_path)
    settings.update({k: v for k, v in given.items() if v is not None})
    if not settings.get("inputs"):
        raise ConfigError("no inputs: name files or folders, or give --config with run.inputs")
    for path in settings["inputs"]:
        if not Path(path).exists():
            raise ConfigError(f"input {path} does not exist")
    settings.setdefault("out", Path("data/processed") / _default_name(settings["inputs"]))
    settings["fix"] = fix_kinds(settings.get("fix") or [])
    if given.get("mapping") and config_path:  # --map over the config's [convert.mapping]
        settings["mapping"] = {**load_config(config_path).get("mapping", {}), **given["mapping"]}
    return RunConfig(**settings)


def fix_kinds(kinds: list[str]) -> list[str]:
    """The opt-in repair kinds asked for (--fix, run.fix), checked: ConfigError names a wrong one."""
    from pipeline.stages.repairs import OPT_IN_KINDS, SAFE_KINDS

    out = []
    for kind in (k.strip() for k in kinds if k.strip()):
        if kind in SAFE_KINDS:
            continue  # applied anyway
        if kind not in OPT_IN_KINDS:
            raise ConfigError(
                f"--fix: {kind!r} is no repair kind; --fix takes {', '.join(OPT_IN_KINDS)} "
                f"(the safe kinds {', '.join(SAFE_KINDS)} are always applied)"
            )
        if kind not in out:
            out.append(kind)
    return out


def parse_map(values: tuple[str, ...]) -> dict[str, str] | None:
    """--map instruction=question,output=std_answer (repeatable) -> canonical field -> column."""
    mapping: dict[str, str] = {}
    for value in values:
        for pair in value.split(","):
            field, sep, column = pair.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise ConfigError(
                    f"--map {value!r}: give FIELD=COLUMN pairs separated by commas, e.g. "
                    "--map instruction=question,output=std_answer"
                )
            mapping[field.strip()] = column.strip()
    return mapping or None


def _settle_split_size(settings: dict, val_ratio, val_size, config_path) -> None:
    """A flag overrides the config file's other way of sizing validation; both in the file is a
    usage problem."""
    if val_ratio is not None:
        settings.pop("val_size", None)
    elif val_size is not None:
        settings.pop("val_ratio", None)
    elif "val_ratio" in settings and "val_size" in settings:
        raise ConfigError(
            f"{config_path}: run.val_ratio and run.val_size are both set: keep one (a share or "
            "an exact count)"
        )


def _default_name(inputs: list[Path]) -> str:
    first = Path(inputs[0])
    name = first.name.split(".")[0] if first.is_file() else first.name
    return name or "run"


def execute(config: RunConfig, engine: str = "embedded", quiet: bool = False) -> RunResult:
    """Run with the engine asked for, with progress bars when stderr is a terminal (and not
    ``quiet``); an interrupt, wherever it lands, leaves no staging folder beside --out."""
    from pipeline.engines.embedded import run as run_pipeline
    from pipeline.engines.progress import Bars

    progress = None if quiet or not sys.stderr.isatty() else Bars()
    if engine == "ray":
        from pipeline.engines.ray import run as run_pipeline
    try:
        return run_pipeline(config, progress=progress)
    except KeyboardInterrupt:
        import shutil

        from pipeline.artifacts import staging_path

        shutil.rmtree(staging_path(config.out), ignore_errors=True)
        raise
    finally:
        if progress is not None:
            progress.close()


def summary_text(result: RunResult, config: RunConfig) -> str:
    """What ``ftprep run`` prints: the run's summary, the length policy's lines and the cache's."""
    from pipeline.stages.length import summary_lines

    manifest = result.manifest
    lines = [run_summary(manifest, str(config.out))]
    lines += summary_lines(manifest.get("length"), manifest["tokens"]["over_limit"])
    lines.append(_cache_line(result))
    return "\n".join(lines)


def _cache_line(result: RunResult) -> str:
    if result.up_to_date:
        return "  cache     up to date: inputs, settings and code unchanged since this folder was written"
    hits, total = result.cache_hits, result.cache_hits + result.cache_misses
    return f"  cache     {hits} of {total} input(s) reused from the stage cache"


def threshold_failures(result: RunResult, config: RunConfig) -> list[str]:
    """Why the run exits 1 for CI, beside the verdict: the shares over --max-rejected-share and
    --max-duplicate-share."""
    failures = []
    limit = config.max_rejected_share
    if limit is not None and result.rejected_share > limit:
        failures.append(
            f"ftprep: {result.rejected_share:.1%} of records were rejected, over --max-rejected-share {limit:.1%}; "
            f"see {config.out / 'rejected.jsonl'}"
        )
    limit = config.max_duplicate_share
    if limit is not None and result.duplicate_share > limit:
        failures.append(
            f"ftprep: {result.duplicate_share:.1%} of records were removed as duplicates, over "
            f"--max-duplicate-share {limit:.1%}; see {config.out / 'duplicates.jsonl'}"
        )
    return failures


# --------------------------------------------------------------------------- the summary


def _n(value: int) -> str:
    return f"{value:,}"


def _dedupe_kinds(manifest: dict[str, Any], duplicates: int) -> str:
    dedupe = manifest.get("dedupe", {})
    if dedupe.get("near_duplicates") is None:
        return ""
    near = dedupe.get("near_removed", 0)
    removed = dedupe.get("conflicts_removed", 0)
    conflicts = f", {_n(removed)} conflicting" if removed else ""
    flagged = dedupe["near_duplicates"] - near
    kept = f"; {_n(flagged)} near copies kept, flagged" if flagged else ""
    return f" ({_n(duplicates - near - removed)} exact, {_n(near)} near{conflicts}{kept})"


LOSS_ALARM = 0.10  # a run that removes more than this share as duplicates says so on its own line


def _dedupe_notes(manifest: dict[str, Any]) -> list[str]:
    """The conflicts, contamination and duplicate-loss lines of the summary."""
    lines = []
    dedupe = manifest.get("dedupe", {})
    conflicts = dedupe.get("conflicts", 0)
    if conflicts:
        fate = {"keep": "all kept", "first": "the first answer kept", "drop": "all rejected"}
        mode = manifest["config"].get("conflicts", "keep")
        lines.append(
            f"  conflicts {_n(conflicts)} example(s) ask what an earlier one asks, with another "
            f"answer ({_n(dedupe.get('conflict_groups', 0))} group(s); {fate[mode]}): see "
            "conflicts.jsonl"
        )
    found = manifest.get("contamination")
    if found:
        action = (
            "removed" if found["mode"] == "remove" else "kept (--contaminated remove drops them)"
        )
        lines.append(
            f"  contamination {_n(found['matched'])} example(s) contain an item of the eval "
            f"set(s): {action}; see contaminated.jsonl"
        )
    counts = manifest["counts"]
    share = counts["duplicates"] / counts["records"] if counts["records"] else 0.0
    if share > LOSS_ALARM:
        biggest = "; ".join(
            f"{_n(c['copies'])} cop{'y' if c['copies'] == 1 else 'ies'} of {c['source']}:"
            f"{c['line']} (e.g. {c['sample']['source']}:{c['sample']['line']})"
            for c in dedupe.get("largest_clusters", [])
        )
        lines.append(
            f"  warning: {share:.1%} of the records ({_n(counts['duplicates'])} of "
            f"{_n(counts['records'])}) were removed as duplicates; biggest clusters: {biggest}. "
            "Check duplicates.jsonl; --near-threshold, --near-dupes flag or --max-duplicate-share "
            "change or bound this"
        )
    return lines


def _scan_lines(scan: dict[str, Any] | None) -> list[str]:
    """The scan's part of the summary: how many records held secrets or PII, what became of
    them, and the replacements by kind (nothing when nothing was found)."""
    if not scan or not scan["findings_by_rule"]:
        return []
    lines = [
        f"  scan: secrets in {_n(scan['records_with_secrets'])} record(s) (--secrets "
        f"{scan['secrets']}), PII in {_n(scan['records_with_pii'])} record(s) (--pii {scan['pii']})"
    ]
    if scan["redacted_by_rule"]:
        lines.append("  redacted by kind (replaced with a placeholder):")
        lines += [f"    {rule:<40} {_n(n)}" for rule, n in scan["redacted_by_rule"].items()]
    return lines


def run_summary(manifest: dict[str, Any], out: str) -> str:
    counts, stages, tokens = manifest["counts"], manifest["stages"], manifest["tokens"]
    lines = [
        f"ftprep run: {len(manifest['inputs'])} input(s), {_n(counts['records'])} records "
        f"-> {out} (profile {manifest['profile']}, model {manifest['model']})",
    ]
    for stage in ("ingest", "scan", "convert", "validate", "count", "decontaminate"):
        if stage not in stages:
            continue
        s = stages[stage]
        lines.append(
            f"  {stage:<9} {_n(s['in'])} in, {_n(s['out'])} out, {_n(s['rejected'])} rejected"
        )
    d = stages["dedupe"]
    lines.append(
        f"  {'dedupe':<9} {_n(d['in'])} in, {_n(d['out'])} out, {_n(d['duplicates'])} duplicates"
        + _dedupe_kinds(manifest, d["duplicates"])
    )
    if d.get("rejected"):
        lines[-1] += f", {_n(d['rejected'])} rejected (conflicts)"
    lines += _dedupe_notes(manifest)
    lines.append(
        f"  {'split':<9} train {_n(counts['train'])}, validation {_n(counts['validation'])}"
    )
    if manifest["rejected_by_rule"]:
        lines.append("  rejected by rule:")
        lines += [f"    {rule:<40} {_n(n)}" for rule, n in manifest["rejected_by_rule"].items()]
    if manifest["warnings_by_rule"]:
        lines.append("  warnings by rule (records kept):")
        lines += [f"    {rule:<40} {_n(n)}" for rule, n in manifest["warnings_by_rule"].items()]
    lines += _scan_lines(manifest.get("scan"))
    for entry in manifest["inputs"]:
        for note in entry["shape_notes"]:
            lines.append(f"  note: {entry['path']}: {note}")
    skipped = manifest.get("skipped_files") or []
    if skipped:
        shown = ", ".join(skipped[:5]) + (
            f" and {_n(len(skipped) - 5)} more" if len(skipped) > 5 else ""
        )
        lines.append(
            f"  note: skipped {_n(len(skipped))} file(s) in input folders whose extension is not "
            f"JSONL, JSON, CSV or Parquet: {shown} (name a file to read it as it is)"
        )
    found = manifest.get("file_findings") or {"count": 0, "first": []}
    if found["count"]:
        lines.append(
            f"  warning: the written files break {manifest['profile']}'s whole-file rules in "
            f"{_n(found['count'])} place(s), so the provider would refuse them; prepare each "
            "kind of record in a run of its own:"
        )
        lines += [
            f"    {f['path']}:{f['line']}: {f['message']} [{f['rule']}]" for f in found["first"][:3]
        ]
    tok = manifest["tokenizer"]
    limit = tok["max_tokens_per_example"]
    over = (
        f", {_n(tokens['over_limit_count'])} example(s) over the {_n(limit)}-token limit"
        if limit
        else ""
    )
    model = manifest["model"]
    whose = "the model's" if model == "unspecified" else f"{model}'s"
    approximate = (
        f", approximate: give --tokenizer PATH to count with {whose} own tokenizer"
        if tok.get("approximate")
        else ""
    )
    lines.append(
        f"  tokens    {_n(tokens['total'])} total, {_n(tokens['trained'])} trained"
        + (f", {_n(tokens['reasoning'])} in reasoning traces" if tokens.get("reasoning") else "")
        + f" ({tok['encoding']}{approximate}){over}"
    )
    lines.append(
        "  outputs   " + ", ".join(f"{o['path']} ({_output_size(o)})" for o in manifest["outputs"])
    )
    for split, estimate in manifest.get("packing", {}).items():
        from pipeline.stages.packing import packing_lines

        first, second = packing_lines(estimate)
        lines += [f"  packing   {split}: {first.removeprefix('packing ')}", f"  {second}"]
    lines += verdict_lines(manifest)
    return "\n".join(lines)


def _output_size(output: dict[str, Any]) -> str:
    """Records of a data file; bytes of a page (report.html has no records)."""
    if "records" in output:
        return _n(output["records"])
    return f"{output['bytes'] // 1024:,} KB"


def verdict_lines(manifest: dict[str, Any]) -> list[str]:
    """What the run says of the upload files it wrote: that they pass `ftprep validate`, or
    which file fails and why (the whole-file rules' findings are listed above them)."""
    verdict = manifest.get("verdict")
    if verdict is None:
        return []
    lines = [f"  note: {note}" for note in verdict["notes"]]
    shown = [f for f in verdict["findings"] if not f.get("whole_file_rule")]
    for f in shown:
        where = f"{f['path']}:{f['line']}" if f["line"] else f["path"]
        label = "FAILED" if f["severity"] == "error" else "warning"
        lines.append(f"  {label:<9} {where}: {f['message']} [{f['rule']}]")
    uploads = [o["path"] for o in manifest["outputs"] if o["path"].endswith(".jsonl")]
    uploads = [u for u in uploads if u in ("train.jsonl", "validation.jsonl")]
    if verdict["ok"]:
        lines.append(
            f"  verdict   {' and '.join(uploads)} {'pass' if len(uploads) > 1 else 'passes'} "
            f"`ftprep validate --profile "
            f"{manifest['profile']}`"
        )
    else:
        lines.append(
            "  verdict   FAILED: the provider would refuse what was written (exit 1); the "
            "artifacts are written for you to inspect"
        )
    return lines
