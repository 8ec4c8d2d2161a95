"""``ftprep validate``: check files already in a provider's format, every finding with its line.

Reads each file record by record (bounded memory: one line at a time, and at most ``max_errors``
findings kept when that is given; a file over ``PARALLEL_BYTES`` a range of lines per core, the
report the same), checks each line with the profile's compiled schema (jsonschema
explains only the lines that fail) and its rules, then the whole-file rules (one format per file,
labels) and the file limits (minimum examples, minimum and maximum size, byte-order mark). With a
model, token counts are checked against the model's per-example limit (a warning: providers
truncate). ``choose_profile`` picks the profile a file fits for ``--profile auto``. The report
renders as text, one JSON object, GitHub workflow annotations or JUnit XML (``RENDERERS``).
"""

from __future__ import annotations

import collections
import heapq
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from pipeline.config import ScanSettings
from pipeline.findings import ERROR, WARNING, Finding
from pipeline.profiles.profiles import (
    AUTO_ORDER,
    AZURE_OF,
    PROFILES,
    TRAINING,
    VALIDATION,
    Profile,
    ProfileError,
    get_profile,
    load_schema,
)
from pipeline.records import printable
from pipeline.stages import ingest, repairs
from pipeline.stages.file_limits import UTF8_BOM, file_limit_findings
from pipeline.stages.scan.policy import findings as scan_findings
from pipeline.stages.validate import validate_record

AUTO_SAMPLE = 200  # records per file read to choose a profile


@dataclass
class ValidationReport:
    profile: str
    files: list[str] = field(default_factory=list)
    records: int = 0
    counts: collections.Counter = field(default_factory=collections.Counter)
    by_severity: collections.Counter = field(default_factory=collections.Counter)
    max_findings: int | None = None
    _kept: list = field(default_factory=list)
    _seq: int = 0

    def add(self, finding: Finding) -> None:
        self.counts[finding.rule] += 1
        self.by_severity[finding.severity] += 1
        key = (len(self.files) - 1, finding.line, finding.pointer, finding.rule, finding.message)
        self._seq += 1
        if self.max_findings is None:
            self._kept.append((key, finding))
        elif len(self._kept) < self.max_findings:
            heapq.heappush(self._kept, (_Neg(key), finding))
        else:
            heapq.heappushpop(self._kept, (_Neg(key), finding))

    @property
    def findings(self) -> list[Finding]:
        """The kept findings, sorted by file (in the order given), line, pointer and rule."""
        keys = [(k.key if isinstance(k, _Neg) else k, f) for k, f in self._kept]
        return [f for _, f in sorted(keys, key=lambda kf: kf[0])]

    @property
    def errors(self) -> int:
        return self.by_severity[ERROR]

    @property
    def warnings(self) -> int:
        return self.by_severity[WARNING]

    @property
    def shown(self) -> int:
        return len(self._kept)

    def ok(self, strict: bool = False) -> bool:
        return self.errors == 0 and (not strict or self.warnings == 0)

    def as_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "ok": self.ok(strict),
            "profile": self.profile,
            "files": self.files,
            "records": self.records,
            "findings": [f.as_dict() for f in self.findings],
            "summary": {
                "errors": self.errors,
                "warnings": self.warnings,
                "by_rule": dict(sorted(self.counts.items())),
            },
        }


class _Neg:
    """Reverses the order of a key, so a min-heap keeps the N smallest keys (its root is the largest)."""

    __slots__ = ("key",)

    def __init__(self, key: tuple) -> None:
        self.key = key

    def __lt__(self, other: _Neg) -> bool:
        return self.key > other.key


