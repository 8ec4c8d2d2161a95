"""The write stage: decide each cluster's split and stream the spill into the artifacts.

Takes the spill of Examples (Arrow, in input order; exact copies marked to be skipped), the
near-duplicate clusters and the split plan; writes train/validation JSONL (the rendered lines) and
Parquet (canonical rows with their cluster and split), drops near copies into duplicates.jsonl,
lists conflicts (the same prompt, another answer) in conflicts.jsonl, and drops them as
``--conflicts`` says. Each spill batch is read and its splits decided here, a batch at a time; one
background thread writes its JSONL lines straight from the batch's buffers, another filters its
Parquet rows, and each Parquet file encodes its row groups in a thread of its own. Memory holds a
few batches and the row-group buffers.
"""

from __future__ import annotations

import collections
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pipeline.artifacts import JsonlWriter, ParquetSink, example_schema
from pipeline.records import rejection
from pipeline.run_state import SourceStats
from pipeline.stages.dedupe.near_clusters import (
    DUPLICATE,
    REJECT,
    ClusterMap,
    excerpt,
    response_text,
)
from pipeline.stages.split import SplitPlan, stratum_of

SPLITS = ("train", "validation")


class Sinks(Protocol):
    """Where this stage sends what the near-duplicate decision drops or reports: the run's
    tally (an engine's), with its duplicates and conflicts writers and its rejections."""

    duplicates: JsonlWriter
    conflicts: JsonlWriter

    def reject(self, st: SourceStats, rec: dict) -> None: ...


def write_splits(
    spill: Spill,
    staging: Path,
    plan: SplitPlan,
    stats: dict[str, SourceStats],
    clusters: ClusterMap,
    sinks: Sinks,
    stratify_by: str | None = None,
    bom: bool = False,
    written: dict[str, tuple[str, int]] | None = None,
    file_rules: Any = None,
    file_findings: list[dict[str, Any]] | None = None,
) -> dict[str, dict[str, int]]:
    """Decide the split, then stream the spill into train/validation JSONL and Parquet, dropping
    near copies into duplicates.jsonl (``sinks``: the run's tally, with its duplicates, conflicts
    and rejected writers); return token totals per split. ``written`` receives the
    sha256 and line count of each JSONL file. With ``file_rules`` (the profile's whole-file
    checker, such as one format per file), each JSONL file's lines are checked as written and
    what the checker finds goes to ``file_findings``. Rows the spill marks as exact copies
    (already in duplicates.jsonl) are skipped, and row numbers (the near index's, the
    clusters') count the other rows only.

    Two passes over the spill's light columns come first: the ids of near clusters'
    representatives and the clusters per stratum, then each cluster's split in input order. The
    rows themselves are read once, to be written."""
    import pyarrow as pa

    schema = example_schema()
    jsonl = {s: JsonlWriter(staging / f"{s}.jsonl", bom=bom) for s in SPLITS}
    parquet = {s: ParquetSink(staging / f"{s}.parquet", schema) for s in SPLITS}
    tokens = {
        s: {"examples": 0, "tokens": 0, "trained_tokens": 0, "reasoning_tokens": 0} for s in SPLITS
    }
    try:
        # not memory-mapped: mapped pages would count as resident
        with pa.OSFile(str(spill.light_path), "rb") as light:
            _plan(pa.ipc.open_file(light), spill.copies, plan, clusters, stratify_by)
        checkers = {s: file_rules() for s in SPLITS} if file_rules else {}
        writer = _BatchWriter(schema, jsonl, parquet, checkers)
        try:
            start = 0
            for batch, kept in _spill_batches(spill.batches(), spill.copies):
                masks, cluster_ids = _decide(
                    batch, kept, start, plan, clusters, stats, sinks, tokens
                )
                start += len(cluster_ids)
                writer.submit(batch, *_spread(kept, batch.num_rows, masks, cluster_ids))
        finally:
            writer.finish()
    finally:
        for s in SPLITS:
            jsonl[s].close()
            parquet[s].close()
    if written is not None:
        written.update({f"{s}.jsonl": (jsonl[s].sha256, jsonl[s].records) for s in SPLITS})
    if file_findings is not None:
        for split, checker in checkers.items():
            for line, (_, rule, severity, message) in checker.finish():
                where = {"path": f"{split}.jsonl", "line": line}
                file_findings.append(
                    {**where, "rule": rule, "severity": severity, "message": message}
                )
    return tokens


