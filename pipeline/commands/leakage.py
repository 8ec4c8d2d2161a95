"""Leakage between files a user already has: duplicates across train and validation, and eval
items inside the training prompts.

Takes a train input and a validation input (any shape ftprep reads: a provider's JSONL, Alpaca
JSON, ShareGPT, CSV, Parquet, a folder), converts each record to a canonical Example and yields
every pair (train record, validation record) that is an exact copy (same normalised content, or
same prompt with ``key="prompt"``) or a near copy, by the run's own definition
(``pipeline.stages.dedupe.near_dedupe``: prompt and response each near-identical, the same
context, boilerplate both files share left out, the similarity computed exactly). With eval or
benchmark files (``against``), it also lists the records of either input whose prompt contains an
eval item (``pipeline.stages.dedupe.contamination``). Records that cannot be read or converted
are counted as skipped, not compared. Memory holds the train side's exact keys and a few bytes per record; the features
go to a temporary folder.
"""

from __future__ import annotations

import collections
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import ConvertOptions, NearSettings
from pipeline.stages import convert, ingest
from pipeline.stages.dedupe.contamination import file_records, load, prompt_texts
from pipeline.stages.dedupe.exact import example_id, prompt_key, prompt_messages
from pipeline.stages.dedupe.near_clusters import MAX_CHECKS, pair_similarity
from pipeline.stages.dedupe.near_dedupe import NearIndex
from pipeline.stages.dedupe.near_features import featurise_batch
from pipeline.stages.write import append_rows

RULE_EXACT = "leakage.exact"
RULE_NEAR = "leakage.near"
RULE_EVAL = "leakage.eval"
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
class EvalMatch:
    where: tuple[str, int]  # the training (or validation) record
    match: dict[str, Any]  # eval_source, eval_line, eval_text, ngram

    def render(self) -> str:
        m = self.match
        return (
            f"{self.where[0]}:{self.where[1]}: contains the eval item {m['eval_source']}:"
            f'{m["eval_line"]} ("{m["ngram"]}") [{RULE_EVAL}]'
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": RULE_EVAL,
            "source": self.where[0],
            "line": self.where[1],
            **self.match,
        }


@dataclass
class LeakageReport:
    train: Side
    validation: Side | None
    threshold: float
    key: str
    pairs: list[Pair] = field(default_factory=list)
    evals: list[EvalMatch] = field(default_factory=list)
    eval_sets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.pairs and not self.evals

    def counts(self) -> dict[str, int]:
        c = collections.Counter(p.kind for p in self.pairs)
        return {"exact": c["exact"], "near": c["near"], "eval": len(self.evals)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "threshold": self.threshold,
            "key": self.key,
            "train": vars(self.train),
            "validation": vars(self.validation) if self.validation else None,
            "pairs": [p.as_dict() for p in self.pairs],
            "eval_matches": [e.as_dict() for e in self.evals],
            "eval_sets": self.eval_sets,
            "summary": {"pairs": len(self.pairs), **self.counts()},
        }

    def text(self) -> str:
        lines = [p.render() for p in self.pairs] + [e.render() for e in self.evals]
        c = self.counts()
        sides = [self.train] + ([self.validation] if self.validation else [])
        sizes = f"{self.train.records:,} train"
        if self.validation:
            sizes += f" and {self.validation.records:,} validation"
        sizes += " records"
        skipped = sum(s.skipped for s in sides)
        tail = f"; {skipped:,} record(s) could not be read and were not compared" if skipped else ""
        checked = "no exact or near duplicate pair" if self.validation else "nothing"
        if self.eval_sets:
            checked += " and no eval item"
        if self.ok:
            lines.append(f"ok: {checked} across {sizes}{tail}")
            return "\n".join(lines)
        found = []
        if self.validation:
            found.append(
                f"{len(self.pairs):,} pair(s): {c['exact']:,} exact, {c['near']:,} near "
                f"(similarity >= {self.threshold})"
            )
        if self.eval_sets:
            found.append(f"{c['eval']:,} record(s) containing an eval item")
        lines.append(f"FAILED: {'; '.join(found)} across {sizes}{tail}")
        return "\n".join(lines)


def read_examples(path: Path, side: Side, options: ConvertOptions) -> Iterator[dict]:
    """Canonical Examples of every record under ``path``; unreadable ones counted as skipped."""
    for source, line, ok, obj, shape in file_records(path, options):
        side.records += 1
        ex = convert.convert_record(obj, source, line, shape, options) if ok else None
        if ex is None or "stage" in ex:
            side.skipped += 1
            continue
        yield ex


