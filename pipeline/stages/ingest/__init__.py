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

The modules, by input format: ``sources`` (discovery; opening a file and sniffing its first
bytes), ``jsonl``, ``json_documents``, ``csv_tsv`` and ``parquet`` (Parquet and Hugging Face
folders); ``read`` picks a source's reader, ``parse`` parses what the readers yield, ``batches``
hands sources out to the workers. They import ``pipeline.records`` and each other; what the rest
of ftprep uses is imported here.
"""

from pipeline.stages.ingest.batches import (
    Batch,
    LineRange,
    batch_items,
    batched,
    read_batches,
)
from pipeline.stages.ingest.jsonl import blank_line_note, blank_lines, not_json_lines
from pipeline.stages.ingest.parse import MAX_DEPTH, ParseResult, parse_item, parse_line
from pipeline.stages.ingest.read import read_source
from pipeline.stages.ingest.sources import (
    FORMATS,
    STAGE,
    InputError,
    Item,
    Source,
    discover,
    require_regular,
)

__all__ = [
    "FORMATS",
    "MAX_DEPTH",
    "STAGE",
    "Batch",
    "InputError",
    "Item",
    "LineRange",
    "ParseResult",
    "Source",
    "batch_items",
    "batched",
    "blank_line_note",
    "blank_lines",
    "discover",
    "not_json_lines",
    "parse_item",
    "parse_line",
    "read_batches",
    "read_source",
    "require_regular",
]
