"""Parsing the items a reader yields: a JSONL line's bytes to a JSON value, checked.

``parse_item`` gives ``(True, value)``, or ``(False, rejection)`` for a line that is not valid
UTF-8 or JSON (``parse_line``, with a hint of what to change), a record nested deeper than
``MAX_DEPTH`` levels, or one that cannot be written back as JSON. Workers call it, so the main
process never parses.
"""

from __future__ import annotations

from typing import Any

import orjson

from pipeline.records import rejection
from pipeline.stages.ingest.sources import STAGE, Item, truncate

ParseResult = tuple[bool, Any]
"""``(True, value)`` for a parsed line, ``(False, rejection_dict)`` for a line that was dropped."""


MAX_DEPTH = 64  # nesting levels of one record; real examples stay far below, recursion does not


def parse_item(source: str, item: Item) -> ParseResult:
    """One item of ``read_source``, parsed: (True, value), or (False, rejection) for a rejection
    from the reader, a JSONL line that does not parse, or a record nested deeper than MAX_DEPTH."""
    if isinstance(item, dict):
        return False, item
    line, payload = item
    if isinstance(payload, bytes):
        ok, value = parse_line(source, line, payload)
        if not ok:
            return ok, value
    else:
        value = payload
    if _may_be_deep(payload) and _deeper_than(value, MAX_DEPTH):
        return False, rejection(
            source,
            line,
            STAGE,
            "ingest.too_deep",
            f"the record nests lists or objects more than {MAX_DEPTH} levels deep: flatten it "
            "(fine-tuning examples need only a few levels)",
            raw=truncate(payload.decode("utf-8", errors="replace"))
            if isinstance(payload, bytes)
            else None,  # too deep to serialise safely
        )
    if not isinstance(payload, bytes):  # JSON documents, CSV and Arrow rows: JSONL was checked
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError as err:
            return False, rejection(
                source,
                line,
                STAGE,
                "ingest.invalid_unicode" if "surrogates" in str(err) else "ingest.unserialisable",
                f"the record cannot be written as JSON ({err}): a string holds a lone "
                "surrogate escape such as \\ud800; fix or remove it"
                if "surrogates" in str(err)
                else f"the record cannot be written as JSON ({err})",
            )
    return True, value


def _may_be_deep(payload: Any) -> bool:
    """False when a JSON line has too few brackets to nest MAX_DEPTH levels (the common case,
    counted in C); parsed payloads from other formats are always walked."""
    if isinstance(payload, bytes):
        return payload.count(b"[") + payload.count(b"{") > MAX_DEPTH
    return True


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels (without recursion)."""
    if not isinstance(value, (dict, list)):
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def parse_line(source: str, line: int, data: bytes) -> ParseResult:
    """Parse one JSONL line: ``(True, value)``, or ``(False, rejection)`` with rule
    ``ingest.invalid_utf8`` or ``ingest.invalid_json``."""
    try:
        return True, orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raw = truncate(data.decode("utf-8", errors="replace"))
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            byte = data[bad.start : bad.start + 1].hex()
            return False, rejection(
                source,
                line,
                STAGE,
                "ingest.invalid_utf8",
                f"line is not valid UTF-8 (byte 0x{byte} at byte offset {bad.start}): "
                "save the file as UTF-8",
                raw=raw,
            )
        hint = _json_hint(err.msg)
        if b"\r" in data:
            hint = (
                "the line holds carriage returns (\\r) alone, the line ends of old Mac files: "
                "convert the file's line ends to \\n, one record per line"
            )
        return False, rejection(
            source,
            line,
            STAGE,
            "ingest.invalid_json",
            f"line is not valid JSON ({err.msg} at column {err.colno}): {hint}",
            raw=raw,
        )


def _json_hint(msg: str) -> str:
    if "trailing comma" in msg:
        return "remove the trailing comma"
    if "end of data" in msg:
        return "the line ends before the JSON value does: put each record on one single line"
    if "after document" in msg:
        return "each line must hold exactly one JSON object, with nothing after it"
    if "string key" in msg:
        return "object keys must be strings in double quotes"
    if "infinity" in msg:
        return "a number is too large for a double-precision float: write it as a string"
    return "each line must be one complete JSON object"
