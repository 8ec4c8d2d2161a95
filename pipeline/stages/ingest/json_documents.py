"""JSON documents: an array of records, one object, concatenated documents, or JSONL in a .json.

A sliding buffer (``CHUNK_CHARS`` at a time) streams the top-level values of the text, and the
items of a top-level array, each with the file line where it starts: memory holds a chunk and
the record being decoded, never the whole file. A broken array or bad bytes stop the file with
one rejection that says where; the records before it are kept.
"""

from __future__ import annotations

import codecs
import io
import json
import zlib
from collections.abc import Iterator

import orjson

from pipeline.records import rejection
from pipeline.stages.ingest.jsonl import jsonl_lines
from pipeline.stages.ingest.parse import MAX_DEPTH
from pipeline.stages.ingest.sources import (
    STAGE,
    WHITESPACE,
    Item,
    Source,
    open_binary,
    read_head,
    truncate,
)

CHUNK_CHARS = 1 << 20  # characters read at a time by the JSON streamer


class _ReadFailure(Exception):
    """Raised by the JSON chunk reader after the text that could be read has been handed over."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def _text_chunks(src: Source, encoding: str | None) -> Iterator[str]:
    """The file's text in chunks. On bad bytes or a broken stream, first yield the text before the
    fault, then raise ``_ReadFailure``."""
    decoder = codecs.getincrementaldecoder(encoding or "utf-8-sig")(errors="strict")
    offset = 0
    with open_binary(src.path, src.compression) as f:
        while True:
            try:
                data = f.read1(CHUNK_CHARS)  # read1: keep what came before a broken stream
            except (OSError, EOFError, zlib.error) as err:
                raise _ReadFailure(
                    "ingest.unreadable",
                    f"the rest of the file could not be read ({type(err).__name__}: {err}); "
                    "check that the file was copied or downloaded whole",
                ) from err
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as bad:
                yield codecs.decode(data[: bad.start], encoding or "utf-8-sig", "ignore")
                byte = bad.object[bad.start : bad.start + 1].hex()
                raise _ReadFailure(
                    "ingest.invalid_utf8",
                    f"the file is not valid {encoding or 'UTF-8'} (byte 0x{byte} at byte offset "
                    f"{offset + bad.start}); the rest of the file could not be read: "
                    "save the file as UTF-8",
                ) from bad
            offset += len(data)
            if text:
                yield text
            if not data:
                return


class _Buffer:
    """A sliding window over the file's text that knows the file line of every position."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self.chunks = chunks
        self.text = ""
        self.eof = False
        self.line0 = 1  # file line of text[0]
        self.col0 = 0  # characters of that line before text[0]
        self.mark = 0  # a position whose line is known ...
        self.mark_line = 1  # ... and that line
        self.failure: _ReadFailure | None = None  # why the text ended early, if it did

    def more(self, at_least: int = 0) -> bool:
        """Read at least ``at_least`` more characters (one chunk by default, or to the end);
        False at the end."""
        at_least = at_least or CHUNK_CHARS
        got = 0
        while not self.eof and got < at_least:
            try:
                chunk = next(self.chunks)
            except StopIteration:
                self.eof = True
                break
            except _ReadFailure as failure:
                self.failure, self.eof = failure, True
                break
            self.text += chunk
            got += len(chunk)
        return got > 0

    def check(self) -> None:
        """Raise the read failure, if the text ended early because of one."""
        if self.failure is not None:
            raise self.failure

    def drop(self, pos: int) -> None:
        """Forget the text before ``pos``."""
        self.line0 = self.line_at(pos)
        newline = self.text.rfind("\n", 0, pos)
        self.col0 = pos - newline - 1 if newline >= 0 else self.col0 + pos
        self.text = self.text[pos:]
        self.mark, self.mark_line = 0, self.line0

    def line_at(self, pos: int) -> int:
        if pos < self.mark:
            self.mark, self.mark_line = 0, self.line0
        self.mark_line += self.text.count("\n", self.mark, pos)
        self.mark = pos
        return self.mark_line

    def column_at(self, pos: int) -> int:
        newline = self.text.rfind("\n", 0, pos)
        return pos - newline if newline >= 0 else self.col0 + pos + 1

    def skip(self, pos: int, chars: str) -> int:
        """The first position at or after ``pos`` not in ``chars``, reading more as needed."""
        while True:
            n = len(self.text)
            while pos < n and self.text[pos] in chars:
                pos += 1
            if pos < n or not self.more():
                return pos


def read_json(src: Source) -> Iterator[Item]:
    head = read_head(src)
    if isinstance(head, dict):
        yield head
        return
    encoding, body = head
    if _first_line_is_record(src, body, encoding):
        yield from jsonl_lines(src, encoding)  # JSONL in a .json file
        return
    buf = _Buffer(_text_chunks(src, encoding))
    try:
        yield from _json_values(src, buf)
        buf.check()
    except _ReadFailure as fail:
        yield rejection(src.name, buf.line_at(len(buf.text)), STAGE, fail.rule, fail.message)


