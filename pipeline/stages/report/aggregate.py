"""Streaming aggregates of a run's Parquet artifacts, for its report.

One pass over each split's Parquet file, in batches of a few columns (token counts, the roles of
the messages, kind, id, cluster; never the message text), adds up what the report draws: token
lengths per split (exact counts of every length below ``EXACT``, so the quantiles are exact and
match ``ftprep count``'s), trained and billing tokens, messages per example, roles and kinds, and
the ids and clusters found in both splits (leakage). The same pass notes where the rows the
report quotes lie, so their text is read from those row groups only. Memory is fixed: a few
arrays of ``EXACT`` counters, and 16 bytes per validation example for the leakage check.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SPLITS = ("train", "validation")
EXACT = 1 << 17  # token counts below this are counted one by one; above, in one overflow count
MAX_TURNS = 40  # messages per example counted one by one up to here; more share the last count
BATCH_ROWS = 65_536
LENGTH_COLUMNS = ["id", "cluster", "kind", "n_tokens", "n_trained_tokens", "messages"]


@dataclass
class Lengths:
    """Token counts of one split's examples: exact counts per length below ``EXACT``."""

    examples: int = 0
    counted: int = 0  # examples with a token count
    tokens: int = 0
    trained: int = 0
    billing: int = 0  # each example capped at the model's limit
    over_limit: int = 0
    max: int = 0
    total_counts: np.ndarray = field(default_factory=lambda: np.zeros(EXACT, np.int64))
    trained_counts: np.ndarray = field(default_factory=lambda: np.zeros(EXACT, np.int64))

    def add(self, n_tokens: np.ndarray, n_trained: np.ndarray, limit: int | None) -> None:
        self.examples += len(n_tokens)
        total = n_tokens[n_tokens >= 0]
        trained = n_trained[n_trained >= 0]
        self.counted += len(total)
        self.tokens += int(total.sum())
        self.trained += int(trained.sum())
        self.billing += int(np.minimum(total, limit).sum()) if limit else int(total.sum())
        if limit:
            self.over_limit += int((total > limit).sum())
        if len(total):
            self.max = max(self.max, int(total.max()))
        self.total_counts += np.bincount(np.minimum(total, EXACT - 1), minlength=EXACT)
        self.trained_counts += np.bincount(np.minimum(trained, EXACT - 1), minlength=EXACT)

    def distribution(self) -> dict[str, float | int]:
        """min, p5, p50, p95, max and mean of the token counts: the figures ``ftprep count``
        gives for a file (linear interpolation between closest ranks)."""
        n = int(self.total_counts.sum())
        if not n:
            return {"min": 0, "p5": 0, "p50": 0, "p95": 0, "max": 0, "mean": 0}
        cumulative = np.cumsum(self.total_counts)

        def at(rank: int) -> int:  # the value of the rank-th smallest count (0-based)
            value = int(np.searchsorted(cumulative, rank + 1))
            return self.max if value >= EXACT - 1 else value

        def quantile(q: float) -> float:
            pos = (n - 1) * q
            lo = int(pos)
            low, high = at(lo), at(min(lo + 1, n - 1))
            return round(low + (high - low) * (pos - lo), 1)

        return {
            "min": at(0),
            "p5": quantile(0.05),
            "p50": quantile(0.5),
            "p95": quantile(0.95),
            "max": self.max,
            "mean": round(self.tokens / n, 1),
        }


@dataclass
class Shapes:
    """Messages per example, the roles of those messages, and the kinds of example."""

    turns: np.ndarray = field(default_factory=lambda: np.zeros(MAX_TURNS + 1, np.int64))
    roles: collections.Counter = field(default_factory=collections.Counter)
    kinds: collections.Counter = field(default_factory=collections.Counter)

    def add(self, messages: Any, kinds: Any) -> None:
        import pyarrow.compute as pc

        lengths = pc.fill_null(pc.list_value_length(messages), 0).to_numpy(zero_copy_only=False)
        self.turns += np.bincount(np.minimum(lengths, MAX_TURNS), minlength=MAX_TURNS + 1)
        roles = pc.struct_field(pc.list_flatten(messages), [0])
        for entry in pc.value_counts(roles).to_pylist():
            self.roles[_label(entry["values"])] += entry["counts"]
        for entry in pc.value_counts(kinds).to_pylist():
            self.kinds[_label(entry["values"])] += entry["counts"]


def _label(value: Any) -> str:
    return "(none)" if value is None else str(value)


@dataclass
class Aggregates:
    lengths: dict[str, Lengths]
    shapes: dict[str, Shapes]
    leaked_ids: list[str]
    leaked_clusters: list[str]
    rows: dict[str, dict[str, Any]]  # id -> the row quoted (source, line, split, excerpt)


