"""Ingest: find the input files and read each one into raw records, streaming.

Takes a path (a file, a plain folder, or a Hugging Face ``save_to_disk`` folder) and turns it into
``Source`` descriptions with ``discover``; ``read_source`` then streams one source in bounded memory
(a line, a CSV row, a sliding JSON buffer, or one Arrow batch at a time) and yields
``(line, payload)`` for every record, where ``line`` is the 1-based line (or row) where the record
starts. JSONL payloads are the undecoded line as ``bytes``, to be parsed by ``parse_line`` in a
worker process; every other payload is an already parsed Python value. Input files are JSONL,
JSON (an array, one document, concatenated documents, or JSONL in a ``.json`` file), CSV, TSV and
Parquet, each optionally gzipped, plus ``save_to_disk`` folders. Blank JSONL lines are skipped
silently (they are not records). Everything else that cannot be read -- a line that is not valid
UTF-8 or not valid JSON, a CSV row with too many fields, a binary file, a truncated gzip stream, a
broken JSON array or a corrupt Parquet file -- is yielded as a ``rejection`` dict with stage
``ingest`` and never raises; a bad line never stops the lines after it (a broken JSON array or
compressed stream does stop its file, with one rejection saying where). Only usage problems (a
missing path, an explicitly named file of unknown format) raise ``InputError`` from ``discover``.

``read_batches`` hands a source out in batches for worker processes: a plain JSONL file
(uncompressed UTF-8) as ``LineRange`` byte ranges that each worker reads itself (``batch_items``
gives exactly what ``read_source`` would), anything else as lists of ``read_source`` items.
"""

from __future__ import annotations

import base64
import codecs
import csv
import datetime as dt
import decimal
import io
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from pipeline.records import printable, rejection

STAGE = "ingest"
FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "hf")
RAW_LIMIT = 10_000  # characters of a bad line kept in a rejection's ``raw``
HEAD_BYTES = 8192  # bytes looked at to sniff the encoding, format and binary content
CHUNK_CHARS = 1 << 20  # characters read at a time by the JSON streamer
BATCH_ROWS = 2048  # Arrow rows converted to Python at a time
CSV_FIELD_LIMIT = 1 << 28  # 256 MiB: larger than any real example, small enough to stay bounded

ParseResult = tuple[bool, Any]
"""``(True, value)`` for a parsed line, ``(False, rejection_dict)`` for a line that was dropped."""

Item = tuple[int, Any] | dict[str, Any]
"""What ``read_source`` yields: ``(line, payload)`` or a rejection dict."""

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
}
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = codecs.BOM_UTF8
_OTHER_MAGIC = {  # compressed or container formats we do not read, named in the rejection
    b"\x28\xb5\x2f\xfd": "zstd-compressed data",
    b"BZh": "bzip2-compressed data",
    b"\xfd7zXZ\x00": "xz-compressed data",
    b"PK\x03\x04": "a zip archive",
    b"ARROW1": "an Arrow IPC file",
    b"SQLite format 3": "an SQLite database",
}


class InputError(Exception):
    """A usage or I/O problem (missing path, unreadable or unrecognisable file): CLI exit 2."""


@dataclass(frozen=True)
class Source:
    name: str  # shown in every record's ``source``: the path as given, plus "/<split>" for a split
    path: Path  # the file, or the HF dataset folder (a split's folder for a DatasetDict)
    format: str  # one of FORMATS
    compression: str | None  # "gzip" or None


# --------------------------------------------------------------------------- discover


def discover(
    path: Path, name: str | None = None, skipped: list[tuple[str, Path]] | None = None
) -> list[Source]:
    """The sources under ``path``: the file itself, each split of a HF folder, or every supported
    file in a plain folder (recursively, sorted by path, hidden and unknown files skipped; the
    name and path of each unknown one are added to ``skipped`` when given)."""
    path = Path(path)
    base = printable(name if name is not None else _display_name(path))
    if not path.exists():
        raise InputError(f"{base}: no such file or folder; check the path")
    if path.is_dir():
        hf = _hf_sources(path, base)
        if hf is not None:
            return hf
        return _walk(path, base, skipped if skipped is not None else [])
    require_regular(path, base)
    src = _file_source(path, base, explicit=True)
    assert src is not None
    return [src]


