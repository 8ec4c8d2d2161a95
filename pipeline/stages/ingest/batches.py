"""Batches of a source for the worker processes.

``read_batches`` hands out a plain JSONL file (uncompressed UTF-8, not a pretty-printed document)
as ``LineRange`` byte ranges that each worker reads itself (``batch_items`` gives exactly what
``read_source`` would), found by scanning for newlines a block at a time; anything else as lists
of ``read_source`` items.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.stages.ingest.jsonl import (
    MAX_LINE_BYTES,
    SKIP_CHUNK,
    json_document,
    jsonl_line,
    line_too_long,
)
from pipeline.stages.ingest.read import read_source
from pipeline.stages.ingest.sources import Item, Source, read_head, unreadable


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
            return [unreadable(Source(self.name, Path(self.path), "jsonl", None), self.first, err)]
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()  # the empty rest after the last newline is not a line
        items: list[Item] = []
        for number, raw in enumerate(lines, self.first):
            payload = jsonl_line(raw)
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
    head = read_head(src)
    return not isinstance(head, dict) and head[0] is None and not json_document(*head)


def _line_ranges(src: Source, size: int) -> Iterator[Batch]:
    """``LineRange`` batches of ``size`` lines (the last one shorter; one also ends at the last
    line end of a block that takes it past ``RANGE_BYTES``, so large records come in smaller
    batches), found by scanning the file's newlines a block at a time (in C: nothing per line
    here). A line over ``MAX_LINE_BYTES`` is skipped where it lies, as a batch of its one
    rejection. A read error ends the file with one rejection, as ``read_source`` does."""
    import numpy as np

    path = str(src.path)
    start = 0  # where the current batch starts
    first = 1  # its first line's number
    counted = 0  # newlines seen since ``start``
    offset = 0  # of the block in the file
    line_start = 0  # where the line not yet ended starts
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
                if len(ends):
                    line_start = offset + int(ends[-1]) + 1
                if line_start - start >= RANGE_BYTES:  # every newline counted lies before it
                    yield LineRange(src.name, path, start, line_start, first)
                    start, first, counted = line_start, first + counted, 0
                offset += len(block)
                if offset - line_start > MAX_LINE_BYTES:  # the unended line is too long
                    if line_start > start:
                        yield LineRange(src.name, path, start, line_start, first)
                        first += counted
                    end, complete = _skip_line(f)
                    length = end - line_start - complete  # without its newline
                    yield [line_too_long(src, first, length, complete)]
                    start = line_start = offset = end
                    first, counted = first + 1, 0
                    f.seek(end)
    except OSError as err:
        yield [unreadable(src, first, err)]
        return
    if offset > start:
        yield LineRange(src.name, path, start, offset, first)


def _skip_line(f) -> tuple[int, bool]:
    """Read on to the end of the current line: (the position after its newline, or the end of
    the file; whether a newline ended it)."""
    while chunk := f.read(SKIP_CHUNK):
        at = chunk.find(b"\n")
        if at >= 0:
            return f.tell() - len(chunk) + at + 1, True
    return f.tell(), False