def aggregate(
    run_dir: Path, limit: int | None, wanted: set[str] | frozenset[str] = frozenset()
) -> Aggregates:
    """Everything the report takes from ``train.parquet`` and ``validation.parquet`` in
    ``run_dir`` (a split whose file is missing counts as empty); ``wanted`` are the ids of rows
    to quote, found in a second read of their row groups only."""
    lengths = {s: Lengths() for s in SPLITS}
    shapes = {s: Shapes() for s in SPLITS}
    held = _validation_keys(run_dir / "validation.parquet")
    leaks: dict[str, set[str]] = {"id": set(), "cluster": set()}
    where: dict[str, list[int]] = {}
    for split in SPLITS:
        path = run_dir / f"{split}.parquet"
        if not path.exists():
            continue
        located: set[int] = set()
        for start, batch in _batches(path, LENGTH_COLUMNS):
            n_tokens = _ints(batch.column("n_tokens"))
            lengths[split].add(n_tokens, _ints(batch.column("n_trained_tokens")), limit)
            shapes[split].add(batch.column("messages"), batch.column("kind"))
            if split == "train":
                for key in ("id", "cluster"):
                    leaks[key].update(_in_both(batch.column(key), held[key], leaks[key]))
            if wanted:
                import pyarrow.compute as pc

                hits = np.flatnonzero(
                    pc.is_in(batch.column("id"), value_set=_value_set(wanted)).to_numpy(
                        zero_copy_only=False
                    )
                )
                located.update(int(start + i) for i in hits)
        where[split] = sorted(located)
    for key in leaks:  # a shared hash is checked against the strings themselves
        leaks[key] = _confirmed(run_dir / "validation.parquet", key, leaks[key])
    rows = {}
    for split, positions in where.items():
        rows.update(_quoted_rows(run_dir / f"{split}.parquet", split, positions))
    return Aggregates(lengths, shapes, sorted(leaks["id"]), sorted(leaks["cluster"]), rows=rows)


def _batches(path: Path, columns: list[str]):
    """(index of the first row, batch) over a Parquet file, reading only ``columns`` (for
    ``messages``, only the roles)."""
    import pyarrow.parquet as pq

    names = [("messages.list.element.role" if c == "messages" else c) for c in columns]
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=names):
        yield start, batch
        start += batch.num_rows


def _ints(column: Any) -> np.ndarray:
    """An int64 column as numpy, a null (no count) as -1."""
    import pyarrow.compute as pc

    return pc.fill_null(column, -1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _hashes(column: Any) -> np.ndarray:
    import xxhash

    return np.fromiter(
        (xxhash.xxh3_64_intdigest(v.encode()) for v in column.to_pylist() if v is not None),
        np.uint64,
    )


def _validation_keys(path: Path) -> dict[str, np.ndarray]:
    """The 64-bit hashes of validation's ids and clusters, sorted (8 bytes per example each)."""
    keys = {"id": [], "cluster": []}
    if path.exists():
        for _, batch in _batches(path, ["id", "cluster"]):
            for key in keys:
                keys[key].append(_hashes(batch.column(key)))
    return {
        k: np.unique(np.concatenate(v)) if v else np.zeros(0, np.uint64) for k, v in keys.items()
    }


def _in_both(column: Any, held: np.ndarray, found: set[str], cap: int = 100) -> set[str]:
    """Values of a train column whose hash is among validation's (at most ``cap`` kept)."""
    if not len(held) or len(found) >= cap:
        return set()
    values = column.to_pylist()
    hits = np.flatnonzero(np.isin(_hashes(column), held))
    present = [v for v in values if v is not None]
    return {present[i] for i in hits.tolist()[: cap - len(found)]}


def _confirmed(path: Path, key: str, candidates: set[str]) -> set[str]:
    if not candidates or not path.exists():
        return set()
    seen = set()
    for _, batch in _batches(path, [key]):
        seen.update(v for v in batch.column(key).to_pylist() if v in candidates)
    return seen


def _value_set(wanted: set[str] | frozenset[str]):
    import pyarrow as pa

    return pa.array(sorted(wanted), pa.string())


QUOTE_COLUMNS = [
    "id",
    "source",
    "line",
    "kind",
    "messages",
    "chosen",
    "completion",
    "label",
    "text",
]


def _quoted_rows(path: Path, split: str, positions: list[int]) -> dict[str, dict[str, Any]]:
    """The rows at ``positions`` (row numbers in the file), read from their row groups only."""
    import pyarrow.parquet as pq

    from pipeline.stages.dedupe.near_clusters import excerpt

    if not positions:
        return {}
    file = pq.ParquetFile(path)
    bounds = np.cumsum(
        [0] + [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)]
    )
    by_group: dict[int, list[int]] = collections.defaultdict(list)
    for p in positions:
        group = int(np.searchsorted(bounds, p, side="right")) - 1
        by_group[group].append(p - int(bounds[group]))
    rows = {}
    for group, offsets in sorted(by_group.items()):
        table = file.read_row_group(group, columns=QUOTE_COLUMNS).take(offsets)
        for row in table.to_pylist():
            rows[row["id"]] = {
                "source": row["source"],
                "line": row["line"],
                "split": split,
                **excerpt(row),
            }
    return rows