def require_regular(path: Path, name: str) -> None:
    """A device, pipe or socket could be read forever (``/dev/zero``): only files are inputs."""
    if path.is_symlink() and not path.exists():
        raise InputError(f"{name}: a broken link: point it at a file or remove it")
    if not path.is_file():
        raise InputError(
            f"{name}: not a regular file (a device, pipe or socket is not read): save the data "
            "to a file, or remove it from the folder"
        )


def _inside(name: Any) -> bool:
    """Whether a name a dataset folder's own JSON gives (a split, a data file) is an entry of
    that folder, not a path out of it."""
    return isinstance(name, str) and name not in ("", ".", "..") and not {"/", "\\"} & set(name)


def _display_name(path: Path) -> str:
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()


def _hf_sources(folder: Path, base: str) -> list[Source] | None:
    """Sources for a ``save_to_disk`` folder, or None if ``folder`` is not one."""
    if (folder / "dataset_dict.json").is_file():
        try:
            splits = json.loads((folder / "dataset_dict.json").read_text("utf-8"))["splits"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(
                f"{base}/dataset_dict.json: cannot read the list of splits ({err}); "
                "save the DatasetDict again with save_to_disk"
            ) from err
        if not isinstance(splits, list) or not all(_inside(s) for s in splits):
            raise InputError(
                f"{base}/dataset_dict.json: its splits must be a list of folder names inside "
                f"{base}, got {str(splits)[:100]}; save the DatasetDict again with save_to_disk"
            )
        return [Source(f"{base}/{s}", folder / s, "hf", None) for s in splits]
    if (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file():
        return [Source(base, folder, "hf", None)]
    return None


def _walk(folder: Path, base: str, skipped: list[tuple[str, Path]]) -> list[Source]:
    prefix = "" if base in ("", ".") else base.rstrip("/") + "/"
    found: list[tuple[str, Source]] = []
    unknown: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        keep = []
        for d in sorted(dirs):
            if d.startswith("."):
                continue
            rel = printable((rel_root / d).as_posix())
            hf = _hf_sources(Path(root) / d, f"{prefix}{rel}")
            if hf is None:
                keep.append(d)
            else:
                found.extend((f"{rel}/{s.name}", s) for s in hf)
        dirs[:] = keep
        for f in files:
            if f.startswith("."):
                continue
            rel = printable((rel_root / f).as_posix())
            require_regular(Path(root) / f, f"{prefix}{rel}")
            src = _file_source(Path(root) / f, f"{prefix}{rel}", explicit=False)
            if src is not None:
                found.append((rel, src))
            else:
                unknown.append((f"{prefix}{rel}", Path(root) / f))
    found.sort(key=lambda pair: pair[0])
    skipped.extend(sorted(unknown))
    return [src for _, src in found]


def _split_ext(path: Path) -> tuple[str | None, bool]:
    """(format from the extension or None, whether the name ends in .gz)."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes = suffixes[:-1]
    return (_EXTENSIONS.get(suffixes[-1]) if suffixes else None), gz


def _file_source(path: Path, name: str, explicit: bool) -> Source | None:
    fmt, _ = _split_ext(path)
    if fmt is None and not explicit:
        return None  # files of unknown type inside a folder are not inputs
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
    except OSError as err:
        raise InputError(
            f"{name}: cannot read the file ({err.strerror}); check its permissions"
        ) from err
    # gzip is told by its magic bytes: a ".gz" name on a plain file is read as plain text
    compression = "gzip" if magic == _GZIP_MAGIC else None
    if fmt is None:
        fmt = _sniff_format(path, compression, name)
    return Source(name, path, fmt, compression)


def _head(path: Path, compression: str | None) -> bytes:
    """The first HEAD_BYTES of a file (decompressed), or as many as a stream cut short holds
    (the reader then keeps the records before the cut)."""
    head = b""
    with _open_binary(path, compression) as f:
        while len(head) < HEAD_BYTES:
            try:
                piece = f.read(min(1024, HEAD_BYTES - len(head)))
            except (EOFError, zlib.error, OSError):  # OSError: gzip.BadGzipFile, trailing bytes
                if not head:
                    raise
                break
            if not piece:
                break
            head += piece
    return head


_NOT_CONTROL = bytes(b for b in range(256) if b >= 0x20 or b in b"\t\n\r\f\x1b")


def _binary(head: bytes) -> bool:
    """Whether a head without a UTF-16/32 byte-order mark is not text: it holds NUL bytes and
    a known container's magic, more than a stray control byte or two (over 1% of the head), or
    bytes that are not UTF-8. A text file with a stray NUL is read, and only the lines with one
    are rejected."""
    if b"\x00" not in head:
        return False
    controls = len(head.translate(None, _NOT_CONTROL))
    if any(head.startswith(magic) for magic in _OTHER_MAGIC) or (
        controls > 2 and controls * 100 > len(head)
    ):
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start < len(head) - 4  # not just a character cut at the end of the head
    return False


def _sniff_format(path: Path, compression: str | None, name: str) -> str:
    try:
        head = _head(path, compression)
    except (OSError, EOFError, zlib.error) as err:
        raise InputError(f"{name}: cannot read the file ({err})") from err
    if head.startswith(b"PAR1"):
        return "parquet"
    encoding, body = _sniff_encoding(head)
    if encoding is None and _binary(head):
        raise InputError(
            f"{name}: cannot tell the format of this binary file ({_what_binary(head)}); "
            "give it a .jsonl, .json, .csv, .tsv or .parquet extension"
        )
    text = body.decode(encoding or "utf-8", errors="replace").lstrip()
    return "json" if text[:1] in ("{", "[") else "jsonl"


# --------------------------------------------------------------------------- reading


def read_source(src: Source) -> Iterator[Item]:
    """Yield ``(line, payload)`` for each record of ``src``, or a rejection dict; never raises
    for bad input. JSONL payloads are ``bytes`` (see ``parse_line``); others are parsed values."""
    readers = {
        "jsonl": _read_jsonl,
        "json": _read_json,
        "csv": _read_csv,
        "tsv": _read_csv,
        "parquet": _read_parquet,
        "hf": _read_hf,
    }
    last = 0
    try:
        for item in readers[src.format](src):
            last = item[0] if isinstance(item, tuple) else item["line"]
            yield item
    except Exception as err:  # the safety net: bad input becomes a rejection, never a traceback
        yield rejection(
            src.name,
            last + 1,
            STAGE,
            "ingest.unreadable",
            f"could not read the file past this point ({type(err).__name__}: {err}); "
            "check that the file is complete and in the format its name says",
        )


def _open_binary(path: Path, compression: str | None) -> IO[bytes]:
    if compression == "gzip":
        import gzip

        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _sniff_encoding(head: bytes) -> tuple[str | None, bytes]:
    """(a non-UTF-8 encoding announced by a BOM, or None; the head without a UTF-8 BOM)."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32", head
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", head
    if head.startswith(_UTF8_BOM):
        return None, head[len(_UTF8_BOM) :]
    return None, head


def _what_binary(head: bytes) -> str:
    for magic, what in _OTHER_MAGIC.items():
        if head.startswith(magic):
            return f"it looks like {what}"
    return "it contains NUL bytes"


_TEXT_EXPECTED = {
    "jsonl": "JSON Lines text (one JSON object per line, UTF-8)",
    "json": "JSON text (UTF-8)",
    "csv": "CSV text (UTF-8)",
    "tsv": "tab-separated text (UTF-8)",
}


def _read_head(src: Source) -> tuple[str | None, bytes] | dict[str, Any]:
    """(encoding, head) of a text source, or the one rejection for a binary/unreadable file."""
    try:
        head = _head(src.path, src.compression)
    except (OSError, EOFError, zlib.error) as err:
        return _unreadable(src, 1, err)
    encoding, body = _sniff_encoding(head)
    if encoding is None and _binary(head):
        return rejection(
            src.name,
            1,
            STAGE,
            "ingest.binary_file",
            f"this is a binary file ({_what_binary(head)}), expected "
            f"{_TEXT_EXPECTED[src.format]}; convert it to text or give it the right extension",
        )
    return encoding, body


def _unreadable(src: Source, line: int, err: BaseException) -> dict[str, Any]:
    what = "gzip stream" if src.compression == "gzip" else "file"
    return rejection(
        src.name,
        line,
        STAGE,
        "ingest.unreadable",
        f"the {what} could not be read from this line on ({type(err).__name__}: {err}); "
        "the records before it were kept: check that the file was copied or downloaded whole",
    )


def _truncate(text: str) -> str:
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT]


# ----- JSONL


def _read_jsonl(src: Source) -> Iterator[Item]:
    head = _read_head(src)
    if isinstance(head, dict):
        yield head
        return
    encoding, body = head
    if _json_document(encoding, body):
        yield from _read_json(src)  # a pretty-printed JSON document, whatever its name says
        return
    yield from _jsonl_lines(src, encoding)


def not_json_lines(src: Source) -> str | None:
    """What keeps a source from being UTF-8 JSON Lines, the form most providers take, with what
    to do; None when it is (or cannot be read: its rejection says why)."""
    if src.compression:
        return "gzip-compressed: upload the uncompressed .jsonl file"
    convert = "convert it to JSON Lines, one JSON object per line (`ftprep run` writes them)"
    if src.format not in ("json", "jsonl"):
        return f"{src.format.upper()}: {convert}"
    head = _read_head(src)
    if isinstance(head, dict):
        return None
    if src.format == "json" or _json_document(*head):
        return f"a JSON document (an array or a pretty-printed object): {convert}"
    if head[0] is not None:
        return "UTF-16 or UTF-32 text: save it as UTF-8"
    return None


def _json_document(encoding: str | None, head: bytes) -> bool:
    """Whether a .jsonl file's head shows a pretty-printed JSON document (a lone bracket on the
    first line) rather than JSON Lines."""
    text = head.decode(encoding or "utf-8", errors="replace").lstrip(_WS)
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
        with _open_binary(path, "gzip" if gzipped else None) as raw:
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


def _jsonl_line(data: bytes) -> bytes | None:
    """A raw JSONL line (without its newline) as a record's payload: without a UTF-8 BOM or a
    trailing CR; None for a blank line, which is not a record."""
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    data = data.rstrip(b"\r\n")
    return data if data.strip() else None


def _jsonl_lines(src: Source, encoding: str | None) -> Iterator[Item]:
    line = 0
    with _open_binary(src.path, src.compression) as raw:
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
                payload = _jsonl_line(data)
                if payload is not None:
                    yield line, payload
        except (OSError, EOFError, zlib.error, UnicodeError) as err:
            yield _unreadable(src, line + 1, err)


# ----- batches


def batched(items: Iterator | list, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class LineRange:
    """A batch of a plain JSONL file that a worker reads itself: the lines in bytes ``[start,
    stop)`` of ``path``, the first of them line number ``first``. Handing workers ranges instead
    of lines spares the main process splitting, copying and pickling every line."""

    name: str
    path: str
    start: int
    stop: int
    first: int

    def items(self) -> list[Item]:
        """What ``read_source`` yields for these lines."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.start)
                data = f.read(self.stop - self.start)
            if len(data) != self.stop - self.start:
                raise OSError("the file became shorter while it was read")
        except OSError as err:
            return [_unreadable(Source(self.name, Path(self.path), "jsonl", None), self.first, err)]
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()  # the empty rest after the last newline is not a line
        items: list[Item] = []
        for number, raw in enumerate(lines, self.first):
            payload = _jsonl_line(raw)
            if payload is not None:
                items.append((number, payload))
        return items


Batch = list[Item] | LineRange
"""What ``read_batches`` yields and ``batch_items`` reads: items, or lines for a worker to read."""

RANGE_BLOCK = 1 << 20  # bytes of a plain JSONL file scanned for line ends at a time
RANGE_BYTES = 16 << 20  # a range ends early at a line end past this size (large records)


def read_batches(src: Source, size: int) -> Iterator[Batch]:
    """The records of ``src`` in batches: ``size`` lines at a time (fewer when they pass
    ``RANGE_BYTES``) as a ``LineRange`` for a plain JSONL file (uncompressed UTF-8 text), else
    ``size`` items of ``read_source`` at a time."""
    if _plain_jsonl(src):
        yield from _line_ranges(src, size)
    else:
        yield from batched(read_source(src), size)


def batch_items(batch: Batch) -> list[Item]:
    return batch.items() if isinstance(batch, LineRange) else batch


def _plain_jsonl(src: Source) -> bool:
    """Whether ``src`` is JSONL that workers can read by byte ranges: uncompressed, UTF-8 (no
    UTF-16/32 byte-order mark), text, and not a pretty-printed JSON document."""
    if src.format != "jsonl" or src.compression is not None or not src.path.is_file():
        return False
    head = _read_head(src)
    return not isinstance(head, dict) and head[0] is None and not _json_document(*head)


def _line_ranges(src: Source, size: int) -> Iterator[Batch]:
    """``LineRange`` batches of ``size`` lines (the last one shorter; one also ends at the last
    line end of a block that takes it past ``RANGE_BYTES``, so large records come in smaller
    batches), found by scanning the file's newlines a block at a time (in C: nothing per line
    here). A read error ends the file with one rejection, as ``read_source`` does."""
    import numpy as np

    path = str(src.path)
    start = 0  # where the current batch starts
    first = 1  # its first line's number
    counted = 0  # newlines seen since ``start``
    offset = 0  # of the block in the file
    try:
        with open(path, "rb") as f:
            while block := f.read(RANGE_BLOCK):
                ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
                cuts = ends[size - counted - 1 :: size]
                for cut in cuts.tolist():
                    stop = offset + cut + 1
                    yield LineRange(src.name, path, start, stop, first)
                    start, first = stop, first + size
                counted += len(ends) - size * len(cuts)
                last = offset + int(ends[-1]) + 1 if len(ends) else start
                if last - start >= RANGE_BYTES:  # every newline counted lies before ``last``
                    yield LineRange(src.name, path, start, last, first)
                    start, first, counted = last, first + counted, 0
                offset += len(block)
    except OSError as err:
        yield [_unreadable(src, first, err)]
        return
    if offset > start:
        yield LineRange(src.name, path, start, offset, first)


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
            raw=_truncate(payload.decode("utf-8", errors="replace"))
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
        raw = _truncate(data.decode("utf-8", errors="replace"))
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


# ----- JSON


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
    with _open_binary(src.path, src.compression) as f:
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


_WS = " \t\r\n"


def _read_json(src: Source) -> Iterator[Item]:
    head = _read_head(src)
    if isinstance(head, dict):
        yield head
        return
    encoding, body = head
    if _first_line_is_record(src, body, encoding):
        yield from _jsonl_lines(src, encoding)  # JSONL in a .json file
        return
    buf = _Buffer(_text_chunks(src, encoding))
    try:
        yield from _json_values(src, buf)
        buf.check()
    except _ReadFailure as fail:
        yield rejection(src.name, buf.line_at(len(buf.text)), STAGE, fail.rule, fail.message)


def _first_line_is_record(src: Source, head: bytes, encoding: str | None) -> bool:
    """Whether the file looks like JSONL: its first line alone is a complete JSON value."""
    text = head.decode(encoding or "utf-8", errors="replace").lstrip(_WS)
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
    with _open_binary(src.path, src.compression) as raw:
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
    pos = buf.skip(0, _WS)
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
        pos = buf.skip(pos, _WS + ",")


def _array_items(src: Source, buf: _Buffer, decoder: json.JSONDecoder, pos: int):
    """Yield the items of the array that opens before ``pos``; return the position after its
    closing bracket, or -1 when it is broken (after one rejection)."""
    while True:
        pos = buf.skip(pos, _WS + ",")
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
        raw=_truncate(buf.text[start : err.pos + 1]),
    )


# ----- CSV / TSV


def _read_csv(src: Source) -> Iterator[Item]:
    head = _read_head(src)
    if isinstance(head, dict):
        yield head
        return
    encoding, _ = head
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    delimiter = "\t" if src.format == "tsv" else ","
    with _open_binary(src.path, src.compression) as raw:
        text = io.TextIOWrapper(
            raw, encoding=encoding or "utf-8-sig", errors="surrogateescape", newline=""
        )
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        header: list[str] | None = None
        done = 0  # physical lines read so far
        while True:
            start = done + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except (OSError, EOFError, zlib.error) as err:
                yield _unreadable(src, start, err)
                return
            except csv.Error as err:
                if reader.line_num <= done:
                    raise
                done = reader.line_num
                message = f"row cannot be parsed ({err}): quote fields that contain the "
                message += f"delimiter {delimiter!r}, a quote (doubled) or a line break"
                if "unexpected end of data" in str(err):
                    message = (
                        f"a quoted field opened on this row is never closed, so lines {start} to "
                        f"{done} (the end of the file) were read into it: close the quote, and "
                        "double the quotes inside quoted fields"
                    )
                yield rejection(src.name, start, STAGE, "ingest.csv_row", message)
                continue
            done = reader.line_num
            if not row:
                continue  # a blank line
            if header is None:
                header = _unique([_fix_text(c) for c in row])
                continue
            bad = _undecodable(row, header)
            if bad is not None:
                yield rejection(
                    src.name,
                    start,
                    STAGE,
                    "ingest.invalid_utf8",
                    f"{bad}: save the file as UTF-8",
                    raw=[_fix_text(c) for c in row],
                )
            elif len(row) > len(header):
                yield rejection(
                    src.name,
                    start,
                    STAGE,
                    "ingest.csv_row",
                    f"row has {len(row)} fields but the header has {len(header)}: quote fields "
                    f"that contain the delimiter {delimiter!r}, a quote or a line break",
                    raw=row,
                )
            else:
                record = dict(zip(header, row, strict=False))
                for col in header[len(row) :]:
                    record[col] = ""
                yield start, record


def _unique(names: list[str]) -> list[str]:
    """Header names made unique the way pandas does it (a, a.1, a.2), so no cell is lost."""
    seen: set[str] = set()
    out = []
    for name in names:
        new, n = name, 0
        while new in seen:
            n += 1
            new = f"{name}.{n}"
        seen.add(new)
        out.append(new)
    return out


def _fix_text(text: str) -> str:
    """A string read with surrogateescape, with undecodable bytes replaced by U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _undecodable(row: list[str], header: list[str]) -> str | None:
    for i, cell in enumerate(row):
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError as bad:
            column = header[i] if i < len(header) else f"#{i + 1}"
            raw = cell.encode("utf-8", "surrogateescape")
            offset = len(cell[: bad.start].encode("utf-8", "surrogateescape"))
            return (
                f"column {column!r} is not valid UTF-8 "
                f"(byte 0x{raw[offset : offset + 1].hex()} at byte offset {offset} of the field)"
            )
    return None


# ----- Parquet and Hugging Face folders


def _read_parquet(src: Source) -> Iterator[Item]:
    import pyarrow.parquet as pq

    tmp = None
    row = 0
    try:
        path = src.path
        if src.compression == "gzip":  # Parquet needs random access: decompress to a temp file
            tmp = tempfile.NamedTemporaryFile(suffix=".parquet", delete=False)
            with tmp, _open_binary(src.path, "gzip") as f:
                shutil.copyfileobj(f, tmp)
            path = Path(tmp.name)
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            for record in _batch_rows(batch):
                row += 1
                yield row, record
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for corrupt files
        yield _unreadable(src, row + 1, err)
    finally:
        if tmp is not None:
            os.unlink(tmp.name)


def _read_hf(src: Source) -> Iterator[Item]:
    import pyarrow as pa

    row = 0
    try:
        state = json.loads((src.path / "state.json").read_text("utf-8"))
        files = [entry["filename"] for entry in state["_data_files"]]
        for name in files:
            if not _inside(name):
                raise ValueError(f"a data file name must be a file in the folder, not {name!r}")
    except (OSError, ValueError, KeyError, TypeError) as err:
        yield rejection(
            src.name,
            1,
            STAGE,
            "ingest.unreadable",
            f"cannot read the dataset's state.json ({type(err).__name__}: {err}); "
            "save the dataset again with save_to_disk",
        )
        return
    try:
        for filename in files:
            with pa.OSFile(
                str(src.path / filename), "rb"
            ) as mm:  # streamed reads, not mapped pages
                for batch in pa.ipc.open_stream(mm):
                    for offset in range(0, batch.num_rows, BATCH_ROWS):
                        for record in _batch_rows(batch.slice(offset, BATCH_ROWS)):
                            row += 1
                            yield row, record
    except Exception as err:  # a missing or corrupt .arrow file
        yield _unreadable(src, row + 1, err)


def _batch_rows(batch: Any) -> list[dict[str, Any]]:
    rows = batch.to_pylist()
    if _needs_conversion(batch.schema):
        rows = [_jsonable(r) for r in rows]
    return rows


def _needs_conversion(schema: Any) -> bool:
    import pyarrow as pa

    def plain(t: Any) -> bool:
        if pa.types.is_struct(t):
            return all(plain(t.field(i).type) for i in range(t.num_fields))
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            return plain(t.value_type)
        return (
            pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
            or pa.types.is_null(t)
        )

    return not all(plain(field.type) for field in schema)


def _jsonable(value: Any) -> Any:
    """A JSON-able copy of an Arrow value: bytes become UTF-8 text (or base64), dates ISO text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(data).decode("ascii")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
