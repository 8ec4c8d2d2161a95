"""The artifacts of a run: explicit Arrow schemas, JSONL writers and the atomic output folder.

Parquet files hold canonical Examples under ``EXAMPLE_SCHEMA`` (never inferred from the rows).
Values that have no fixed type (content parts, tool calls, tools, meta, unknown message keys) are
stored as JSON text. The output folder is written aside and renamed into place, so an interrupted
run leaves the previous artifacts whole.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import orjson

from pipeline.records import plain_message

ARTIFACTS = (
    "train.jsonl",
    "validation.jsonl",
    "train.parquet",
    "validation.parquet",
    "rejected.jsonl",
    "duplicates.jsonl",
    "conflicts.jsonl",
    "report.html",  # not with --no-report
    "manifest.json",
)
OPTIONAL_ARTIFACTS = ("contaminated.jsonl",)  # written when asked (--decontaminate)
_MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "weight", "reasoning")


def _message_type():
    import pyarrow as pa

    return pa.list_(
        pa.struct(
            [
                ("role", pa.string()),
                ("content", pa.string()),
                ("parts", pa.string()),
                ("name", pa.string()),
                ("tool_calls", pa.string()),
                ("tool_call_id", pa.string()),
                ("weight", pa.int64()),
                ("reasoning", pa.string()),
                ("extra", pa.string()),
            ]
        )
    )


@functools.lru_cache(maxsize=2)
def example_schema(with_rendered: bool = False):
    import pyarrow as pa

    messages = _message_type()
    fields = [
        ("id", pa.string()),
        ("source", pa.string()),
        ("line", pa.int64()),
        ("kind", pa.string()),
        ("messages", messages),
        ("tools", pa.string()),
        ("parallel_tool_calls", pa.bool_()),
        ("chosen", messages),
        ("rejected", messages),
        ("completion", messages),
        ("label", pa.bool_()),
        ("text", pa.string()),
        ("meta", pa.string()),
        ("n_tokens", pa.int64()),
        ("n_trained_tokens", pa.int64()),
        ("n_reasoning_tokens", pa.int64()),
        ("cluster", pa.string()),
        ("split", pa.string()),
    ]
    if with_rendered:
        fields.append(("rendered", pa.binary()))
    return pa.schema(fields)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else dumps(value).decode()


_EMPTY_FIELDS = (None,) * 7
_INT64 = (-(2**63), 2**63)


def _message_values(m: Any) -> tuple:
    """One message as the values of the message struct's fields, in ``_message_type`` order."""
    if plain_message(m):
        return (m["role"], m["content"], *_EMPTY_FIELDS)
    if not isinstance(m, dict):
        return (None, None, None, None, None, None, None, None, _json_or_none(m))
    role, content, name = m.get("role"), m.get("content"), m.get("name")
    weight = m.get("weight")
    int_weight = (
        weight
        if isinstance(weight, int)
        and not isinstance(weight, bool)
        and _INT64[0] <= weight < _INT64[1]
        else None
    )  # any other weight is kept in ``extra``
    extra = {k: v for k, v in m.items() if k not in _MESSAGE_KEYS}
    if weight is not None and int_weight is None:
        extra["weight"] = weight
    reasoning = m.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, str):
        extra["reasoning"], reasoning = reasoning, None
    return (
        role if isinstance(role, str) else _json_or_none(role),
        content if isinstance(content, str) else None,
        _json_or_none(content) if content is not None and not isinstance(content, str) else None,
        name if isinstance(name, str) else None,
        _json_or_none(m.get("tool_calls")),
        m.get("tool_call_id") if isinstance(m.get("tool_call_id"), str) else None,
        int_weight,
        reasoning,
        _json_or_none(extra) if extra else None,
    )


class _PlainMessages(list):
    """Messages that are all a role and a content string and nothing else: Arrow converts these
    dicts to the message struct itself (missing fields null), many times faster than tuples."""


def _messages_values(messages: Any) -> list | None:
    """A message column's value for one row: None, the messages as they are when all are plain
    (``_PlainMessages``), else one tuple of struct fields per message."""
    if messages is None:
        return None
    if all(map(plain_message, messages)):
        return _PlainMessages(messages)
    return [_message_values(m) for m in messages]


_MESSAGE_COLUMNS = ("messages", "chosen", "rejected", "completion")


