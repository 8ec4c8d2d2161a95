"""JSON Lines: one record per line, read as undecoded bytes (parsed later, in the workers).

``jsonl_lines`` yields ``(line, bytes)`` for every non-blank line (without a UTF-8 byte-order mark
or a trailing CR; UTF-16/32 text re-encoded to UTF-8); a read error ends the file with one
rejection. Blank lines are not records: ``blank_lines`` counts them once per file, for a note.
``not_json_lines`` says what keeps a file from being the UTF-8 JSON Lines most providers take.
"""

from __future__ import annotations

import codecs
import io
import zlib
from collections.abc import Iterator
from pathlib import Path

from pipeline.stages.ingest.sources import (
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


def blank_lines(path: Path, fmt: str) -> tuple[int, int | None]:
    """(how many blank lines, the first one's number) of a JSON Lines file in UTF-8 (gzip or
    not): they are not records and are skipped, and the reader says so once per file. Other
    formats and encodings: (0, None)."""
    if fmt != "jsonl":
        return 0, None
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        count, first = 0, None
        with open_binary(path, "gzip" if gzipped else None) as raw:
            for number, data in enumerate(raw, 1):
                if number == 1 and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    return 0, None
                if not data.strip(b" \t\r\n\xef\xbb\xbf"):
                    count += 1
                    first = first or number
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


def jsonl_lines(src: Source, encoding: str | None) -> Iterator[Item]:
    line = 0
    with open_binary(src.path, src.compression) as raw:
        lines: Iterator[bytes]
        if encoding is None:
            lines = iter(raw)
        else:
            # a lone surrogate passes through to its line (as bytes that are not UTF-8), which
            # is then rejected alone, as a line of bad UTF-8 is
            text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogatepass", newline="\n")
            lines = (s.encode("utf-8", errors="surrogatepass") for s in text)
        try:
            for data in lines:
                line += 1
                payload = jsonl_line(data)
                if payload is not None:
                    yield line, payload
        except (OSError, EOFError, zlib.error, UnicodeError) as err:
            yield unreadable(src, line + 1, err)
