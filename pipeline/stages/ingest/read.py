"""``read_source``: every record of one source, by its format's reader, never raising for bad input.

Yields ``(line, payload)`` per record, where ``line`` is the 1-based line (or row) where it
starts; JSONL payloads are the undecoded line as ``bytes``, others already parsed values. Whatever
a reader did not foresee becomes one rejection (``ingest.unreadable``) at the line it reached.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.records import rejection
from pipeline.stages.ingest.csv_tsv import read_csv
from pipeline.stages.ingest.json_documents import read_json
from pipeline.stages.ingest.jsonl import json_document, jsonl_lines
from pipeline.stages.ingest.parquet import read_hf, read_parquet
from pipeline.stages.ingest.sources import STAGE, Item, Source, read_head


def read_source(src: Source) -> Iterator[Item]:
    """Yield ``(line, payload)`` for each record of ``src``, or a rejection dict; never raises
    for bad input. JSONL payloads are ``bytes`` (see ``parse_line``); others are parsed values."""
    readers = {
        "jsonl": read_jsonl,
        "json": read_json,
        "csv": read_csv,
        "tsv": read_csv,
        "parquet": read_parquet,
        "hf": read_hf,
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


def read_jsonl(src: Source) -> Iterator[Item]:
    head = read_head(src)
    if isinstance(head, dict):
        yield head
        return
    encoding, body = head
    if json_document(encoding, body):
        yield from read_json(src)  # a pretty-printed JSON document, whatever its name says
        return
    yield from jsonl_lines(src, encoding)