@dataclass(frozen=True)
class RowsRef:
    """Where one batch of spill rows lies: an Arrow IPC message at ``offset`` in the rows file
    ``name`` of the staging folder."""

    name: str
    offset: int
    size: int

    def renamed(self, name: str) -> RowsRef:
        return RowsRef(name, self.offset, self.size)


def append_rows(path: Path, message: Any) -> RowsRef:
    """Append one batch's rows (an Arrow IPC message) to a rows file that this process alone
    writes, and say where they lie. The file is open only while writing, so nothing is left open
    and the bytes are visible to the main process as soon as this returns."""
    data = memoryview(message).cast("B")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        offset = os.lseek(fd, 0, os.SEEK_END)
        done = 0
        while done < len(data):
            done += os.write(fd, data[done:])
    finally:
        os.close(fd)
    return RowsRef(path.name, offset, len(data))


@functools.lru_cache(maxsize=1)
def light_schema() -> Any:
    """The schema of a spill's light columns."""
    import pyarrow as pa

    schema = example_schema(with_rendered=True)
    return pa.schema([schema.field(name) for name in Spill.LIGHT])


class Spill:
    """The Examples the stages keep, on their way to the write stage, in the staging folder.

    Their rows (``example_schema(with_rendered=True)``) are Arrow IPC messages in rows files:
    workers append each batch to a file of their own and hand back only a ``RowsRef`` (the rows
    do not travel back through the main process), and ``write`` appends a batch the main process
    holds to its own file. ``refs`` lists the batches in input order. The columns the split plan
    reads (ids, provenance, meta) go to a small Arrow file beside them, so the rows are read only
    once, to be written. Rows that are exact copies may be spilled too, marked in ``copies``
    (1 byte per row) to be skipped. Use as a context manager while adding batches."""

    LIGHT = ["id", "source", "line", "meta"]
    ROWS_PREFIX = "_rows-"
    OPEN_FILES = 64  # rows files held open at once while reading (one per input and worker)

    def __init__(self, staging: Path):
        self.folder = staging
        self.light_path = staging / "_spill_light.arrow"
        self.refs: list[RowsRef] = []
        self.copies = bytearray()
        self._light: Any = None

    def __enter__(self) -> Spill:
        import pyarrow as pa

        self._light = pa.ipc.new_file(str(self.light_path), light_schema())
        return self

    def __exit__(self, *exc: Any) -> None:
        self._light.close()

    def rows_path(self, name: str) -> Path:
        """A rows file of this spill (``name`` without the prefix)."""
        return self.folder / f"{self.ROWS_PREFIX}{name}"

    def write(self, batch: Any, copies: list[bool] | None = None) -> None:
        """A batch of spill rows this process holds; ``copies`` marks the exact copies."""
        ref = append_rows(self.rows_path("main.arrow"), batch.serialize())
        self.add(ref, batch.select(self.LIGHT), copies)

    def add(self, ref: RowsRef, light: Any, copies: list[bool] | None = None) -> None:
        """A batch already in a rows file of this spill, with its light columns."""
        self.refs.append(ref)
        self._light.write_batch(light)
        self.copies.extend(copies if copies is not None else bytes(light.num_rows))

    def batches(self) -> Iterator[Any]:
        """The spilled batches, in input order, read one at a time."""
        import pyarrow as pa

        schema = example_schema(with_rendered=True)
        files: collections.OrderedDict[str, Any] = collections.OrderedDict()
        try:
            for ref in self.refs:
                f = files.get(ref.name)
                if f is None:
                    if len(files) >= self.OPEN_FILES:  # thousands of inputs: close the oldest
                        files.popitem(last=False)[1].close()
                    f = files[ref.name] = open(self.folder / ref.name, "rb")
                files.move_to_end(ref.name)
                data = os.pread(f.fileno(), ref.size, ref.offset)
                if len(data) != ref.size:
                    raise RuntimeError(f"internal error: spill file {ref.name} is cut short")
                yield pa.ipc.read_record_batch(pa.py_buffer(data), schema)
        finally:
            for f in files.values():
                f.close()

    def remove(self) -> None:
        self.light_path.unlink(missing_ok=True)
        for path in self.folder.glob(f"{self.ROWS_PREFIX}*"):
            path.unlink(missing_ok=True)


