"""``ftprep report``: rebuild a run folder's ``report.html`` from its artifacts.

Reads the run's manifest (a folder that is not a run is a usage problem, as for the gate), writes
``report.html`` with the stage ``pipeline.stages.report`` (with the gate's verdict when the gate has
run) and records the page's hash in the manifest's outputs, like every other output: both files
are written aside and renamed into place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline.commands.gate_tables import read_manifest
from pipeline.manifest import manifest_bytes
from pipeline.stages.report import REPORT, write_report


def rebuild_report(run_dir: Path) -> dict[str, Any]:
    """Write ``run_dir/report.html`` and update the manifest; return the page's output entry."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    entry = write_report(run_dir, manifest)
    manifest["outputs"] = [o for o in manifest.get("outputs", []) if o.get("path") != REPORT]
    manifest["outputs"].append(entry)
    path = run_dir / "manifest.json"
    partial = path.with_name(f".manifest.json.partial-{os.getpid()}")
    partial.write_bytes(manifest_bytes(manifest))
    os.replace(partial, path)
    return entry


def refresh_report(run_dir: Path) -> dict[str, Any] | None:
    """After the gate: rebuild the page with the gate's verdict, when the run wrote one."""
    if not (Path(run_dir) / REPORT).exists():
        return None
    return rebuild_report(run_dir)