def _first_line_is_record(src: Source, head: bytes, encoding: str | None) -> bool:
    """Whether the file looks like JSONL: its first line alone is a complete JSON value."""
    text = head.decode(encoding or "utf-8", errors="replace").lstrip(WHITESPACE)
    if not text or text.startswith("["):
        return False
    first = _first_line(src, encoding).strip()
    try:
        orjson.loads(first.encode("utf-8", errors="surrogatepass"))
        return True
    except orjson.JSONDecodeError:
        # {"a": 1,} on line 1 is a bad JSONL line; "{" or {"a": 1, starts a pretty-printed document
        return len(first) > 1 and first.startswith("{") and first.endswith("}")


def _first_line(src: Source, encoding: str | None) -> str:
    """The first non-blank line of the file (one line in memory, however long)."""
    with open_binary(src.path, src.compression) as raw:
        text = io.TextIOWrapper(
            raw, encoding=encoding or "utf-8-sig", errors="replace", newline="\n"
        )
        for line in text:
            if line.strip():
                return line
    return ""


def _json_values(src: Source, buf: _Buffer) -> Iterator[Item]:
    """Stream the top-level values of a JSON text; the items of a top-level array are records."""
    decoder = json.JSONDecoder()
    pos = buf.skip(0, WHITESPACE)
    while pos < len(buf.text):
        if buf.text[pos] == "[":
            pos = yield from _array_items(src, buf, decoder, pos + 1)
        else:
            value, pos = yield from _decode(src, buf, decoder, pos, in_array=False)
            if pos < 0:
                return
            if value is not None:  # None: rejected and skipped
                yield value
        if pos < 0:
            return
        pos = buf.skip(pos, WHITESPACE + ",")


def _array_items(src: Source, buf: _Buffer, decoder: json.JSONDecoder, pos: int):
    """Yield the items of the array that opens before ``pos``; return the position after its
    closing bracket, or -1 when it is broken (after one rejection)."""
    while True:
        pos = buf.skip(pos, WHITESPACE + ",")
        if pos >= len(buf.text):
            buf.check()
            yield rejection(
                src.name,
                buf.line_at(pos),
                STAGE,
                "ingest.invalid_json",
                "the file ends before the JSON array is closed: the items before this line were "
                "kept; check that the file is complete and ends with ]",
            )
            return -1
        if buf.text[pos] == "]":
            return pos + 1
        item, pos = yield from _decode(src, buf, decoder, pos, in_array=True)
        if pos < 0:
            return -1
        if item is not None:  # None: rejected and skipped
            yield item


def _decode(src: Source, buf: _Buffer, decoder: json.JSONDecoder, pos: int, in_array: bool):
    """Decode the value starting at ``pos``, reading more text as needed; return
    ``((line, value), end)``, or ``(None, -1)`` after yielding a rejection."""
    if pos > CHUNK_CHARS:
        buf.drop(pos)
        pos = 0
    while True:
        try:
            value, end = decoder.raw_decode(buf.text, pos)
        except RecursionError:
            end = _value_end(buf.text, pos)
            if end < 0 and not buf.eof:
                buf.more(max(CHUNK_CHARS, len(buf.text)))
                continue
            yield rejection(
                src.name,
                buf.line_at(pos),
                STAGE,
                "ingest.too_deep",
                f"the record nests lists or objects more than {MAX_DEPTH} levels deep: flatten "
                "it (fine-tuning examples need only a few levels)",
            )
            return None, (end if end >= 0 else -1)
        except json.JSONDecodeError as err:
            if not buf.eof and _maybe_incomplete(err, len(buf.text)):
                buf.more(max(CHUNK_CHARS, len(buf.text)))
                continue
            if _maybe_incomplete(err, len(buf.text)):
                buf.check()  # the value was cut by a read failure, not broken
            yield _broken(src, buf, err, pos, in_array)
            return None, -1
        cut = isinstance(value, int | float) and not isinstance(value, bool)
        if cut and end + 32 >= len(buf.text) and not buf.eof:  # "-6" may be "-6.5e10" in full
            buf.more(32)
            continue
        return (buf.line_at(pos), value), end


def _value_end(text: str, pos: int) -> int:
    """Where the JSON array or object starting at ``pos`` ends (brackets counted outside
    strings), or -1 when it does not end within ``text``."""
    depth, i, n = 0, pos, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _maybe_incomplete(err: json.JSONDecodeError, n: int) -> bool:
    # Strings cannot hold a raw newline (strict mode), so an unterminated string means the buffer
    # ends inside it; any other error close to the end of the buffer may be a cut value.
    return err.msg.startswith("Unterminated string") or err.pos >= n - 16


def _broken(src: Source, buf: _Buffer, err: json.JSONDecodeError, start: int, in_array: bool):
    line, column = buf.line_at(err.pos), buf.column_at(err.pos)
    where = "the JSON array" if in_array else "the JSON file"
    return rejection(
        src.name,
        line,
        STAGE,
        "ingest.invalid_json",
        f"{where} is broken at line {line} column {column} ({err.msg}): the records before it "
        "were kept but the rest of the file could not be read; fix the JSON there (often a "
        "missing comma, quote or bracket) or convert the file to JSONL, one record per line",
        raw=truncate(buf.text[start : err.pos + 1]),
    )
