"""Running the gate's suites with Great Expectations, and its Data Docs.

The suites run in an ephemeral Great Expectations 1.x context, offline and with analytics off,
over the gate's two tables; each expectation's outcome becomes a ``Check`` (with its observed
value and the first failing rows, found by running a failed expectation again in GX's COMPLETE
format), and the Data Docs site (HTML) is built into the run's ``quality/`` folder.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.commands.gate_suite import Spec, level_of

MAX_ROWS_SHOWN = 5  # failing rows named per expectation in the report
MAX_ROWS_KEPT = 20  # failing rows kept per expectation in result.json


@dataclass
class Check:
    """The outcome of one expectation."""

    name: str
    expectation: str
    severity: str
    success: bool
    description: str
    observed: Any
    unexpected_count: int | None = None
    element_count: int | None = None
    failing_rows: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expectation": self.expectation,
            "severity": self.severity,
            "success": self.success,
            "description": self.description,
            "observed": self.observed,
            "unexpected_count": self.unexpected_count,
            "element_count": self.element_count,
            "failing_rows": self.failing_rows[:MAX_ROWS_KEPT],
        }


def _plain(value: Any) -> Any:
    """numpy scalars and containers -> JSON-friendly Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _check_from(spec: Spec, result: Any) -> Check:
    res = result.result or {}
    rows = [
        {k: _plain(v) for k, v in row.items()}
        for row in (res.get("unexpected_index_list") or [])[:MAX_ROWS_KEPT]
        if isinstance(row, dict)
    ]
    observed = res.get("observed_value")
    if observed is None and "unexpected_count" in res:
        observed = f"{res['unexpected_count']} of {res.get('element_count')} rows fail"
        if spec.name == "assistant.content_not_empty" and res["unexpected_count"]:
            minimum = spec.kwargs["min_value"]
            observed += f": an assistant reply shorter than {minimum} character(s)"
        elif res.get("partial_unexpected_list"):
            observed += f", e.g. {_plain(res['partial_unexpected_list'][:3])}"
    if result.exception_info and result.exception_info.get("raised_exception"):
        observed = f"error: {result.exception_info.get('exception_message')}"
    return Check(
        name=spec.name,
        expectation=result.expectation_config.type,
        severity=spec.severity,
        success=bool(result.success),
        description=spec.description,
        observed=_plain(observed),
        unexpected_count=_plain(res.get("unexpected_count")),
        element_count=_plain(res.get("element_count")),
        failing_rows=rows,
    )


def _store_as_passed(context: Any, suite_name: str, result: Any) -> None:
    """A warnings suite whose expectations fired did not fail the gate: its stored result (what
    Data Docs show as the status) says so, with a note; each expectation keeps its own outcome."""
    result.success = True
    result.meta["ftprep"] = (
        "warnings: an expectation here that is not met is reported, and does not fail the gate "
        "(gate.fail_on_warning = true makes them fail)"
    )
    store = context.validation_results_store
    for key in store.list_keys():
        if key.expectation_suite_identifier.name == suite_name:
            store.set(key, result)


def run_suites(
    specs: list[Spec],
    frames: dict[str, Any],
    suite_names: dict[tuple[str, str], str],
    quality: Path,
    fail_on_warning: bool = False,
) -> tuple[list[Check], list[dict]]:
    """Run the suites with Great Expectations; build Data Docs into ``quality``."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import logging

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name="ftprep",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(quality.resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    source = context.data_sources.add_pandas("ftprep")
    by_name = {s.name: s for s in specs}
    validations = []
    for (table, level), suite_name in suite_names.items():
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
        for spec in specs:
            if spec.table == table and level_of(spec, fail_on_warning) == level:
                cls = getattr(gxe, spec.expectation)
                suite.add_expectation(
                    cls(
                        **spec.kwargs,
                        severity=spec.severity,
                        description=spec.description,
                        meta={"ftprep": spec.name},
                    )
                )
        batch = source.add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe(table)
        validations.append(
            context.validation_definitions.add(
                gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
            )
        )
    checks: list[Check] = []
    raw: list[dict] = []
    for validation, (table, level) in zip(validations, suite_names, strict=True):
        result = validation.run(
            batch_parameters={"dataframe": frames[table]},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_ROWS_SHOWN},
        )
        for r in result.results:
            checks.append(_check_from(by_name[r.expectation_config.meta["ftprep"]], r))
        if level == "warnings" and not result.success:
            _store_as_passed(context, suite_names[(table, level)], result)
        raw.append(result.to_json_dict())
    context.build_data_docs(site_names=["ftprep"])
    for check in checks:
        spec = by_name[check.name]
        if not check.success and check.unexpected_count and spec.table == "examples":
            check.failing_rows = _failing_rows(context, source, spec, frames["examples"])
    order = {s.name: i for i, s in enumerate(specs)}
    checks.sort(key=lambda c: order[c.name])
    return checks, raw


ROW_CHUNK = 2_000


def _failing_rows(context: Any, source: Any, spec: Spec, frame: Any) -> list[dict[str, Any]]:
    """The first MAX_ROWS_KEPT rows that fail one row-level expectation, named by id and place.

    GX lists failing rows only in its COMPLETE result format, which costs time per failing row;
    so the failed expectation alone is run again in that format, chunk by chunk, until enough rows
    are found. Uniqueness is decided among the rows whose id repeats (a pre-filter that keeps
    the expectation's answer), every other row-level expectation row by row.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    if spec.expectation == "ExpectColumnValuesToBeUnique":
        column = spec.kwargs["column"]
        frame = frame[frame[column].duplicated(keep=False)]
    suite = context.suites.add(gx.ExpectationSuite(name=f"ftprep.rows.{spec.name}"))
    suite.add_expectation(getattr(gxe, spec.expectation)(**spec.kwargs))
    asset = source.add_dataframe_asset(f"rows.{spec.name}")
    validation = gx.ValidationDefinition(
        name=f"ftprep.rows.{spec.name}",
        data=asset.add_batch_definition_whole_dataframe("rows"),
        suite=suite,
    )
    rows: list[dict[str, Any]] = []
    step = len(frame) if spec.expectation == "ExpectColumnValuesToBeUnique" else ROW_CHUNK
    for start in range(0, len(frame), max(step, 1)):
        result = validation.run(
            batch_parameters={"dataframe": frame.iloc[start : start + step]},
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": ["id", "split", "source", "line"],
            },
        )
        for r in result.results:
            for row in (r.result or {}).get("unexpected_index_list") or []:
                rows.append({k: _plain(v) for k, v in row.items()})
        if len(rows) >= MAX_ROWS_KEPT:
            break
    return rows[:MAX_ROWS_KEPT]
