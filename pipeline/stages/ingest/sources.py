"""Sources: the input files a path names, and opening one to look at its first bytes.

``discover`` turns a path (a file, a plain folder, or a Hugging Face ``save_to_disk`` folder)
into ``Source`` descriptions (a folder: every supported file in it, recursively, sorted by path;
hidden files left out, files of other extensions named in ``skipped``). A file's format comes from
its extension, or from its content when it is named explicitly; gzip is told by its magic bytes.
Only usage problems raise ``InputError`` (exit 2): a missing path, a device, an explicitly named
binary file of unknown format. ``read_head`` sniffs a text source's encoding (a byte-order mark)
and tells a binary file; ``unreadable`` is the one rejection of a file that cannot be read on.
"""

from __future__ import annotations

import codecs
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pipeline.records import printable, rejection

STAGE = "ingest"
FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "hf")
RAW_LIMIT = 10_000  # characters of a bad line kept in a rejection's ``raw``
HEAD_BYTES = 8192  # bytes looked at to sniff the encoding, format and binary content
WHITESPACE = " \t\r\n"

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
UTF8_BOM = codecs.BOM_UTF8
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


def inside(name: Any) -> bool:
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
        if not isinstance(splits, list) or not all(inside(s) for s in splits):
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
    with open_binary(path, compression) as f:
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


def open_binary(path: Path, compression: str | None) -> IO[bytes]:
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
    if head.startswith(UTF8_BOM):
        return None, head[len(UTF8_BOM) :]
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


def read_head(src: Source) -> tuple[str | None, bytes] | dict[str, Any]:
    """(encoding, head) of a text source, or the one rejection for a binary/unreadable file."""
    try:
        head = _head(src.path, src.compression)
    except (OSError, EOFError, zlib.error) as err:
        return unreadable(src, 1, err)
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


def unreadable(src: Source, line: int, err: BaseException) -> dict[str, Any]:
    what = "gzip stream" if src.compression == "gzip" else "file"
    return rejection(
        src.name,
        line,
        STAGE,
        "ingest.unreadable",
        f"the {what} could not be read from this line on ({type(err).__name__}: {err}); "
        "the records before it were kept: check that the file was copied or downloaded whole",
    )


def truncate(text: str) -> str:
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT]
