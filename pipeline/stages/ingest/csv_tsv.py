"""CSV and TSV: one record per row, a dict of the header's names to the row's strings.

Rows are read with the csv module in strict mode; the line of a record is the physical line where
its row starts (a quoted field may span lines). A row that cannot be parsed, has more fields than
the header, or holds bytes that are not UTF-8 is a rejection; a short row gets empty strings.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Iterator

from pipeline.records import rejection
from pipeline.stages.ingest.sources import STAGE, Item, Source, open_binary, read_head, unreadable

CSV_FIELD_LIMIT = 1 << 28  # 256 MiB: larger than any real example, small enough to stay bounded


def read_csv(src: Source) -> Iterator[Item]:
    head = read_head(src)
    if isinstance(head, dict):
        yield head
        return
    encoding, _ = head
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    delimiter = "\t" if src.format == "tsv" else ","
    with open_binary(src.path, src.compression) as raw:
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
                yield unreadable(src, start, err)
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
