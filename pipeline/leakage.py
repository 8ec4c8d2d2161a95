"""Leakage between two files a user already has: exact and near duplicate pairs across them.

Takes a train and a validation input (any shape ftprep reads: a provider's JSONL, Alpaca JSON,
ShareGPT, CSV, Parquet, a folder), converts each record to a canonical Example and yields every
pair (train record, validation record) that is an exact copy (same normalised content, or same
prompt with ``key="prompt"``) or a near copy (MinHash estimated Jaccard of the word 5-grams at
least the threshold; the same features as the run's near dedupe). Records that cannot be read or
converted are counted as skipped, not compared. Memory holds the train side's signatures and band
keys (640 bytes per record) and one validation batch.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import convert, ingest
from pipeline.dedupe import example_id, prompt_key
from pipeline.near_dedupe import BANDS, NUM_PERM, featurise_examples, prompt_messages

RULE_EXACT = "leakage.exact"
RULE_NEAR = "leakage.near"
BATCH = 4096


@dataclass
class Side:
    path: str
    records: int = 0
    skipped: int = 0


@dataclass
class Pair:
    kind: str  # "exact" or "near"
    train: tuple[str, int]  # source, line
    validation: tuple[str, int]
    similarity: float

    def render(self) -> str:
        (ts, tl), (vs, vl) = self.train, self.validation
        if self.kind == "exact":
            return f"{vs}:{vl}: exact copy of {ts}:{tl} [{RULE_EXACT}]"
        return f"{vs}:{vl}: near copy of {ts}:{tl}, similarity {self.similarity:.3f} [{RULE_NEAR}]"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rule": RULE_EXACT if self.kind == "exact" else RULE_NEAR,
            "train": {"source": self.train[0], "line": self.train[1]},
            "validation": {"source": self.validation[0], "line": self.validation[1]},
            "similarity": self.similarity,
        }


@dataclass
class LeakageReport:
    train: Side
    validation: Side
    threshold: float
    key: str
    pairs: list[Pair] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.pairs

    def counts(self) -> dict[str, int]:
        c = collections.Counter(p.kind for p in self.pairs)
        return {"exact": c["exact"], "near": c["near"]}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "threshold": self.threshold,
            "key": self.key,
            "train": vars(self.train),
            "validation": vars(self.validation),
            "pairs": [p.as_dict() for p in self.pairs],
            "summary": {"pairs": len(self.pairs), **self.counts()},
        }

    def text(self) -> str:
        lines = [p.render() for p in self.pairs]
        c = self.counts()
        sizes = f"{self.train.records:,} train and {self.validation.records:,} validation records"
        skipped = self.train.skipped + self.validation.skipped
        tail = f"; {skipped:,} record(s) could not be read and were not compared" if skipped else ""
        if self.ok:
            lines.append(f"ok: no exact or near duplicate pair across {sizes}{tail}")
        else:
            lines.append(
                f"FAILED: {len(self.pairs):,} pair(s) across {sizes}: {c['exact']:,} exact, "
                f"{c['near']:,} near (estimated Jaccard >= {self.threshold}){tail}"
            )
        return "\n".join(lines)


def read_examples(path: Path, side: Side, options: convert.ConvertOptions) -> Iterator[dict]:
    """Canonical Examples of every record under ``path``; unreadable ones counted as skipped."""
    for src in ingest.discover(path, str(path)):
        counts: collections.Counter = collections.Counter()
        for item in ingest.read_source(src):
            ok, obj = ingest.parse_item(src.name, item)
            if ok:
                counts[convert.shape_of(obj, options)] += 1
        shape, _ = convert.choose_file_shape(counts)
        for item in ingest.read_source(src):
            side.records += 1
            ok, obj = ingest.parse_item(src.name, item)
            if not ok:
                side.skipped += 1
                continue
            ex = convert.convert_record(obj, src.name, item[0], shape, options)
            if "stage" in ex:
                side.skipped += 1
                continue
            yield ex


class _Features:
    """Exact keys, signatures and band keys of a batch of Examples."""

    def __init__(self, examples: list[dict], key: str):
        self.where = [(ex["source"], ex["line"]) for ex in examples]
        self.exact = [
            prompt_key(ex, prompt_messages(ex)) if key == "prompt" else example_id(ex)
            for ex in examples
        ]
        feats = featurise_examples(examples, key)
        self.has, self.sigs, self.bands = feats.has, feats.sigs, feats.bands


def find_leakage(
    train: Path,
    validation: Path,
    threshold: float = 0.8,
    key: str = "full",
    options: convert.ConvertOptions | None = None,
) -> LeakageReport:
    options = options or convert.ConvertOptions()
    report = LeakageReport(Side(str(train)), Side(str(validation)), threshold, key)
    train_ex = list(read_examples(train, report.train, options))
    t = _Features(train_ex, key)
    del train_ex
    first_exact: dict[str, int] = {}
    for i, k in enumerate(t.exact):
        first_exact.setdefault(k, i)
    members = np.flatnonzero(t.has)
    orders = [np.argsort(t.bands[members, b], kind="stable") for b in range(BANDS)]
    columns = [t.bands[members, b][orders[b]] for b in range(BANDS)]
    batch: list[dict] = []
    for ex in read_examples(validation, report.validation, options):
        batch.append(ex)
        if len(batch) >= BATCH:
            _compare(_Features(batch, key), t, first_exact, members, orders, columns, report)
            batch = []
    if batch:
        _compare(_Features(batch, key), t, first_exact, members, orders, columns, report)
    report.pairs.sort(key=lambda p: (p.validation, p.train))
    return report


def _compare(v, t, first_exact, members, orders, columns, report: LeakageReport) -> None:
    for i, k in enumerate(v.exact):
        j = first_exact.get(k)
        if j is not None:
            report.pairs.append(Pair("exact", t.where[j], v.where[i], 1.0))
    if not len(members):
        return
    candidates: set[tuple[int, int]] = set()
    rows = np.flatnonzero(v.has)
    for b in range(BANDS):
        keys = v.bands[rows, b]
        lo = np.searchsorted(columns[b], keys, side="left")
        hi = np.searchsorted(columns[b], keys, side="right")
        for r in np.flatnonzero(hi > lo):
            i = int(rows[r])
            for pos in range(lo[r], hi[r]):
                candidates.add((i, int(members[orders[b][pos]])))
    for i, j in sorted(candidates):
        if t.exact[j] == v.exact[i]:
            continue  # reported as exact (once, against the first copy)
        similarity = float(np.count_nonzero(v.sigs[i] == t.sigs[j])) / NUM_PERM
        if similarity >= report.threshold:
            report.pairs.append(Pair("near", t.where[j], v.where[i], similarity))
