"""The write stage: decide each cluster's split and stream the spill into the artifacts.

Takes the spill of kept Examples (Arrow, in input order), the near-duplicate clusters and the
split plan; writes train/validation JSONL (the rendered lines) and Parquet (canonical rows with
their cluster and split), and drops near copies into duplicates.jsonl. Each spill batch is read,
filtered by split and written, so memory holds one batch and the Parquet row-group buffers.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.artifacts import JsonlWriter, ParquetSink, example_schema
from pipeline.near_dedupe import ClusterMap
from pipeline.split import SplitPlan, stratum_of

if TYPE_CHECKING:
    from pipeline.engine import SourceStats


def write_splits(
    spill_path: Path,
    staging: Path,
    plan: SplitPlan,
    stats: dict[str, SourceStats],
    clusters: ClusterMap,
    duplicates: JsonlWriter,
    stratify_by: str | None = None,
    bom: bool = False,
) -> dict[str, dict[str, int]]:
    """Decide the split, then stream the spill into train/validation JSONL and Parquet, dropping
    near copies into duplicates.jsonl; return token totals per split.

    Two light passes over a few columns of the spill come first: the ids of near clusters'
    representatives and the clusters per stratum, then each cluster's split in input order."""
    import pyarrow as pa

    schema = example_schema()
    names = ("train", "validation")
    jsonl = {s: JsonlWriter(staging / f"{s}.jsonl", bom=bom) for s in names}
    parquet = {s: ParquetSink(staging / f"{s}.parquet", schema) for s in names}
    tokens = {s: {"examples": 0, "tokens": 0, "trained_tokens": 0} for s in names}
    columns = ["id", "source", "line"] + (["meta"] if stratify_by else [])
    try:
        with pa.OSFile(
            str(spill_path), "rb"
        ) as source:  # not mmap: mapped pages would count as resident
            reader = pa.ipc.open_file(source)
            batches = range(reader.num_record_batches)

            def light_rows() -> Iterator[tuple[int, dict]]:
                position = 0
                for i in batches:
                    for row in reader.get_batch(i).select(columns).to_pylist():
                        yield position, row
                        position += 1

            for here, row in light_rows():
                if clusters.wants(here):
                    clusters.remember(here, row["id"], row["source"], row["line"])
                if clusters.leader(here):
                    plan.count(stratum_of(row, stratify_by))
            plan.start()
            for here, row in light_rows():
                if clusters.leader(here):
                    plan.observe(clusters.cluster_of(here, row["id"]), stratum_of(row, stratify_by))
            plan.finish()
            position = 0
            light = ["id", "source", "line", "n_tokens", "n_trained_tokens"]
            writer = _BatchWriter(schema, jsonl, parquet)
            try:
                for i in batches:
                    batch = reader.get_batch(i)
                    cols = batch.select(light).to_pydict()
                    split_of_row: list[str | None] = []
                    cluster_of_row: list[str | None] = []
                    for k, id_ in enumerate(cols["id"]):
                        here, position = position, position + 1
                        st = stats[cols["source"][k]]
                        if clusters.removed(here):
                            st.duplicates += 1
                            row = {"source": cols["source"][k], "line": cols["line"][k], "id": id_}
                            duplicates.write(clusters.duplicate(here, row))
                            split_of_row.append(None)
                            cluster_of_row.append(None)
                            continue
                        cluster = clusters.cluster_of(here, id_)
                        split = plan.split_of(cluster)
                        split_of_row.append(split)
                        cluster_of_row.append(cluster)
                        setattr(st, split, getattr(st, split) + 1)
                        t = tokens[split]
                        t["examples"] += 1
                        t["tokens"] += cols["n_tokens"][k] or 0
                        t["trained_tokens"] += cols["n_trained_tokens"][k] or 0
                    writer.submit(batch, split_of_row, cluster_of_row)
            finally:
                writer.finish()
    finally:
        for s in names:
            jsonl[s].close()
            parquet[s].close()
    return tokens


class _BatchWriter:
    """Writes each spill batch's rows to its split's JSONL and Parquet in a background thread, so
    Arrow's filtering, encoding and compression (which release the GIL) overlap with deciding the
    next batch. At most ``AHEAD`` batches wait; the first error is raised in the caller."""

    AHEAD = 2

    def __init__(self, schema, jsonl: dict[str, JsonlWriter], parquet: dict[str, ParquetSink]):
        from concurrent.futures import ThreadPoolExecutor

        self.schema = schema
        self.jsonl, self.parquet = jsonl, parquet
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ftprep-write")
        self._pending: collections.deque = collections.deque()

    def submit(self, batch, split_of_row: list, cluster_of_row: list) -> None:
        while len(self._pending) >= self.AHEAD:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, batch, split_of_row, cluster_of_row))

    def finish(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _write(self, batch, split_of_row: list, cluster_of_row: list) -> None:
        import pyarrow as pa

        cluster_at = self.schema.get_field_index("cluster")
        split_at = self.schema.get_field_index("split")
        for name in ("train", "validation"):
            mask = [sp == name for sp in split_of_row]
            if not any(mask):
                continue
            part = batch.filter(pa.array(mask))
            part_clusters = [c for c, m in zip(cluster_of_row, mask, strict=True) if m]
            self.jsonl[name].write_lines(part.column("rendered"))
            part = part.drop_columns(["rendered"])
            part = part.set_column(
                cluster_at, self.schema.field(cluster_at), pa.array(part_clusters, pa.string())
            )
            part = part.set_column(
                split_at, self.schema.field(split_at), pa.array([name] * part.num_rows, pa.string())
            )
            self.parquet[name].write(part)