def validate_files(
    paths: list[Path],
    profile: Profile,
    model: str | None = None,
    max_errors: int | None = None,
    validation_paths: list[Path] = (),
    scan: ScanSettings | None = None,
    tokenizer: Path | None = None,
) -> ValidationReport:
    """Every finding of the files: ``paths`` are training files, ``validation_paths`` validation
    files (the minimums a provider states for training files only are not checked there)."""
    load_schema(profile.name)
    counter = limit = None
    if model:
        from pipeline.profiles.models import model_info
        from pipeline.stages.tokens import Counter

        info = model_info(model)
        counter, limit = Counter(info.encoding), info.max_tokens
    if tokenizer is not None:  # an open model: its template's checks on every line too
        from pipeline.stages.hf_tokens import HFCounter

        counter = HFCounter(tokenizer)
        limit = counter.tok.max_tokens
    _WORKER.update(counter=counter, limit=limit)  # forked workers inherit it
    roles = [(p, TRAINING) for p in paths] + [(p, VALIDATION) for p in validation_paths]
    for path, _ in roles:
        _require_file(path)
    report = ValidationReport(profile.name, max_findings=max_errors)
    for path, role in roles:
        name = printable(str(path))
        report.files.append(name)
        _validate_one(Path(path), name, profile, report, counter, limit, role, scan)
    return report


def check_files(
    files: list[Path],
    profile: str,
    validation_files: list[Path] = (),
    model: str | None = None,
    max_errors: int | None = None,
    scan: tuple[str, str] = ("warn", "warn"),
    tokenizer: Path | None = None,
) -> tuple[ValidationReport, str | None]:
    """What ``ftprep validate`` reports: the report on ``files`` (training files) and
    ``validation_files`` for the profile named ``profile``, or for the one they fit with
    ``auto``; then also the line that says which profile that is, and why."""
    if profile == "auto":
        chosen, reason = choose_profile([*files, *validation_files])
    else:
        chosen = get_profile(profile)
    settings = ScanSettings(secrets=scan[0], pii=scan[1])
    report = validate_files(
        list(files), chosen, model, max_errors, list(validation_files), settings, tokenizer
    )
    note = auto_note(chosen, reason, report) if profile == "auto" else None
    return report, note


def _records(path: Path, name: str):
    """(line, parsed object, the JSONL line's bytes or None) or (line, rejection dict, None) for
    each record of a file."""
    for src in ingest.discover(path, name):
        yield from _parsed(name, ingest.read_source(src))


def _parsed(name: str, items):
    """``_records``' triples of some items of a file."""
    for item in items:
        ok, obj = ingest.parse_item(name, item)
        if not ok:
            yield obj["line"], _Bad(obj), None
            continue
        raw = item[1] if type(item) is tuple and type(item[1]) is bytes else None
        yield item[0], obj, raw


class _Bad(dict):
    """A rejection from the reader or parser, told apart from a record that is a dict."""


def _validate_one(
    path: Path,
    name: str,
    profile: Profile,
    report,
    counter,
    limit,
    role: str = TRAINING,
    scan: ScanSettings | None = None,
) -> None:
    def add(line: int, pointer: str, rule: str, severity: str, message: str) -> None:
        report.add(Finding(name, line, pointer, rule, severity, message))

    limits = profile.limits
    with open(path, "rb") as f:
        head = f.read(3)
    size = path.stat().st_size
    if limits.jsonl:
        _check_jsonl_file(path, name, add)
    for src in ingest.discover(path, name):
        blank, first = ingest.blank_lines(src.path, src.format)
        if blank:
            note = ingest.blank_line_note(blank, first)
            add(first, "", "ingest.blank_line", limits.blank_lines, note)
    file_rules = profile.file_rules() if profile.file_rules else None
    formats: collections.Counter = collections.Counter()
    records = 0
    if file_rules is None and not hasattr(counter, "tok") and _parallel(path):
        for batch in _in_parallel(path, name, profile.name, counter, scan):
            records += batch.records
            formats.update(batch.formats)
            for finding in batch.findings:
                add(*finding)
    else:
        checked = _check_records(
            name, _records(path, name), profile, counter, limit, add, file_rules, scan
        )
        records, formats = checked.records, checked.formats
    report.records += records
    if file_rules is not None:
        for line, (pointer, rule, severity, message) in file_rules.finish():
            add(line, pointer, rule, severity, message)
    for finding in file_limit_findings(limits, size, head, records, formats, role):
        add(*finding)


@dataclass
class _Checked:
    """What checking a run of records found: their number, the findings (line, pointer, rule,
    severity, message) in line order when they are gathered, and the records per format the
    profile tells apart."""

    records: int = 0
    findings: list = field(default_factory=list)
    formats: collections.Counter = field(default_factory=collections.Counter)


