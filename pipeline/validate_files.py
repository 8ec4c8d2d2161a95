"""Pre-upload validation of files already in a provider's format: every finding, with its line.

Reads each file line by line (bounded memory), checks each line with the profile's schema and
rules, then the file-level limits (minimum examples, maximum size, byte-order mark). With a model,
token counts are checked against the model's per-example limit (a warning: providers truncate).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import ingest
from pipeline.findings import ERROR, WARNING, Finding
from pipeline.profiles import Profile, load_schema
from pipeline.validate import validate_record

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass
class ValidationReport:
    profile: str
    files: list[str] = field(default_factory=list)
    records: int = 0
    findings: list[Finding] = field(default_factory=list)
    counts: collections.Counter = field(default_factory=collections.Counter)
    by_severity: collections.Counter = field(default_factory=collections.Counter)

    def add(self, finding: Finding, max_findings: int | None) -> None:
        self.counts[finding.rule] += 1
        self.by_severity[finding.severity] += 1
        if max_findings is None or len(self.findings) < max_findings:
            self.findings.append(finding)

    @property
    def errors(self) -> int:
        return self.by_severity[ERROR]

    @property
    def warnings(self) -> int:
        return self.by_severity[WARNING]

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


def validate_files(
    paths: list[Path],
    profile: Profile,
    model: str | None = None,
    max_errors: int | None = None,
) -> ValidationReport:
    load_schema(profile.name)
    counter = limit = None
    if model:
        from pipeline.models import model_info
        from pipeline.tokens import Counter

        info = model_info(model)
        counter, limit = Counter(info.encoding), info.max_tokens
    report = ValidationReport(profile.name)
    for path in paths:
        name = str(path)
        report.files.append(name)
        if not path.is_file():
            raise ingest.InputError(f"{name}: no such file")
        _validate_one(path, name, profile, report, counter, limit, max_errors)
    report.findings.sort(key=lambda f: (report.files.index(f.file), f.line))
    return report


def _validate_one(path, name, profile, report, counter, limit, max_errors) -> None:
    def add(line: int, pointer: str, rule: str, severity: str, message: str) -> None:
        report.add(Finding(name, line, pointer, rule, severity, message), max_errors)

    with open(path, "rb") as f:
        head = f.read(3)
    if profile.limits.bom == "expect" and head != UTF8_BOM:
        add(
            0,
            "",
            "file.bom.missing",
            WARNING,
            "the provider expects UTF-8 with a byte-order mark; save the file as 'UTF-8 with BOM'",
        )
    elif profile.limits.bom != "expect" and head == UTF8_BOM:
        add(
            1,
            "",
            "file.bom.present",
            WARNING,
            "the file starts with a UTF-8 byte-order mark; some loaders reject it: save as UTF-8 without BOM",
        )
    size = path.stat().st_size
    limits = profile.limits
    if limits.max_bytes is not None and (
        size >= limits.max_bytes if limits.max_bytes_exclusive else size > limits.max_bytes
    ):
        add(
            0,
            "",
            "file.max_bytes",
            ERROR,
            f"file is {size:,} bytes; the provider accepts at most {limits.max_bytes:,}",
        )
    records = 0
    for src in ingest.discover(path, name):
        for item in ingest.read_source(src):
            records += 1
            if isinstance(item, dict):
                add(item["line"], "", item["rule"], ERROR, item["message"])
                continue
            line, payload = item
            ok, obj = (
                ingest.parse_line(name, line, payload)
                if isinstance(payload, bytes)
                else (True, payload)
            )
            if not ok:
                add(line, "", obj["rule"], ERROR, obj["message"])
                continue
            if not isinstance(obj, dict):
                add(
                    line,
                    "",
                    "json.not_object",
                    ERROR,
                    f"line is a JSON {type(obj).__name__}, not an object: each line must be one JSON object",
                )
                continue
            for pointer, rule, severity, message in validate_record(profile, obj):
                add(line, pointer, rule, severity, message)
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
    report.records += records
    if limits.min_examples and records < limits.min_examples:
        add(
            0,
            "",
            "file.min_examples",
            ERROR,
            f"{records} example(s); the provider requires at least {limits.min_examples}",
        )


def _tokens(counter: Any, obj: dict) -> int:
    messages = obj.get("messages")
    if isinstance(messages, list):
        total, _ = counter.messages(messages)
        return total
    return 0