def _spill_batches(batches: Iterator[Any], copies: bytearray) -> Iterator[tuple[Any, Any]]:
    """(batch, rows of it that are not exact copies, or None for all) of each batch of a spill
    (the rows or the light columns: their batches are the same)."""
    at = 0
    for batch in batches:
        marks = np.frombuffer(copies, dtype=np.uint8, count=batch.num_rows, offset=at)
        at += batch.num_rows
        yield batch, (np.flatnonzero(marks == 0) if marks.any() else None)


def _kept_rows(batch: Any, kept: Any, columns: list[str]) -> Any:
    """Some columns of a spill batch, for the rows that are not exact copies (still Arrow: the
    callers turn into Python values only what they use)."""
    part = batch.select(columns)
    return part if kept is None else part.take(kept)


def _values(part: Any, columns: list[str], rows: np.ndarray) -> dict[str, list]:
    """Some columns of an Arrow batch as lists, for the given rows."""
    return part.select(columns).take(rows).to_pydict()


def _spread(
    kept: Any, rows: int, masks: dict[str, np.ndarray], cluster_ids: list[str]
) -> tuple[dict[str, np.ndarray], list[str | None]]:
    """Per-kept-row split masks and cluster ids widened to every row of the batch (an exact
    copy is in no split and has no cluster id)."""
    if kept is None:
        return masks, cluster_ids
    wide: dict[str, np.ndarray] = {}
    for name, mask in masks.items():
        wide[name] = np.zeros(rows, dtype=bool)
        wide[name][kept] = mask
    ids: list[str | None] = [None] * rows
    for r, cluster in zip(kept.tolist(), cluster_ids, strict=True):
        ids[r] = cluster
    return wide, ids


def _light_batches(
    reader: Any, copies: bytearray, stratify_by: str | None
) -> Iterator[tuple[int, int, Any]]:
    """(start, stop, Arrow batch) of each batch's kept rows, from the spill's light file: ids,
    provenance, meta if needed."""
    columns = ["id", "source", "line"] + (["meta"] if stratify_by else [])
    start = 0
    batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    for batch, kept in _spill_batches(batches, copies):
        part = _kept_rows(batch, kept, columns)
        stop = start + part.num_rows
        yield start, stop, part
        start = stop


def _strata(part: Any, rows: np.ndarray, stratify_by: str | None) -> list[str]:
    if not stratify_by:
        return [""] * len(rows)
    values = _values(part, ["source", "meta"], rows)
    return [
        stratum_of({"source": source, "meta": meta}, stratify_by)
        for source, meta in zip(values["source"], values["meta"], strict=True)
    ]


