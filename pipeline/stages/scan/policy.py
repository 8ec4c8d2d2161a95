"""What becomes of a record that holds secrets or personal data: the run's settings applied.

``--secrets`` and ``--pii`` each take ``error`` (the record is rejected, stage ``scan``),
``warn`` (kept, and counted as a warning of its rule), ``redact`` (kept, each match replaced by
its kind's placeholder) or ``off`` (not looked for). The scan runs on a record as read, before it
is converted: what every later stage sees, counts and writes, including the raw record a
rejection or a duplicate keeps, is the redacted record. A rejected record's raw copy is redacted
in every mode but ``off``: the artifacts never carry a secret the scan found.

The counts a batch hands on go into its warnings counter under keys of their own
(``scan:found:<rule>``, ``scan:redacted:<rule>``, ``scan:records:<category>``), which the
tally takes out again for the manifest's ``scan`` section (``split_counts``).
"""

from __future__ import annotations

import collections
from typing import Any

from pipeline.config import ScanSettings
from pipeline.findings import ERROR, WARNING
from pipeline.records import rejection
from pipeline.stages.scan import scanner
from pipeline.stages.scan.kinds import BY_RULE, PII, SECRET

PREFIX = "scan:"


def _category(rule: str) -> str:
    return BY_RULE[rule].category


def message(hit: scanner.Hit, mode: str, command: str = "run", argument: str | None = None) -> str:
    """What a finding says: the kind, the match masked (and the tool-call argument it is in),
    and what to do; ``command`` is ``run`` or ``validate``, whose advice differs."""
    kind = BY_RULE[hit.rule]
    flag = "--secrets" if kind.category == SECRET else "--pii"
    where = f' in the argument "{argument}"' if argument else ""
    what = f"{kind.what} ({hit.masked}){where}"
    if command == "validate":
        todo = (
            f"it would be uploaded and could be learned: remove it, or prepare the data with "
            f"`ftprep run {flag} redact` (it becomes {kind.placeholder})"
        )
    elif mode == "error":
        todo = (
            f"rejected as {flag} error asks: remove it from the source, or run with {flag} "
            f"redact to replace it with {kind.placeholder} (the copy in rejected.jsonl is redacted)"
        )
    elif mode == "redact":
        todo = f"replaced with {kind.placeholder} in the output"
    else:
        todo = (
            f"it would be uploaded and could be learned: remove it, or run with {flag} redact "
            f"to replace it with {kind.placeholder}"
        )
    return f"{what}: {todo}"


def _argument(value: Any, hit: scanner.Hit) -> str | None:
    """The key of a tool call's JSON arguments that holds the match, if the hit is in one."""
    if len(hit.path) < 2 or hit.path[-1] != "arguments":
        return None
    node = value
    for key in hit.path:
        node = node[key]
    return scanner.json_key_of(node, hit.match) if isinstance(node, str) else None


def findings(
    value: Any, settings: ScanSettings, raw: bytes | None = None
) -> list[tuple[str, str, str, str]]:
    """(pointer, rule, severity, message) for every match in a record, as ``validate`` reports
    them: an error where the category's mode is ``error``, else a warning. ``raw``: the JSONL
    line it was parsed from (see ``apply``)."""
    cats = settings.categories
    if not cats or (raw is not None and scanner.nothing_in(raw, cats)):
        return []
    out = []
    for hit in scanner.scan_value(value, cats, settings.regions):
        mode = settings.mode(_category(hit.rule))
        severity = ERROR if mode == "error" else WARNING
        text = message(hit, mode, "validate", _argument(value, hit))
        out.append((hit.pointer, hit.rule, severity, text))
    return out