def _row_values(ex: dict[str, Any], with_rendered: bool) -> tuple:
    """An Example's values in ``example_schema()`` column order (message columns as
    ``_messages_values`` gives them)."""
    values = (
        ex["id"],
        ex["source"],
        ex["line"],
        ex["kind"],
        _messages_values(ex["messages"]),
        _json_or_none(ex.get("tools")),
        ex.get("parallel_tool_calls"),
        _messages_values(ex.get("chosen")),
        _messages_values(ex.get("rejected")),
        _messages_values(ex.get("completion")),
        ex.get("label"),
        ex.get("text"),
        _json_or_none(ex.get("meta") or None),
        ex.get("n_tokens"),
        ex.get("n_trained_tokens"),
        ex.get("n_reasoning_tokens"),
        ex.get("cluster"),
        ex.get("split"),
    )
    return (*values, ex.get("rendered")) if with_rendered else values


class ExampleBatch:
    """Examples -> one Arrow RecordBatch of ``example_schema()``, built column by column (many
    times faster than a batch from row dicts). ``add`` is all or nothing: an Example whose values
    cannot be encoded raises and leaves the batch as it was."""

    def __init__(self, with_rendered: bool = False):
        self.with_rendered = with_rendered
        self.schema = example_schema(with_rendered)
        self.rows: list[tuple] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, ex: dict[str, Any]) -> None:
        self.rows.append(_row_values(ex, self.with_rendered))

    def to_arrow(self):
        import pyarrow as pa

        columns = list(zip(*self.rows, strict=True)) if self.rows else [[]] * len(self.schema)
        arrays = []
        for field, values in zip(self.schema, columns, strict=True):
            if field.name in _MESSAGE_COLUMNS:
                arrays.append(_messages_array(values, field.type))
            else:
                arrays.append(pa.array(values, field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _messages_array(values: tuple, list_type: Any):
    """A list<struct> column from ``_messages_values`` of each row (None for a null row)."""
    import pyarrow as pa

    if all(v is None or type(v) is _PlainMessages for v in values):
        return pa.array(values, list_type)
    values = tuple(
        [_message_values(m) for m in v] if type(v) is _PlainMessages else v for v in values
    )
    offsets = [0]
    flat: list[tuple] = []
    for messages in values:
        if messages:
            flat.extend(messages)
        offsets.append(len(flat))
    struct_type = list_type.value_type
    fields = list(zip(*flat, strict=True)) if flat else [[]] * struct_type.num_fields
    struct = pa.StructArray.from_arrays(
        [pa.array(v, f.type) for v, f in zip(fields, struct_type, strict=True)],
        fields=list(struct_type),
    )
    mask = pa.array([m is None for m in values], pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), struct, mask=mask)


class JsonlWriter:
    """Appends one JSON value (or pre-encoded bytes) per line, counting the lines and hashing the
    bytes as they go (the manifest need not read the file back)."""

    def __init__(self, path: Path, bom: bool = False):
        self.path = path
        self.records = 0
        self._file = open(path, "wb")
        self._digest = hashlib.sha256()
        if bom:  # Azure OpenAI expects UTF-8 with a byte-order mark
            self._put(b"\xef\xbb\xbf")

    def _put(self, data: bytes | memoryview) -> None:
        self._file.write(data)
        self._digest.update(data)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def write(self, value: Any) -> None:
        self._put((value if isinstance(value, bytes) else dumps(value)) + b"\n")
        self.records += 1

    def write_lines(self, lines, rows) -> Any:
        """Whole lines (each ending in a newline) from an Arrow binary array: those where the
        bool array ``rows`` is true, gathered by Arrow into one buffer and written at once.
        Returns the lines written (an Arrow array)."""
        import numpy as np
        import pyarrow as pa

        if lines.null_count:
            raise ValueError("internal error: a rendered line is missing")
        part = lines if rows.all() else lines.filter(pa.array(rows))
        n = len(part)
        if not n:
            return part
        offsets = np.frombuffer(part.buffers()[1], dtype=np.int32)[
            part.offset : part.offset + n + 1
        ]
        self._put(memoryview(part.buffers()[2])[int(offsets[0]) : int(offsets[-1])])
        self.records += n
        return part

    def close(self) -> None:
        self._file.close()


class ParquetSink:
    """Canonical Examples to one Parquet file, in row groups of exactly ``ROW_GROUP_ROWS`` rows
    (the last one shorter), whatever the sizes of the batches written.

    Batches are buffered until a row group is full: thousands of tiny row groups would keep a
    footer entry each, in memory until the file closes. Full row groups are encoded and
    compressed in a background thread (Arrow releases the GIL), one write in flight at a time.
    Statistics are kept for the scalar columns only; min/max of message text would make the
    footer as large as the data. Dictionary encoding is kept for the columns whose values repeat
    (roles, source, split, tools...): for ids and free text it only builds a dictionary that
    Parquet then abandons, work for nothing (about 5% of the encoding)."""

    ROW_GROUP_ROWS = 2048
    STATISTICS = [
        "id",
        "source",
        "line",
        "kind",
        "label",
        "n_tokens",
        "n_trained_tokens",
        "n_reasoning_tokens",
        "cluster",
        "split",
    ]
    UNIQUE = {"id", "line", "cluster", "content", "parts", "tool_calls", "tool_call_id", "text"}

    def __init__(self, path: Path, schema):
        from concurrent.futures import ThreadPoolExecutor

        import pyarrow.parquet as pq

        self.schema = schema
        self._writer = pq.ParquetWriter(
            path,
            schema,
            write_statistics=self.STATISTICS,
            use_dictionary=[
                p for p in _leaf_paths(schema) if p.rsplit(".", 1)[-1] not in self.UNIQUE
            ],
        )
        self._buffer: list = []
        self._rows = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ftprep-parquet")
        self._pending = None

    def write(self, batch) -> None:
        self._buffer.append(batch)
        self._rows += batch.num_rows
        if self._rows >= self.ROW_GROUP_ROWS:
            self._flush(last=False)

    def _flush(self, last: bool) -> None:
        import pyarrow as pa

        table = pa.Table.from_batches(self._buffer, schema=self.schema)
        ready = table.num_rows if last else table.num_rows - table.num_rows % self.ROW_GROUP_ROWS
        if ready:
            self._wait()
            self._pending = self._thread.submit(self._write, table.slice(0, ready))
        rest = table.slice(ready)
        self._buffer, self._rows = rest.to_batches(), rest.num_rows

    def _write(self, table) -> None:
        """Full row groups, each from one contiguous chunk per column: how the rows came in
        batches then leaves no trace in the file's bytes."""
        for start in range(0, table.num_rows, self.ROW_GROUP_ROWS):
            group = table.slice(start, self.ROW_GROUP_ROWS).combine_chunks()
            self._writer.write_table(group, self.ROW_GROUP_ROWS)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        try:
            if self._rows:
                self._flush(last=True)
            self._wait()
        finally:
            self._thread.shutdown(wait=True)
            self._writer.close()


def _leaf_paths(schema) -> list[str]:
    """The Parquet column paths of an Arrow schema's leaves (``messages.list.element.role``)."""
    import pyarrow as pa

    def walk(name: str, type_) -> list[str]:
        if pa.types.is_list(type_):
            return walk(f"{name}.list.element", type_.value_type)
        if pa.types.is_struct(type_):
            return [p for f in type_ for p in walk(f"{name}.{f.name}", f.type)]
        return [name]

    return [p for f in schema for p in walk(f.name, f.type)]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def staging_path(out: Path) -> Path:
    """Where this process writes a run before renaming it to ``out``."""
    return out.parent / f".{out.name}.partial-{os.getpid()}"


def staging_dir(out: Path) -> Path:
    """A fresh folder beside ``out`` to write the run into. A place that cannot be written is
    reported as ``--out`` (the staging folder's hidden name would mean nothing to the user)."""
    staging = staging_path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as exc:
        shown = exc.filename and str(exc.filename) not in (str(out), str(staging))
        where = f" ({exc.filename})" if shown else ""
        raise OSError(
            exc.errno,
            f"{exc.strerror or exc}{where}: ftprep writes the run beside --out, then renames "
            "it into place; give --out a folder whose parent you can write to",
            f"--out {out}",
        ) from None
    return staging


def publish(staging: Path, out: Path) -> None:
    """Replace ``out`` with ``staging``: rename aside, rename in, then delete the old folder."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)