def _plan(
    reader: Any,
    copies: bytearray,
    plan: SplitPlan,
    clusters: ClusterMap,
    stratify_by: str | None,
) -> None:
    """Remember the representatives' ids, count the clusters per stratum, then show the plan each
    cluster in input order (where its first surviving member is)."""
    for start, stop, part in _light_batches(reader, copies, stratify_by):
        wanted = clusters.wanted(start, stop)
        if len(wanted):
            got = _values(part, ["id", "source", "line"], wanted - start)
            for i, id_, source, line in zip(
                wanted.tolist(), got["id"], got["source"], got["line"], strict=True
            ):
                clusters.remember(i, id_, source, line)
        leaders = np.flatnonzero(clusters.leaders(start, stop))
        if stratify_by:
            for stratum in _strata(part, leaders, stratify_by):
                plan.count(stratum)
        elif len(leaders):
            plan.count("", len(leaders))
    plan.start()
    for start, _, part in _light_batches(reader, copies, stratify_by):
        leaders = np.flatnonzero(clusters.leaders(start, start + part.num_rows))
        cluster_ids = clusters.cluster_ids(start, part.column("id").to_pylist())
        strata = _strata(part, leaders, stratify_by)
        for r, stratum in zip(leaders.tolist(), strata, strict=True):
            plan.observe(cluster_ids[r], stratum)
    plan.finish()