def _check_records(
    name: str, records, profile: Profile, counter, limit, add=None, file_rules=None, scan=None
) -> _Checked:
    """Every per-record finding of ``_records``' (line, parsed object or rejection, raw line)
    triples, handed to ``add`` (line, pointer, rule, severity, message) as found, or gathered in
    the result; with ``scan`` settings, the secrets and PII found too."""
    out = _Checked()
    if add is None:
        add = lambda *finding: out.findings.append(finding)  # noqa: E731
    check_record = validate_record
    for line, obj, raw in records:
        out.records += 1
        if isinstance(obj, _Bad):
            add(line, obj.get("pointer", ""), obj["rule"], ERROR, obj["message"])
            continue
        if not isinstance(obj, dict):
            add(
                line,
                "",
                "json.not_object",
                ERROR,
                f"line is a JSON {_json_type(obj)}, not an object: each line must be one JSON object",
            )
            continue
        issues = check_record(profile, obj)
        if issues:  # name the `ftprep fix` kind that would repair a finding
            issues = repairs.hinted(issues, repairs.fix_hints(profile, obj, issues))
        for pointer, rule, severity, message in issues:
            add(line, pointer, rule, severity, message)
        if scan is not None:
            for finding in scan_findings(obj, scan, raw):
                add(line, *finding)
        if file_rules is not None:
            file_rules.see(line, obj)
        if profile.format_of is not None:
            out.formats[profile.format_of(obj)] += 1
        if hasattr(counter, "tok"):  # --tokenizer: what the chat template does to the line
            from pipeline.stages.template_checks import line_findings

            for finding in line_findings(counter, obj, name, line):
                add(line, *finding)
        if counter is not None and limit:
            n = _tokens(counter, obj)
            if n > limit:
                add(
                    line,
                    "",
                    "length.over_limit",
                    WARNING,
                    f"{n:,} tokens, over the model's {limit:,}-token limit: the provider truncates the end",
                )
    return out


# A plain JSONL file this large is checked by every core, a range of lines each (findings and
# their order are the same: the ranges are handed back in order).
PARALLEL_BYTES = 8 << 20
RANGE_LINES = 2_000


def _parallel(path: Path) -> bool:
    """Whether to fork workers for this file: a large file, several cores, and not inside a Ray
    driver (``--engine ray`` checks what it wrote here too; forking its threads is unsafe)."""
    ray = sys.modules.get("ray")
    return (
        (os.cpu_count() or 1) > 1
        and sys.platform == "linux"
        and path.stat().st_size >= PARALLEL_BYTES
        and not (ray is not None and ray.is_initialized())
    )


