"""Output formats of ``ftprep validate``: text, json, github (workflow annotations) and junit XML.

Each takes a ValidationReport and returns the whole output as one string, so the CLI stays thin
and the tests can check every format exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

if TYPE_CHECKING:
    from pipeline.validate_files import ValidationReport

FORMATS = ("text", "json", "github", "junit")


def summary_line(report: ValidationReport, strict: bool) -> str:
    verdict = "ok" if report.ok(strict) else "FAILED"
    return (
        f"{verdict}: {report.records:,} records in {len(report.files)} file(s), "
        f"{report.errors:,} error(s), {report.warnings:,} warning(s) [{report.profile}]"
    )


def _hidden(report: ValidationReport) -> str | None:
    hidden = report.errors + report.warnings - report.shown
    return f"... {hidden:,} more finding(s) not shown (--max-errors)" if hidden else None


def format_text(report: ValidationReport, strict: bool = False) -> str:
    lines = [f.render() for f in report.findings]
    if more := _hidden(report):
        lines.append(more)
    lines.append(summary_line(report, strict))
    return "\n".join(lines)


def format_json(report: ValidationReport, strict: bool = False) -> str:
    import orjson

    return orjson.dumps(report.as_dict(strict), option=orjson.OPT_INDENT_2).decode()


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(report: ValidationReport, strict: bool = False) -> str:
    """GitHub Actions workflow commands: one ``::error`` or ``::warning`` annotation per finding."""
    lines = []
    for f in report.findings:
        level = "error" if f.severity == "error" or strict else "warning"
        props = [f"file={_gh_property(f.file)}"]
        if f.line:
            props.append(f"line={f.line}")
        props.append(f"title={_gh_property(f.rule)}")
        where = f"{f.pointer}: " if f.pointer else ""
        lines.append(f"::{level} {','.join(props)}::{_gh_data(where + f.message)}")
    if more := _hidden(report):
        lines.append(more)
    lines.append(summary_line(report, strict))
    return "\n".join(lines)


def format_junit(report: ValidationReport, strict: bool = False) -> str:
    """JUnit XML: one test suite per file, one test case per finding (errors fail; warnings fail
    with --strict and are otherwise written to system-out), and one passing case for a clean file."""
    by_file: dict[str, list] = {name: [] for name in report.files}
    for f in report.findings:
        by_file.setdefault(f.file, []).append(f)
    root = ET.Element("testsuites", name=f"ftprep validate [{report.profile}]")
    total_tests = total_failures = 0
    for name, findings in by_file.items():
        suite = ET.SubElement(root, "testsuite", name=name)
        failures = 0
        for f in findings:
            where = f"line {f.line}" if f.line else "file"
            pointer = f" {f.pointer}" if f.pointer else ""
            case = ET.SubElement(
                suite, "testcase", classname=name, name=f"{where}{pointer} [{f.rule}]"
            )
            if f.severity == "error" or strict:
                failures += 1
                failure = ET.SubElement(case, "failure", message=f.message, type=f.rule)
                failure.text = f.render()
            else:
                ET.SubElement(case, "system-out").text = f"warning: {f.render()}"
        if not findings:
            ET.SubElement(suite, "testcase", classname=name, name="no findings")
        tests = max(len(findings), 1)
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        total_tests += tests
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


RENDERERS = {
    "text": format_text,
    "json": format_json,
    "github": format_github,
    "junit": format_junit,
}