def _decide(
    batch: Any,
    kept: Any,
    start: int,
    plan: SplitPlan,
    clusters: ClusterMap,
    stats: dict[str, SourceStats],
    sinks: Sinks,
    tokens: dict[str, dict[str, int]],
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each split's mask over the kept rows of a spill batch (a dropped near copy or conflict is
    in none) and each kept row's cluster id; counts them per input, adds up the tokens per split,
    and writes what the near-duplicate decision drops or reports."""
    part = _kept_rows(
        batch, kept, ["id", "source", "line", "n_tokens", "n_trained_tokens", "n_reasoning_tokens"]
    )
    ids, sources = part.column("id").to_pylist(), part.column("source").to_pylist()
    stop = start + len(ids)
    cluster_ids = clusters.cluster_ids(start, ids)
    fates = clusters.fates(start, stop)
    splits: list[str | None] = [plan.split_of(c) for c in cluster_ids]
    _report_conflicts(batch, kept, start, stop, clusters, ids, sources, sinks)
    if fates.any():
        lines = part.column("line").to_pylist()
        dropped = np.flatnonzero(fates)
        rendered = _kept_rows(batch, kept, ["rendered"]).column("rendered")
        copies = np.flatnonzero(fates == DUPLICATE)  # their excerpts go to duplicates.jsonl
        rows = _kept_rows(batch, kept, _ANSWER_COLUMNS).take(copies).to_pylist()
        excerpts = dict(zip(copies.tolist(), map(excerpt, rows), strict=True))
        for r in dropped.tolist():
            splits[r] = None
            row = {"source": sources[r], "line": lines[r], "id": ids[r]}
            if fates[r] == DUPLICATE:
                stats[sources[r]].duplicates += 1
                sinks.duplicates.write(clusters.duplicate(start + r, row) | excerpts[r])
            elif fates[r] == REJECT:
                sinks.reject(stats[sources[r]], _conflict_rejection(row, rendered[r].as_py()))
    for (source, split), n in collections.Counter(zip(sources, splits, strict=True)).items():
        if split is not None:
            setattr(stats[source], split, getattr(stats[source], split) + n)
    # a null (no count) is nan
    n_tokens = part.column("n_tokens").to_numpy(zero_copy_only=False).astype(float)
    n_trained = part.column("n_trained_tokens").to_numpy(zero_copy_only=False).astype(float)
    n_reasoning = part.column("n_reasoning_tokens").to_numpy(zero_copy_only=False).astype(float)
    masks = {}
    for split in SPLITS:
        mask = masks[split] = np.fromiter((s == split for s in splits), bool, len(splits))
        t = tokens[split]
        t["examples"] += int(mask.sum())
        t["tokens"] += int(np.nansum(n_tokens[mask]))
        t["trained_tokens"] += int(np.nansum(n_trained[mask]))
        t["reasoning_tokens"] += int(np.nansum(n_reasoning[mask]))
    return masks, cluster_ids


_ANSWER_COLUMNS = ["kind", "messages", "chosen", "completion", "label", "text"]


def _report_conflicts(batch, kept, start, stop, clusters, ids, sources, sinks) -> None:
    """Remember the answers of the rows that head a conflict group, and write a line of
    conflicts.jsonl for each row that asks what an earlier one asks."""
    heads = clusters.heads_of_conflicts(start, stop) - start
    members = np.flatnonzero(clusters.in_conflict(start, stop))
    if not len(heads) and not len(members):
        return
    wanted = np.union1d(heads, members)
    rows = _kept_rows(batch, kept, _ANSWER_COLUMNS).take(wanted).to_pylist()
    answers = dict(zip(wanted.tolist(), map(response_text, rows), strict=True))
    for r in heads.tolist():
        clusters.remember_response(start + r, answers[r])
    if len(members):
        lines = _kept_rows(batch, kept, ["line"]).column("line").to_pylist()
        for r in members.tolist():
            row = {"source": sources[r], "line": lines[r], "id": ids[r]}
            sinks.conflicts.write(clusters.conflict(start + r, row, answers[r]))


def _conflict_rejection(row: dict[str, Any], rendered: bytes) -> dict[str, Any]:
    import orjson

    return rejection(
        row["source"],
        row["line"],
        "dedupe",
        "dedupe.conflict",
        "another example asks the same (its prompt is near-identical) with a different answer; "
        "--conflicts drop removes both: see conflicts.jsonl, or use --conflicts keep|first",
        raw=orjson.loads(rendered),
    )


class _BatchWriter:
    """Writes each spill batch's rows to its split's JSONL and Parquet in two background threads
    (JSONL lines, hashed as written; Parquet rows, filtered per split), so Arrow's filtering and
    encoding and the hashing (which release the GIL) overlap with each other and with deciding
    the next batch. At most ``AHEAD`` batches wait; the first error is raised in the caller."""

    AHEAD = 2

    def __init__(
        self,
        schema,
        jsonl: dict[str, JsonlWriter],
        parquet: dict[str, ParquetSink],
        checkers: dict[str, Any],
    ):
        from concurrent.futures import ThreadPoolExecutor

        self.schema = schema
        self.jsonl, self.parquet, self.checkers = jsonl, parquet, checkers
        self._pools = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ftprep-{what}")
            for what in ("jsonl", "rows")
        ]
        self._pending: collections.deque = collections.deque()

    def submit(self, batch, masks: dict[str, np.ndarray], cluster_of_row: list) -> None:
        """A spill batch, with each split's mask over its rows and each row's cluster id."""
        while len(self._pending) >= 2 * self.AHEAD:
            self._pending.popleft().result()
        lines, rows = self._pools
        self._pending.append(lines.submit(self._write_lines, batch, masks))
        self._pending.append(rows.submit(self._write_rows, batch, masks, cluster_of_row))

    def finish(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            for pool in self._pools:
                pool.shutdown(wait=True, cancel_futures=True)

    def _write_lines(self, batch, masks: dict[str, np.ndarray]) -> None:
        import orjson

        rendered = batch.column("rendered")
        for name, mask in masks.items():
            if mask.any():
                before = self.jsonl[name].records
                lines = self.jsonl[name].write_lines(rendered, mask)
                checker = self.checkers.get(name)
                if checker is not None:  # the whole-file rules see the lines as written
                    for number, line in enumerate(lines.to_pylist(), before + 1):
                        checker.see(number, orjson.loads(line))

    def _write_rows(self, batch, masks: dict[str, np.ndarray], cluster_of_row: list) -> None:
        import pyarrow as pa

        cluster_at = self.schema.get_field_index("cluster")
        split_at = self.schema.get_field_index("split")
        rows = batch.drop_columns(["rendered"])
        clusters = pa.array(cluster_of_row, pa.string())
        for name, mask in masks.items():
            if not mask.any():
                continue
            keep = pa.array(mask)
            part = rows.filter(keep)
            part = part.set_column(cluster_at, self.schema.field(cluster_at), clusters.filter(keep))
            part = part.set_column(
                split_at,
                self.schema.field(split_at),
                pa.repeat(pa.scalar(name, pa.string()), part.num_rows),
            )
            self.parquet[name].write(part)
