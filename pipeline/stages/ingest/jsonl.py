"""JSON Lines: one record per line, read as undecoded bytes (parsed later, in the workers).

``jsonl_lines`` yields ``(line, bytes)`` for every non-blank line (without a UTF-8 byte-order mark
or a trailing CR; UTF-16/32 text re-encoded to UTF-8); a read error ends the file with one
rejection. Blank lines are not records: ``blank_lines`` counts them once per file, for a note.
``not_json_lines`` says what keeps a file from being the UTF-8 JSON Lines most providers take.
A line longer than ``MAX_LINE_BYTES`` (far above any provider's limit on one example) is rejected
as it streams past, never held whole (``ingest.line_too_long``).
"""

from __future__ import annotations

import codecs
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.stages.ingest.sources import (
    STAGE,
    UTF8_BOM,
    WHITESPACE,
    Item,
    Source,
    open_binary,
    read_head,
    unreadable,
)


def not_json_lines(src: Source) -> str | None:
    """What keeps a source from being UTF-8 JSON Lines, the form most providers take, with what
    to do; None when it is (or cannot be read: its rejection says why)."""
    if src.compression:
        return "gzip-compressed: upload the uncompressed .jsonl file"
    convert = "convert it to JSON Lines, one JSON object per line (`ftprep run` writes them)"
    if src.format not in ("json", "jsonl"):
        return f"{src.format.upper()}: {convert}"
    head = read_head(src)
    if isinstance(head, dict):
        return None
    if src.format == "json" or json_document(*head):
        return f"a JSON document (an array or a pretty-printed object): {convert}"
    if head[0] is not None:
        return "UTF-16 or UTF-32 text: save it as UTF-8"
    return None


def json_document(encoding: str | None, head: bytes) -> bool:
    """Whether a .jsonl file's head shows a pretty-printed JSON document (a lone bracket on the
    first line) rather than JSON Lines."""
    text = head.decode(encoding or "utf-8", errors="replace").lstrip(WHITESPACE)
    return text.partition("\n")[0].strip() in ("[", "{")


_BLANK_BYTES = list(b" \t\r\xef\xbb\xbf")  # what a blank line may hold (a UTF-8 BOM too)
BLANK_BLOCK = 1 << 20


def blank_lines(path: Path, fmt: str) -> tuple[int, int | None]:
    """(how many blank lines, the first one's number) of a JSON Lines file in UTF-8 (gzip or
    not): they are not records and are skipped, and the reader says so once per file. Other
    formats and encodings: (0, None). Read a block at a time with numpy, never a line whole."""
    import numpy as np

    if fmt != "jsonl":
        return 0, None
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        count, first, lines = 0, None, 0
        blank_so_far, open_bytes = True, 0  # the line not yet ended
        with open_binary(path, "gzip" if gzipped else None) as raw:
            while block := raw.read(BLANK_BLOCK):
                if (
                    not lines
                    and not open_bytes
                    and block.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
                ):
                    return 0, None
                data = np.frombuffer(block, dtype=np.uint8)
                seen = np.concatenate(([0], np.cumsum(~np.isin(data, _BLANK_BYTES))))
                ends = np.flatnonzero(data == 10)
                starts = np.concatenate(([0], ends + 1))
                blank = seen[ends] - seen[starts[:-1]] == 0  # the lines this block ends
                if len(ends):
                    blank[0] &= blank_so_far
                    found = np.flatnonzero(blank)
                    if len(found) and first is None:
                        first = lines + int(found[0]) + 1
                    count += len(found)
                    lines += len(ends)
                    blank_so_far, open_bytes = True, 0
                blank_so_far &= bool(seen[-1] == seen[starts[-1]])
                open_bytes += len(data) - int(starts[-1])
        if open_bytes and blank_so_far:  # a last line of spaces without a newline
            count += 1
            first = first or lines + 1
        return count, first
    except (OSError, EOFError, zlib.error):
        return 0, None  # the reader reports an unreadable file itself


def blank_line_note(count: int, first: int | None) -> str:
    return (
        f"{count:,} blank line(s), the first at line {first}, skipped (they are not records): "
        "remove them; readers that parse each line, such as Together's check_file, refuse them"
    )


def jsonl_line(data: bytes) -> bytes | None:
    """A raw JSONL line (without its newline) as a record's payload: without a UTF-8 BOM or a
    trailing CR; None for a blank line, which is not a record."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    data = data.rstrip(b"\r\n")
    return data if data.strip() else None


MAX_LINE_BYTES = 64_000_000  # a longer line is rejected while it streams past, unread
SKIP_CHUNK = 1 << 20


def line_too_long(src: Source, line: int, size: int, complete: bool = True) -> dict:
    """The rejection of a line over ``MAX_LINE_BYTES`` (``size``: its bytes, or at least that)."""
    from pipeline.records import rejection

    more = "" if complete else " or more"
    return rejection(
        src.name,
        line,
        STAGE,
        "ingest.line_too_long",
        f"the line is {size / 1e6:,.0f} MB{more}, over ftprep's limit of "
        f"{MAX_LINE_BYTES / 1e6:,.0f} MB for one record (no provider takes an example near "
        "that size): split it into records, or remove it; it was skipped unread",
    )


def _capped_lines(stream: Any, limit: int) -> Iterator[tuple[bytes | None, int]]:
    """(line, bytes) of a binary or text stream, each read with at most ``limit`` bytes or
    characters in memory; a longer line comes as (None, its size) after the rest of it has been
    skipped, ``SKIP_CHUNK`` at a time."""
    while True:
        data = stream.readline(limit + 1)
        if not data:
            return
        if len(data) <= limit or data.endswith(b"\n" if isinstance(data, bytes) else "\n"):
            yield data, len(data)
            continue
        size, ended = len(data), False
        while not ended:
            rest = stream.readline(SKIP_CHUNK)
            size += len(rest)
            ended = not rest or rest.endswith(b"\n" if isinstance(rest, bytes) else "\n")
        yield None, size


def jsonl_lines(src: Source, encoding: str | None) -> Iterator[Item]:
    line = 0
    with open_binary(src.path, src.compression) as raw:
        # a lone surrogate passes through to its line (as bytes that are not UTF-8), which is
        # then rejected alone, as a line of bad UTF-8 is
        stream = (
            raw
            if encoding is None
            else io.TextIOWrapper(raw, encoding=encoding, errors="surrogatepass", newline="\n")
        )
        try:
            for data, size in _capped_lines(stream, MAX_LINE_BYTES):
                line += 1
                if data is None:
                    yield line_too_long(src, line, size, complete=True)
                    continue
                if encoding is not None:
                    data = data.encode("utf-8", errors="surrogatepass")
                payload = jsonl_line(data)
                if payload is not None:
                    yield line, payload
        except (OSError, EOFError, zlib.error, UnicodeError) as err:
            yield unreadable(src, line + 1, err)