def apply(
    obj: Any,
    source: str,
    line: int,
    settings: ScanSettings,
    counts: collections.Counter,
    raw: bytes | None = None,
) -> tuple[Any, dict | None]:
    """(the record to carry on with, None), or (None, its rejection) when a category in
    ``error`` mode found something. Counts what was found and replaced in ``counts``. ``raw``,
    the JSONL line the record was parsed from, lets most records be passed from their bytes
    alone (``scanner.nothing_in``), without walking their strings."""
    cats = settings.categories
    if not cats or (raw is not None and scanner.nothing_in(raw, cats)):
        return obj, None
    hits = scanner.scan_value(obj, cats, settings.regions)
    if not hits:
        return obj, None
    seen = set()
    for hit in hits:
        category = _category(hit.rule)
        counts[f"{PREFIX}found:{hit.rule}"] += 1
        if category not in seen:
            seen.add(category)
            counts[f"{PREFIX}records:{category}"] += 1
    errors = [h for h in hits if settings.mode(_category(h.rule)) == "error"]
    if errors:
        first = errors[0]
        text = message(first, "error", "run", _argument(obj, first))
        if len(errors) > 1:
            text += f" (and {len(errors) - 1} more finding(s) of an error-mode kind)"
        rej = rejection(
            source,
            line,
            "scan",
            first.rule,
            text,
            raw=scanner.redact_value(obj, hits),
            pointer=first.pointer,
        )
        if len(errors) > 1:
            rej["findings"] = [
                {"pointer": h.pointer, "rule": h.rule, "message": message(h, "error")}
                for h in errors[:20]
            ]
        return None, rej
    redact = []
    for hit in hits:
        mode = settings.mode(_category(hit.rule))
        if mode == "redact":
            redact.append(hit)
            counts[f"{PREFIX}redacted:{hit.rule}"] += 1
        else:
            counts[hit.rule] += 1  # a warning, kept
    if redact:
        obj = scanner.redact_value(obj, redact)
    return obj, None


def redact_rejection(rec: dict, settings: ScanSettings) -> dict:
    """A rejection from the reader or the parser keeps the line as text: redacted too, unless
    both categories are ``warn`` or ``off``."""
    raw = rec.get("raw")
    if not isinstance(raw, str) or not raw:
        return rec
    cats = frozenset(c for c in settings.categories if settings.mode(c) in ("error", "redact"))
    if not cats:
        return rec
    hits = scanner.scan_value(raw, cats, settings.regions)
    if hits:
        rec = {**rec, "raw": scanner.redact_value(raw, hits)}
    return rec


def split_counts(counts: collections.Counter) -> tuple[collections.Counter, dict[str, Any]]:
    """A run's warnings by rule without the scan's own counts, and those counts as the
    manifest's ``scan`` section (without its settings)."""
    warnings: collections.Counter = collections.Counter()
    found: dict[str, int] = {}
    redacted: dict[str, int] = {}
    records = {SECRET: 0, PII: 0}
    for key, n in counts.items():
        if not key.startswith(PREFIX):
            warnings[key] = n
            continue
        what, _, rule = key[len(PREFIX) :].partition(":")
        if what == "found":
            found[rule] = n
        elif what == "redacted":
            redacted[rule] = n
        elif what == "records":
            records[rule] = n
    return warnings, {
        "findings_by_rule": dict(sorted(found.items())),
        "redacted_by_rule": dict(sorted(redacted.items())),
        "records_with_secrets": records[SECRET],
        "records_with_pii": records[PII],
    }


# Columns of the written Parquet files that hold text a provider receives.
TEXT_COLUMNS = ("messages", "chosen", "rejected", "completion", "text", "reasoning")


def table_counts(table: Any, settings: ScanSettings | None = None) -> tuple[list[int], list[int]]:
    """For each row of a written split (a pyarrow Table of ``example_schema``): how many
    secrets its texts hold, and whether they hold personal data (0 or 1), scanned with every
    category on (the gate checks what was written, whatever the run's settings were). Reads a
    few thousand rows at a time."""
    settings = settings or ScanSettings()
    columns = [c for c in TEXT_COLUMNS if c in table.column_names]
    secrets_per_row: list[int] = []
    pii_per_row: list[int] = []
    if not columns:
        return [0] * table.num_rows, [0] * table.num_rows
    for batch in table.select(columns).to_batches(max_chunksize=2048):
        for row in batch.to_pylist():
            hits = scanner.scan_value(row, settings.categories, settings.regions)
            secrets_per_row.append(sum(1 for h in hits if _category(h.rule) == SECRET))
            pii_per_row.append(int(any(_category(h.rule) == PII for h in hits)))
    return secrets_per_row, pii_per_row
