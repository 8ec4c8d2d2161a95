"""``ftprep fix``: mend a file already in a provider's format, line by line, and say what is left.

Reads a JSON Lines file twice, one line at a time (bounded memory): the first pass counts the
legacy prompt/completion markers (``legacy-markers`` applies only when every prompt/completion
line follows one convention), the second repairs each line with ``repairs.repair_line`` and the
kinds asked for (the safe kinds unless ``--only`` names others) and checks the result with the
profile's rules. A line no rule changes is written back byte for byte, blank lines, lines that
do not parse and lines of other shapes included; a changed line is written as compact JSON. The
findings that remain are listed with ``validate``'s messages, each with the opt-in kind that
would clear it where one would.
"""

from __future__ import annotations

import collections
import difflib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipeline.config import ConfigError
from pipeline.findings import Finding
from pipeline.profiles.profiles import Profile, get_profile
from pipeline.records import printable
from pipeline.stages import ingest, repairs
from pipeline.stages.validate import validate_record

SHOWN = 20  # remaining findings listed in the text report (all are counted)


@dataclass
class FixReport:
    file: str
    profile: str
    kinds: list[str]
    lines: int = 0
    changed: int = 0
    by_kind: collections.Counter = field(default_factory=collections.Counter)
    first_lines: dict[str, list[int]] = field(default_factory=dict)
    remaining: list[Finding] = field(default_factory=list)
    remaining_count: int = 0
    errors: int = 0
    convention: tuple | None = None

    def note(self, line: int, kinds: set[str]) -> None:
        self.changed += 1
        for kind in kinds:
            self.by_kind[kind] += 1
            first = self.first_lines.setdefault(kind, [])
            if len(first) < 5:
                first.append(line)

    def left(self, finding: Finding) -> None:
        self.remaining_count += 1
        self.errors += finding.severity == "error"
        if len(self.remaining) < SHOWN:
            self.remaining.append(finding)


def parse_kinds(only: tuple[str, ...]) -> list[str]:
    """The kinds to apply: ``--only`` (comma lists, repeatable), else the safe kinds."""
    named = [k.strip() for value in only for k in value.split(",") if k.strip()]
    if not named:
        return list(repairs.SAFE_KINDS)
    unknown = [k for k in named if k not in repairs.KINDS]
    if unknown:
        raise ConfigError(
            f"--only: {unknown[0]!r} is no repair kind; known: {', '.join(repairs.KINDS)}"
        )
    return [k for k in repairs.KINDS if k in named]


