"""Renderings of a gate result: text (one line per expectation, then a verdict), JSON and JUnit XML."""

from __future__ import annotations

from typing import Any

import orjson

from pipeline.commands.gate import GateResult
from pipeline.commands.gate_docs import MAX_ROWS_SHOWN, Check


def _observed(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _row(row: dict[str, Any]) -> str:
    line = row.get("line")
    if isinstance(line, float) and line.is_integer():  # a column with a gap reads as floats
        line = int(line)
    where = f"{row.get('source')}:{line}"
    extra = {k: v for k, v in row.items() if k not in ("id", "split", "source", "line")}
    values = "".join(f" {k}={v!r}" for k, v in extra.items())
    return f"{where} [{row.get('split')}] id {row.get('id')}{values}"


def _status(result: GateResult, check: Check) -> str:
    if check.success:
        return "pass"
    if result.blocks(check):
        return "FAIL"
    return "warn" if check.severity == "warning" else "note"


def render_text(result: GateResult) -> str:
    width = max((len(c.name) for c in result.checks), default=0)
    lines = []
    for check in result.checks:
        lines.append(
            f"{_status(result, check):<4}  {check.name:<{width}}  observed {_observed(check.observed)}"
            f"  ({check.description})"
        )
        if not check.success:
            for row in check.failing_rows[:MAX_ROWS_SHOWN]:
                lines.append(f"        {_row(row)}")
            more = (check.unexpected_count or 0) - min(len(check.failing_rows), MAX_ROWS_SHOWN)
            if check.failing_rows and more > 0:
                lines.append(f"        ... and {more:,} more row(s)")
    for note in result.notes:
        lines.append(f"note  {note}")
    failed, warned = result.failed, result.warned
    head = "gate passed" if result.ok else "gate FAILED"
    detail = f"{len(failed)} of {len(result.checks)} expectations failed" + (
        f" ({', '.join(c.name for c in failed)})" if failed else ""
    )
    if warned:
        detail += f", {len(warned)} warning(s) ({', '.join(c.name for c in warned)})"
    if result.report is not None:
        lines.append(f"note  {result.report} now shows this verdict")
    lines.append(
        f"{head}: {detail} [{result.profile}, {result.model}]; Data Docs: {result.data_docs}"
    )
    return "\n".join(lines)


def render_json(result: GateResult) -> str:
    return orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2, default=str).decode()


def render_junit(result: GateResult) -> str:
    """One <testcase> per expectation; a failure element for each expectation that fails the gate."""
    import xml.etree.ElementTree as ET

    suite = ET.Element(
        "testsuite",
        name=f"ftprep.gate.{result.profile}",
        tests=str(len(result.checks)),
        failures=str(len(result.failed)),
        errors="0",
        skipped="0",
    )
    for check in result.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"ftprep.{result.profile}.{check.name.split('.')[0]}",
            name=check.name,
        )
        message = f"{check.description}; observed {_observed(check.observed)}"
        rows = "\n".join(_row(r) for r in check.failing_rows[:MAX_ROWS_SHOWN])
        if result.blocks(check):
            failure = ET.SubElement(case, "failure", message=message, type=check.expectation)
            failure.text = rows or message
        elif not check.success:
            out = ET.SubElement(case, "system-out")
            out.text = f"{check.severity}: {message}" + (f"\n{rows}" if rows else "")
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode")
