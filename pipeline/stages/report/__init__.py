"""The report stage: one self-contained HTML page about a run, ``report.html``, from its artifacts.

Takes a run folder (its manifest, Parquet and JSONL artifacts, and the gate's ``quality/`` when
the gate has run) and writes ``report.html``: the funnel per input file, rejections by rule with
samples, token lengths per split against the model's limit, trained tokens and the cost estimate,
turns and roles, the largest duplicate clusters and near copies side by side, conflicts, leakage
and contamination, the verdict, the gate's verdict, settings and hashes. ``samples`` reads the
JSONL artifacts line by line, ``aggregate`` streams the Parquet files a few columns at a time,
``charts`` draws with matplotlib's SVG backend, ``page`` lays it out with an autoescaping
template. Memory does not grow with the number of examples; the page holds samples, never every
example, so its size does not either. The same artifacts give the same bytes.

May import the shared modules at the top of ``pipeline``, ``pipeline.profiles`` and other stages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPORT = "report.html"


def build_report(run_dir: Path, manifest: dict[str, Any]) -> bytes:
    """The page for the run in ``run_dir`` whose manifest is ``manifest``."""
    from pipeline.stages.report import charts
    from pipeline.stages.report.aggregate import MAX_TURNS, aggregate
    from pipeline.stages.report.page import funnel_rows, render, view
    from pipeline.stages.report.samples import read_samples

    run_dir = Path(run_dir)
    largest = [
        c["duplicate_of"]
        for c in (manifest.get("dedupe") or {}).get("largest_clusters") or []
        if isinstance(c.get("duplicate_of"), str)
    ]
    samples = read_samples(run_dir, largest)
    limit = (manifest.get("tokenizer") or {}).get("max_tokens_per_example")
    aggregates = aggregate(run_dir, limit, samples.wanted_ids())
    drawn = {
        "funnel": charts.funnel(funnel_rows(manifest, samples)),
        "tokens": charts.token_lengths(aggregates.lengths, limit),
        "roles": charts.turns_and_roles(aggregates.shapes, MAX_TURNS),
    }
    return render(view(run_dir, manifest, aggregates, samples, drawn)).encode("utf-8")


def write_report(run_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``run_dir/report.html`` (aside, then renamed into place) and return its entry for
    the manifest's outputs."""
    import hashlib

    page = build_report(run_dir, manifest)
    path = Path(run_dir) / REPORT
    partial = path.with_name(f".{REPORT}.partial-{os.getpid()}")
    partial.write_bytes(page)
    os.replace(partial, path)
    return {
        "path": REPORT,
        "sha256": hashlib.sha256(page).hexdigest(),
        "bytes": len(page),
    }
