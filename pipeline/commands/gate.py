"""``ftprep gate``: the data-quality gate, a Great Expectations suite over one run's artifacts.

Takes a run folder (``train.parquet``, ``validation.parquet``, ``manifest.json``), reads its two
tables (``gate_tables``: ``examples``, one row per example of both splits, and ``run``, one row of
counts), derives the suite from the run's profile, model and the ``[gate]`` thresholds
(``gate_suite``: plain data, no Great Expectations needed to read or test it), and runs it with
Great Expectations 1.x in an ephemeral context, offline and with analytics off (``gate_docs``).
Data Docs (HTML, made to work with no network by ``gate_offline``) and ``result.json`` are
written to ``DIR/quality/``, and the run's ``report.html`` is rebuilt with the verdict. Nothing
here prints; ``gate_report`` renders the result.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pipeline.commands.gate_docs import Check, run_suites
from pipeline.commands.gate_offline import make_offline
from pipeline.commands.gate_suite import derive_suite, suite_names_for
from pipeline.commands.gate_tables import examples_frame, read_manifest, run_frame
from pipeline.config import gate_thresholds, load_config
from pipeline.profiles.gate_facts import CRITICAL, WARNING


@dataclass
class GateResult:
    run_dir: Path
    profile: str
    model: str
    suites: list[str]
    thresholds: dict[str, Any]
    checks: list[Check]
    notes: list[str]
    data_docs: Path
    result_file: Path
    fail_on_warning: bool = False
    report: Path | None = None  # the run's report.html, updated with this result

    def blocks(self, check: Check) -> bool:
        """A failed expectation fails the gate when critical (or a warning, with fail_on_warning)."""
        blocking = (CRITICAL, WARNING) if self.fail_on_warning else (CRITICAL,)
        return not check.success and check.severity in blocking

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if self.blocks(c)]

    @property
    def warned(self) -> list[Check]:
        return [c for c in self.checks if not c.success and not self.blocks(c)]

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "run": str(self.run_dir),
            "profile": self.profile,
            "model": self.model,
            "suites": self.suites,
            "thresholds": self.thresholds,
            "expectations": [c.as_dict() for c in self.checks],
            "failed": [c.name for c in self.failed],
            "warnings": [c.name for c in self.warned],
            "notes": self.notes,
            "data_docs": str(self.data_docs),
        }


# ---------------------------------------------------------------- inputs


# ---------------------------------------------------------------- the suite


# ---------------------------------------------------------------- running


def gate_settings(config_path: Path | None) -> dict[str, Any]:
    """The [gate] table of a config file, as written (none given: the defaults)."""
    return load_config(config_path).get("gate", {}) if config_path else {}


def run_gate(run_dir: Path, settings: dict[str, Any] | None = None) -> GateResult:
    """Validate one run folder; write DIR/quality/ (Data Docs, result.json); return the result."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    thresholds = gate_thresholds(settings)
    examples = examples_frame(run_dir)
    frames = {"examples": examples, "run": run_frame(manifest, examples)}
    specs, notes = derive_suite(manifest, thresholds, len(examples))
    profile = str(manifest.get("profile") or "unknown")
    suite_names = suite_names_for(profile, specs, thresholds["fail_on_warning"])
    quality = run_dir / "quality"
    shutil.rmtree(quality, ignore_errors=True)
    quality.mkdir()
    checks, raw = run_suites(specs, frames, suite_names, quality, thresholds["fail_on_warning"])
    offline = make_offline(quality)
    notes += [n for n in (offline.note(),) if n]
    if offline.unmapped:
        notes.append(
            "Data Docs named external files ftprep does not know; they were removed, so the "
            f"pages fetch nothing: {', '.join(sorted(set(offline.unmapped))[:5])}"
        )
    result = GateResult(
        run_dir=run_dir,
        profile=profile,
        model=str(manifest.get("model") or "unknown"),
        suites=list(suite_names.values()),
        thresholds=thresholds,
        checks=checks,
        notes=notes,
        data_docs=quality / "index.html",
        result_file=quality / "result.json",
        fail_on_warning=thresholds["fail_on_warning"],
    )
    payload = result.as_dict() | {"great_expectations": raw}
    result.result_file.write_bytes(
        orjson.dumps(payload, option=orjson.OPT_INDENT_2, default=str) + b"\n"
    )
    from pipeline.commands.report import refresh_report

    if refresh_report(run_dir) is not None:  # the run's report.html, with this verdict
        result.report = run_dir / "report.html"
    return result
