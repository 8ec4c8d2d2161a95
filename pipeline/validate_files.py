"""Pre-upload validation of files already in a provider's format: every finding, with its line.

Reads each file record by record (bounded memory: one line at a time, and at most ``max_errors``
findings kept when that is given), checks each line with the profile's compiled schema (jsonschema
explains only the lines that fail) and its rules, then the whole-file rules (one format per file,
labels) and the file limits (minimum examples, minimum and maximum size, byte-order mark). With a
model, token counts are checked against the model's per-example limit (a warning: providers
truncate). ``choose_profile`` picks the profile a file fits for ``--profile auto``.
"""

from __future__ import annotations

import collections
import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import ingest
from pipeline.findings import ERROR, WARNING, Finding
from pipeline.profiles import PROFILES, Profile, ProfileError, load_schema
from pipeline.validate import validate_record

UTF8_BOM = b"\xef\xbb\xbf"
AUTO_SAMPLE = 200  # records per file read to choose a profile
# --profile auto breaks ties between profiles with as few errors in this order: formats that only
# one provider reads first, then the generic ones that read almost any record.
AUTO_ORDER = (
    "bedrock-conversation",
    "vertex-gemini",
    "openai-chat",
    "openai-dpo",
    "openai-completion",
    "azure-openai-chat",
    "azure-openai-dpo",
    "mistral",
    "together",
    "trl-dpo",
    "trl-kto",
    "autotrain-dpo",
    "trl-sft",
    "autotrain-sft",
    "azureml-chat",
)


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
) -> ValidationReport:
    load_schema(profile.name)
    counter = limit = None
    if model:
        from pipeline.models import model_info
        from pipeline.tokens import Counter

        info = model_info(model)
        counter, limit = Counter(info.encoding), info.max_tokens
    for path in paths:
        _require_file(path)
    report = ValidationReport(profile.name, max_findings=max_errors)
    for path in paths:
        name = ingest.printable(str(path))
        report.files.append(name)
        _validate_one(Path(path), name, profile, report, counter, limit)
    return report


def _records(path: Path, name: str):
    """(line, parsed object) or (line, rejection dict) for each record of a file."""
    for src in ingest.discover(path, name):
        for item in ingest.read_source(src):
            ok, obj = ingest.parse_item(name, item)
            yield (item[0], obj) if ok else (obj["line"], _Bad(obj))


class _Bad(dict):
    """A rejection from the reader or parser, told apart from a record that is a dict."""


def _validate_one(path: Path, name: str, profile: Profile, report, counter, limit) -> None:
    def add(line: int, pointer: str, rule: str, severity: str, message: str) -> None:
        report.add(Finding(name, line, pointer, rule, severity, message))

    limits = profile.limits
    _check_bytes(path, limits, add)
    if limits.jsonl:
        _check_jsonl_file(path, name, add)
    file_rules = profile.file_rules() if profile.file_rules else None
    formats: collections.Counter = collections.Counter()
    records = 0
    check_record = validate_record
    for line, obj in _records(path, name):
        records += 1
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
        for pointer, rule, severity, message in check_record(profile, obj):
            add(line, pointer, rule, severity, message)
        if file_rules is not None:
            file_rules.see(line, obj)
        if profile.format_of is not None:
            formats[profile.format_of(obj)] += 1
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
    if file_rules is not None:
        for line, (pointer, rule, severity, message) in file_rules.finish():
            add(line, pointer, rule, severity, message)
    if limits.min_examples and records < limits.min_examples:
        add(
            0,
            "",
            "file.min_examples",
            limits.min_examples_severity,
            f"{records} example(s); the provider requires at least {limits.min_examples}"
            if limits.min_examples_severity == ERROR
            else f"{records} example(s); at least {limits.min_examples} are advised",
        )
    for fmt, minimum in limits.min_examples_by_format.items():
        if 0 < formats[fmt] < minimum:
            add(
                0,
                "",
                "file.min_examples",
                ERROR,
                f"{formats[fmt]} example(s) in the {fmt} format; it requires at least {minimum}",
            )


def _json_type(obj: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(obj), "number"
    )


def _require_file(path: Path) -> None:
    """A path validate can read: a regular file (a folder, a device or nothing is exit 2)."""
    path, name = Path(path), ingest.printable(str(path))
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


def _check_bytes(path: Path, limits, add) -> None:
    with open(path, "rb") as f:
        head = f.read(3)
    if limits.bom == "expect" and head != UTF8_BOM:
        add(
            0,
            "",
            "file.bom.missing",
            WARNING,
            "the provider expects UTF-8 with a byte-order mark; save the file as 'UTF-8 with BOM'",
        )
    elif limits.bom == "reject" and head == UTF8_BOM:
        add(
            1,
            "",
            "file.bom.present",
            ERROR,
            "the file starts with a UTF-8 byte-order mark, which the provider's JSON reader "
            "rejects: save as UTF-8 without BOM",
        )
    elif limits.bom == "report" and head == UTF8_BOM:
        add(
            1,
            "",
            "file.bom.present",
            WARNING,
            "the file starts with a UTF-8 byte-order mark; some loaders reject it: save as UTF-8 without BOM",
        )
    size = path.stat().st_size
    if limits.max_bytes is not None and (
        size >= limits.max_bytes if limits.max_bytes_exclusive else size > limits.max_bytes
    ):
        bound = "less than" if limits.max_bytes_exclusive else "at most"
        add(
            0,
            "",
            "file.max_bytes",
            ERROR,
            f"file is {size:,} bytes; the provider accepts {bound} {limits.max_bytes:,}: split it",
        )
    if limits.min_bytes is not None and size < limits.min_bytes:
        add(
            0,
            "",
            "file.min_bytes",
            ERROR,
            f"file is {size:,} bytes; the provider requires at least {limits.min_bytes:,}",
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


def choose_profile(paths: list[Path]) -> tuple[Profile, list[tuple[str, int, int]]]:
    """The profile these files fit: among the profiles whose shape matches most sampled records,
    the one with the fewest errors (ties: the more specific profile, AUTO_ORDER).

    Returns the profile and the scores ``(name, errors, warnings)`` of the candidates.
    """
    sample: list[dict] = []
    for path in paths:
        _require_file(path)
        for n, (_, obj) in enumerate(_records(Path(path), str(path))):
            if n >= AUTO_SAMPLE:
                break
            if isinstance(obj, dict) and not isinstance(obj, _Bad):
                sample.append(obj)
    if not sample:
        raise ProfileError("--profile auto: no JSON object records to look at; name a profile")
    candidates = [p for p in PROFILES.values() if sum(p.shape(o) for o in sample) * 2 > len(sample)]
    if not candidates:
        keys = ", ".join(sorted({k for o in sample for k in o})[:12])
        raise ProfileError(
            f"--profile auto: no profile fits records with the keys {keys}; name one with --profile "
            "(see `ftprep profiles`)"
        )
    scores = []
    for p in candidates:
        load_schema(p.name)
        severities = collections.Counter(
            issue[2] for obj in sample for issue in validate_record(p, obj)
        )
        scores.append((p.name, severities[ERROR], severities[WARNING]))
    best = min(scores, key=lambda s: (s[1], AUTO_ORDER.index(s[0])))
    return PROFILES[best[0]], scores


def auto_note(profile: Profile, scores: list[tuple[str, int, int]]) -> str:
    others = ", ".join(f"{name} {e} error(s)" for name, e, _ in scores)
    return (
        f"profile: {profile.name} (--profile auto: fewest errors in the first {AUTO_SAMPLE} "
        f"records among {others})"
    )
