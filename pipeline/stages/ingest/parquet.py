"""Parquet files and Hugging Face ``save_to_disk`` folders (Arrow IPC streams), in Arrow batches.

Each batch of ``BATCH_ROWS`` rows becomes Python records; values JSON cannot hold (bytes, dates,
decimals) are made JSON-able. A gzipped Parquet file is decompressed to a temporary file first
(Parquet needs random access). A corrupt file ends with one rejection; the rows before it are kept.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.records import rejection
from pipeline.stages.ingest.sources import STAGE, Item, Source, inside, open_binary, unreadable

BATCH_ROWS = 2048  # Arrow rows converted to Python at a time


def read_parquet(src: Source) -> Iterator[Item]:
    import pyarrow.parquet as pq

    tmp = None
    row = 0
    try:
        path = src.path
        if src.compression == "gzip":  # Parquet needs random access: decompress to a temp file
            tmp = tempfile.NamedTemporaryFile(suffix=".parquet", delete=False)
            with tmp, open_binary(src.path, "gzip") as f:
                shutil.copyfileobj(f, tmp)
            path = Path(tmp.name)
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            for record in _batch_rows(batch):
                row += 1
                yield row, record
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for corrupt files
        yield unreadable(src, row + 1, err)
    finally:
        if tmp is not None:
            os.unlink(tmp.name)


def read_hf(src: Source) -> Iterator[Item]:
    import pyarrow as pa

    row = 0
    try:
        state = json.loads((src.path / "state.json").read_text("utf-8"))
        files = [entry["filename"] for entry in state["_data_files"]]
        for name in files:
            if not inside(name):
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
        yield unreadable(src, row + 1, err)


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