def _in_parallel(path: Path, name: str, profile: str, counter, scan) -> Iterator[_Checked]:
    """``_check_records`` over a file's line ranges in a pool of forked workers, in order; a file
    that is not plain JSONL (compressed, UTF-16, a JSON document) is read here as usual."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ranges = (
        batch
        for src in ingest.discover(path, name)
        for batch in ingest.read_batches(src, RANGE_LINES)
    )
    model = counter is not None
    context = multiprocessing.get_context("fork")
    window: collections.deque = collections.deque()
    with ProcessPoolExecutor(os.cpu_count(), mp_context=context) as pool:
        for batch in ranges:
            window.append(pool.submit(_check_batch, profile, name, model, scan, batch))
            if len(window) >= 3 * (os.cpu_count() or 1):
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


_WORKER: dict[str, Any] = {}  # the counter a forked worker made (from the parent's, by fork)


def _check_batch(profile_name: str, name: str, model: bool, scan, batch: Any) -> _Checked:
    profile = get_profile(profile_name)
    counter = limit = None
    if model:
        counter, limit = _WORKER["counter"], _WORKER["limit"]
    items = ingest.batch_items(batch)
    return _check_records(name, _parsed(name, items), profile, counter, limit, scan=scan)


def _json_type(obj: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(obj), "number"
    )


def _require_file(path: Path) -> None:
    """A path validate can read: a regular file (a folder, a device or nothing is exit 2)."""
    path, name = Path(path), printable(str(path))
    if path.is_dir():
        raise ingest.InputError(f"{name}: a folder; validate checks files: name them")
    if not path.exists() and not path.is_symlink():
        raise ingest.InputError(f"{name}: no such file")
    ingest.require_regular(path, name)


def _check_jsonl_file(path: Path, name: str, add) -> None:
    """A provider that takes JSON Lines in UTF-8 only: a JSON document (an array, a pretty
    object), CSV, Parquet, gzip or UTF-16/32 text is an error for the whole file, though its
    records are read and checked all the same."""
    (src,) = ingest.discover(path, name)
    what = ingest.not_json_lines(src)
    if what:
        add(
            0,
            "",
            "file.not_jsonl",
            ERROR,
            f"the provider takes JSON Lines in UTF-8; this file is {what}",
        )


def _tokens(counter: Any, obj: dict) -> int:
    """Tokens of the conversation a line trains on (chat formats; strings for prompt/completion)."""
    messages = obj.get("messages")
    tools = obj.get("tools") if isinstance(obj.get("tools"), list) else None
    if isinstance(messages, list):
        total, _ = counter.messages(messages, tools)
        return total
    inp = obj.get("input")
    if isinstance(inp, dict) and isinstance(inp.get("messages"), list):
        longest = max(
            (
                o
                for o in (obj.get("preferred_output"), obj.get("non_preferred_output"))
                if isinstance(o, list)
            ),
            key=len,
            default=[],
        )
        tools = inp.get("tools") if isinstance(inp.get("tools"), list) else None
        total, _ = counter.messages(inp["messages"] + longest, tools)
        return total
    texts = [obj.get(k) for k in ("prompt", "completion", "text")]
    return sum(counter.n(t) for t in texts if isinstance(t, str))


# --------------------------------------------------------------------------- --profile auto


def choose_profile(paths: list[Path]) -> tuple[Profile, str]:
    """The profile these files were written for, from the shape of their records (the first
    ``AUTO_SAMPLE`` of each file): among the profiles whose shape most records have, the first
    in ``AUTO_ORDER``; an OpenAI file that starts with a UTF-8 byte-order mark, which Azure
    asks for, is taken as Azure's. Returns the profile and the reason, in words."""
    sample: list[dict] = []
    bom = False
    for path in paths:
        _require_file(path)
        with open(path, "rb") as f:
            bom = bom or f.read(3) == UTF8_BOM
        for n, (_, obj, _) in enumerate(_records(Path(path), str(path))):
            if n >= AUTO_SAMPLE:
                break
            if isinstance(obj, dict) and not isinstance(obj, _Bad):
                sample.append(obj)
    if not sample:
        raise ProfileError("--profile auto: no JSON object records to look at; name a profile")
    keys = ", ".join(sorted({k for o in sample for k in o})[:12])
    fits = [p for p in PROFILES.values() if sum(p.shape(o) for o in sample) * 2 > len(sample)]
    if not fits:
        raise ProfileError(
            f"--profile auto: no profile fits records with the keys {keys}; name one with --profile "
            "(see `ftprep profiles`)"
        )
    best = min(fits, key=lambda p: AUTO_ORDER.index(p.name))
    reason = f"records with the keys {keys} are in its format"
    if bom and best.name in AZURE_OF:
        best = PROFILES[AZURE_OF[best.name]]
        reason += ", and the file starts with the byte-order mark Azure asks for"
    others = [p.name for p in fits if p.name != best.name]
    if others:
        reason += f"; {', '.join(others)} read this shape too"
    return best, reason


def auto_note(profile: Profile, reason: str, report: ValidationReport) -> str:
    """The line --profile auto prints: the profile, why, and the report's own counts."""
    return (
        f"profile: {profile.name} (--profile auto: {reason}); {report.errors} error(s), "
        f"{report.warnings} warning(s), as reported below"
    )


# --------------------------------------------------------------------------- output formats
# Each takes a ValidationReport and returns the whole output as one string, so the CLI stays
# thin and the tests can check every format exactly.

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