def _lines(path: Path) -> Iterator[tuple[int, bytes, bytes]]:
    """(line number, the line's bytes without its end, its end) for each line of the file."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            body = raw.rstrip(b"\r\n")
            yield number, body, raw[len(body) :]


def _parsed(body: bytes) -> dict | None:
    if not body.strip():
        return None
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _convention(path: Path, profile: Profile) -> tuple | None:
    if profile.name in repairs.KEEPS_LEGACY_MARKERS:
        return None
    counts: collections.Counter = collections.Counter()
    records = 0
    for _, body, _ in _lines(path):
        obj = _parsed(body)
        if obj is not None and isinstance(obj.get("prompt"), str) and "completion" in obj:
            records += 1
            counts.update(repairs.legacy_keys(obj["prompt"], obj["completion"]))
    return repairs.legacy_convention(counts, records)


def _legacy(obj: dict, convention: tuple) -> tuple[dict, bool]:
    prompt, completion = obj.get("prompt"), obj.get("completion")
    if not (isinstance(prompt, str) and isinstance(completion, str)):
        return obj, False
    prompt, completion, changed = repairs.strip_legacy(prompt, completion, convention)
    return ({**obj, "prompt": prompt, "completion": completion}, True) if changed else (obj, False)


def fix_file(
    path: Path, profile: Profile, kinds: list[str], out: Path | None, diff: bool
) -> tuple[FixReport, list[str]]:
    """Repair ``path`` for ``profile``: the report and the diff's lines (when ``diff``); writes
    the whole repaired file to ``out`` when given (through a temporary file beside it)."""
    name = printable(str(path))
    if not path.is_file():
        raise ingest.InputError(
            f"{name}: no such file" if not path.exists() else f"{name}: not a file"
        )
    report = FixReport(name, profile.name, kinds)
    wanted = frozenset(kinds)
    assistant = repairs.assistant_role(profile.name)
    if "legacy-markers" in wanted:
        report.convention = _convention(path, profile)
    opt_in = [k for k in repairs.OPT_IN_KINDS if k not in wanted]
    shown: list[str] = []
    tmp = out.with_name(f".{out.name}.fixing-{os.getpid()}") if out else None
    sink = open(tmp, "wb") if tmp else None  # noqa: SIM115 - closed below, removed on failure
    try:
        for number, body, end in _lines(path):
            report.lines += 1
            obj = _parsed(body)
            new = body
            if obj is not None:
                fixed, changes = repairs.repair_line(obj, wanted, assistant)
                taken = {kind for kind, _ in changes}
                if report.convention is not None:
                    fixed, stripped = _legacy(fixed, report.convention)
                    if stripped:
                        taken.add("legacy-markers")
                if taken:
                    new = orjson.dumps(fixed)
                    report.note(number, taken)
                    if diff:
                        shown += _diff(name, number, body, new)
                issues = validate_record(profile, fixed)
                if issues:
                    issues = repairs.hinted(
                        issues, repairs.fix_hints(profile, fixed, issues, opt_in)
                    )
                for pointer, rule, severity, message in issues:
                    report.left(Finding(name, number, pointer, rule, severity, message))
            elif body.strip():
                report.left(Finding(name, number, "", "json.invalid", "error",
                                    "the line is not one JSON object; fix has no rule for it"))  # fmt: skip
            if sink:
                sink.write(new + end)
        if sink:
            sink.close()
            os.replace(tmp, out)
    finally:
        if sink and not sink.closed:
            sink.close()
        if tmp and tmp.exists():
            tmp.unlink()
    return report, shown


def fix_command(
    path: Path, profile: str, out: Path | None, diff: bool, only: tuple[str, ...]
) -> tuple[FixReport, list[str]]:
    """What ``ftprep fix`` does: the profile named, the kinds checked, the diff shown when asked
    for or when nothing is written."""
    chosen = get_profile(profile)
    if out is not None and Path(out).resolve() == Path(path).resolve():
        raise ConfigError("-o names the input file: write the repaired file elsewhere")
    return fix_file(path, chosen, parse_kinds(only), out, diff or out is None)


def _diff(name: str, number: int, before: bytes, after: bytes) -> list[str]:
    old, new = before.decode("utf-8", "replace"), after.decode("utf-8", "replace")
    return list(
        difflib.unified_diff(
            [old], [new], f"{name}:{number}", f"{name}:{number} (fixed)", lineterm=""
        )
    )


def summary_text(report: FixReport, out: Path | None) -> str:
    kinds = ", ".join(report.kinds)
    lines = [
        f"ftprep fix: {report.file}, {report.lines:,} line(s), profile {report.profile} ({kinds})"
    ]
    if report.convention is not None:
        lines.append(
            "  " + repairs.describe_convention(report.convention, report.by_kind["legacy-markers"])
        )
    if report.changed:
        lines.append(f"  repaired {report.changed:,} line(s):")
        for kind in repairs.KINDS:
            if report.by_kind[kind]:
                first = ", ".join(str(n) for n in report.first_lines[kind])
                lines.append(
                    f"    {kind:<22} {report.by_kind[kind]:,} line(s), {repairs.WHAT[kind]}; "
                    f"first at line(s) {first}"
                )
    else:
        lines.append("  nothing to repair")
    if out is not None:
        lines.append(f"  wrote {printable(str(out))} (lines no rule changed are as they were)")
    if report.remaining_count:
        lines.append(f"  not repaired: {report.remaining_count:,} finding(s) remain:")
        lines += ["    " + f.render() for f in report.remaining]
        if report.remaining_count > len(report.remaining):
            lines.append(f"    ... and {report.remaining_count - len(report.remaining):,} more")
    else:
        lines.append("  no finding remains")
    return "\n".join(lines)