def _batches(examples: Iterator[dict]) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for ex in examples:
        batch.append(ex)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class _Places:
    """Where each indexed record is (source, line), in a few bytes per record."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}
        self.source: list[np.ndarray] = []
        self.line: list[np.ndarray] = []

    def add(self, batch: list[dict]) -> None:
        numbers = [self._index.setdefault(ex["source"], len(self._index)) for ex in batch]
        if len(self._index) > len(self.names):
            self.names = list(self._index)
        self.source.append(np.array(numbers, dtype=np.int32))
        self.line.append(np.array([ex["line"] for ex in batch], dtype=np.int64))

    def freeze(self) -> None:
        self.source = [np.concatenate(self.source)] if self.source else [np.zeros(0, np.int32)]
        self.line = [np.concatenate(self.line)] if self.line else [np.zeros(0, np.int64)]

    def __getitem__(self, i: int) -> tuple[str, int]:
        return self.names[int(self.source[0][i])], int(self.line[0][i])


def find_leakage(
    train: Path,
    validation: Path | None,
    threshold: float = 0.8,
    key: str = "full",
    options: ConvertOptions | None = None,
    against: list[Path] | None = None,
) -> LeakageReport:

    options = options or ConvertOptions()
    evals = load(against, options)
    report = LeakageReport(
        Side(str(train)), Side(str(validation)) if validation else None, threshold, key
    )
    if evals is not None:
        report.eval_sets = [vars(s) for s in evals.sets]
    settings = NearSettings(threshold=threshold, key=key)
    exact_of = (lambda ex: prompt_key(ex, prompt_messages(ex))) if key == "prompt" else example_id
    with tempfile.TemporaryDirectory(prefix="ftprep-leakage-") as folder:
        index = NearIndex(Path(folder), settings)
        places = _Places()
        first_exact: dict[str, int] = {}
        exact_pairs: set[tuple[int, int]] = set()
        sides = [(report.train, train)] + ([(report.validation, validation)] if validation else [])
        boundary = 0
        for number, (side, path) in enumerate(sides):
            for batch in _batches(read_examples(path, side, options)):
                start = len(index)
                if evals is not None:
                    for ex, found in zip(batch, evals.match(prompt_texts(batch)), strict=True):
                        report.evals += [EvalMatch((ex["source"], ex["line"]), m) for m in found]
                keys = [exact_of(ex) for ex in batch]
                for k, exact in enumerate(keys):
                    if number == 0:
                        first_exact.setdefault(exact, start + k)
                    elif exact in first_exact:
                        exact_pairs.add((first_exact[exact], start + k))
                places.add(batch)
                if validation is not None:
                    features = featurise_batch(batch, prompt_only=key == "prompt")
                    ref = append_rows(
                        Path(folder) / "_rows-near-leakage.arrow", features.serialize()
                    )
                    index.add(ref, None, len(batch))
                else:
                    index.examples += len(batch)
            if number == 0:
                boundary = len(index)
        places.freeze()
        report.pairs = [Pair("exact", places[t], places[v], 1.0) for t, v in sorted(exact_pairs)]
        if validation is not None and len(index):
            report.pairs += _near_pairs(index, boundary, exact_pairs, places, threshold, key)
            index.remove_files()
    report.pairs.sort(key=lambda p: (p.validation, p.train))
    report.evals.sort(key=lambda e: (e.where, e.match["eval_source"], e.match["eval_line"]))
    return report


def require_records(report: LeakageReport) -> None:
    """InputError when a side's records could none of them be read: nothing was compared."""
    for side in (report.train, report.validation):
        if side is not None and side.skipped and side.skipped == side.records:
            raise ingest.InputError(
                f"{side.path}: none of its {side.skipped:,} record(s) could be read, so nothing "
                "was compared; check the file (`ftprep validate` says what is wrong)"
            )


def _near_pairs(
    index: NearIndex,
    boundary: int,
    exact_pairs: set[tuple[int, int]],
    places: _Places,
    threshold: float,
    key: str,
) -> list[Pair]:
    """Near pairs (train index < boundary <= validation index), verified exactly."""
    index.build()
    rows, buckets = index.candidates()
    candidates: dict[int, set[int]] = {}  # validation record -> train records sharing a bucket
    order = np.argsort(buckets, kind="stable")
    rows, buckets = rows[order], buckets[order]
    starts = np.flatnonzero(np.concatenate(([True], buckets[1:] != buckets[:-1])))
    for start, stop in zip(starts, np.append(starts[1:], len(rows)), strict=True):
        members = rows[start:stop]
        trains = members[members < boundary]
        if not len(trains):
            continue
        for v in members[members >= boundary].tolist():
            mine = candidates.setdefault(v, set())
            mine.update(trains[: MAX_CHECKS - len(mine)].tolist())
    pairs = []
    reader = index.reader()
    try:
        for v in sorted(candidates):
            for t in sorted(candidates[v]):
                if (t, v) in exact_pairs:
                    continue
                similarity, _, _ = pair_similarity(reader, v, t, threshold, key == "prompt")
                if similarity >= threshold:
                    pairs.append(Pair("near", places[t], places[v], round(similarity, 4)))
    finally:
        reader.close()
    return pairs
