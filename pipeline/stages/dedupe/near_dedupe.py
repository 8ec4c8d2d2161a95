"""Near-duplicate detection, the main side: the run's index and the decision.

Takes, in input order, the feature batches (``near_features``) of the Examples that exact
dedupe kept, and decides which of them are near copies of an earlier one and which ask the same
as another with a different answer (conflicts). Its settings (``NearSettings``) live in
``pipeline.config``, where the run's configuration builds them.

Two Examples are near copies only when their prompts are near-identical, their responses are
near-identical, and their context (system prompt, tools) is the same after normalisation; near-
identical means an exact Jaccard similarity at or above the threshold, on sets from which the
boilerplate of the run is left out (``near_index``). MinHash band keys only propose
candidates; an Example joins a cluster only when its similarity to the cluster's representative,
computed exactly on the two sets, is at least the threshold, never through a chain of members
(``near_clusters``). Examples whose prompts are near-identical but whose responses are
not are conflicts: they are grouped (the group is kept in one split) and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import NearSettings
from pipeline.stages.dedupe.minhash import NUM_PERM, SEED, choose_bands
from pipeline.stages.dedupe.near_clusters import KEEP, NearDecision, decide, fates, split_groups
from pipeline.stages.dedupe.near_features import CHAR_GRAM, SHORT_CHARS, WORD_GRAM, list_values
from pipeline.stages.dedupe.near_index import (
    FLOOR,
    SHARE,
    TASK_EXAMPLES,
    BoilerplateCounter,
    SetReader,
    read_features,
    sets_task,
    signature_task,
)


def describe(settings: NearSettings) -> dict[str, Any]:
    """The manifest's ``dedupe`` entry: method, backend, version, seed and parameters."""
    bands, rows = choose_bands(settings.threshold)
    return {
        "exact": {"hash": "xxh3_128", "key": settings.key},
        "near": {
            "mode": settings.mode,
            "threshold": settings.threshold,
            "keep": settings.keep,
            "compared": "prompt" if settings.key == "prompt" else "prompt and response",
            "similarity": "exact Jaccard of each side's shingle sets, against the cluster's "
            "representative (the lower of the two sides)",
            "context": "system prompt and tools must be equal after normalisation",
            "normalise": "NFKC, lowercase, punctuation to spaces, whitespace collapsed",
            "shingles": {
                "long": f"word {WORD_GRAM}-grams",
                "short": f"character {CHAR_GRAM}-grams (sides of at most {SHORT_CHARS} characters)",
            },
            "boilerplate": {
                "counted_on": f"word {WORD_GRAM}-grams",
                "min_examples": FLOOR,
                "min_share": SHARE,
            },
            "candidates": {
                "minhash": "one permutation hashing, rotation densification (numpy)",
                "seed": SEED,
                "num_perm": NUM_PERM,
                "bands": bands,
                "rows": rows,
            },
            "conflicts": settings.conflicts if settings.key == "full" else "off",
        },
    }


Mapper = Callable[..., Iterable[Any]]


def in_process(fn: Callable, jobs: Iterable, *args: Any) -> Iterator[Any]:
    """A mapper that runs each job here (small inputs, the Ray driver)."""
    for job in jobs:
        yield fn(*args, job)


class NearIndex:
    """The kept Examples' features in input order, for one run, in the staging ``folder``.

    ``add`` takes each batch's features as the workers wrote them (a reference into a rows file of
    the folder, and which of its rows exact dedupe kept) and counts their 5-grams for the
    boilerplate; ``build`` computes every Example's signatures and band keys, then the sets of
    those that have candidates (in the run's worker processes when it has them); ``decide``
    clusters. Memory holds the references, the fixed-size sketch, 10 bytes per Example after
    ``build`` and about 16 bytes per band an Example shares with another."""

    def __init__(self, folder: Path, settings: NearSettings):
        self.folder = folder
        self.settings = settings
        self.counter = BoilerplateCounter()
        self.parts: list[tuple[Any, np.ndarray | None, int]] = []  # (ref, kept rows, count)
        self.examples = 0
        self.boilerplate = np.zeros(0, dtype=np.uint32)
        self._built: dict[str, Any] | None = None
        self._files: list[Path] = []

    def __len__(self) -> int:
        return self.examples

    def add(self, ref: Any, kept: np.ndarray | None, n: int) -> None:
        """The features of n kept Examples: the batch ``ref`` points to (all its rows, or the rows
        ``kept`` lists), or None when near dedupe is off."""
        self.examples += n
        if ref is None or not n:
            return
        self.parts.append((ref, kept, n))
        batch = read_features(self.folder, ref)
        sides = []
        for side in ("p_words", "r_words"):
            values, offsets = list_values(batch.column(side))
            if kept is not None:
                values, offsets = _gather(values, offsets, kept)
            sides.append((values, offsets))
        self.counter.add(sides)

    def build(self, mapper: Mapper = in_process) -> None:
        """Signatures and band keys of every Example added, then the sets of those that share a
        band key with another (the only ones a decision compares)."""
        from pipeline.stages.dedupe.near_clusters import shared_buckets

        self.boilerplate = self.counter.finish()
        lsh = choose_bands(self.settings.threshold)
        paths = {
            kind: [self.folder / f"_near_{kind}{b:02d}.u64" for b in range(lsh[0])]
            for kind in ("dup", "prompt")
        }
        self._files = [p for kind in paths.values() for p in kind]
        band_files = {
            kind: [open(p, "wb") for p in kind_paths] for kind, kind_paths in paths.items()
        }
        lengths, has_dup, has_prompt = [], [], []
        try:
            for result in mapper(
                signature_task, _jobs(self.parts), str(self.folder), self.boilerplate, lsh
            ):
                lengths.append(result.lengths)
                has_dup.append(result.has_dup)
                has_prompt.append(result.has_prompt)
                for kind, keys in (("dup", result.bands_dup), ("prompt", result.bands_prompt)):
                    for b, f in enumerate(band_files[kind]):
                        f.write(np.ascontiguousarray(keys[:, b]).astype("<u8").tobytes())
        finally:
            for files in band_files.values():
                for f in files:
                    f.close()

        def joined(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype)

        has = {"dup": joined(has_dup, bool), "prompt": joined(has_prompt, bool)}
        if len(has["dup"]) != self.examples and self.parts:
            raise RuntimeError(
                f"internal error: {len(has['dup'])} of {self.examples} Examples got signatures"
            )
        buckets = {"dup": shared_buckets(paths["dup"], np.flatnonzero(has["dup"]))}
        buckets["prompt"] = (
            shared_buckets(paths["prompt"], np.flatnonzero(has["prompt"]))
            if self.settings.key == "full"
            else (np.zeros(0, np.int64), np.zeros(0, np.int64))
        )
        needed = np.union1d(buckets["dup"][0], buckets["prompt"][0])
        sets = list(
            mapper(sets_task, _set_jobs(self.parts, needed), str(self.folder), self.boilerplate)
        )
        self._files += [self.folder / name for name, _, _ in sets]
        self._built = {
            "lengths": joined(lengths, np.int64),
            "has_prompt": has["prompt"],
            "buckets": buckets,
            "sets": sets,
        }

    def reader(self) -> SetReader:
        """The sets of the Examples that have candidates, read back (``build`` first)."""
        return SetReader(self.folder, self._built["sets"])

    def candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, bucket) of every Example that shares a duplicate band key with another."""
        if self._built is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return self._built["buckets"]["dup"]

    def decide(self) -> NearDecision:
        """Clusters and conflict groups of the Examples (``build`` first)."""
        n = self.examples
        built = self._built
        if built is None or not self.parts:
            return NearDecision.singletons(n)
        reader = self.reader()
        try:
            decision = decide(
                n, reader, built["buckets"], built["has_prompt"], built["lengths"], self.settings
            )
            survivors = fates(decision, self.settings.mode, self.settings.conflicts) == KEEP
            boilerplate = None if survivors.all() else self._boilerplate_of(survivors)
            decision.split_group = split_groups(
                decision,
                survivors,
                reader,
                built["buckets"]["dup"],
                boilerplate,
                self.settings.threshold,
                self.settings.key == "prompt",
            )
            return decision
        finally:
            reader.close()

    def _boilerplate_of(self, survivors: np.ndarray) -> np.ndarray:
        """The boilerplate 5-grams counted over the surviving Examples alone: the run's counts
        less those of the Examples that do not survive (usually few), or counted afresh."""
        gone = self._words(~survivors)
        found = self.counter.without(gone)
        if found is not None:
            return found
        counter = BoilerplateCounter()
        counter.add(self._words(survivors))
        return counter.finish()

    def _words(self, chosen: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The prompt and response 5-grams of the chosen Examples (a mask over all of them), as
        ``BoilerplateCounter.add`` takes them."""
        parts: list[list[tuple[np.ndarray, np.ndarray]]] = [[], []]
        at = 0
        for ref, kept, n in self.parts:
            mine = np.flatnonzero(chosen[at : at + n])
            at += n
            if not len(mine):
                continue
            rows = mine if kept is None else np.asarray(kept)[mine]
            batch = read_features(self.folder, ref)
            for k, side in enumerate(("p_words", "r_words")):
                parts[k].append(_gather(*list_values(batch.column(side)), rows))
        return [_join(p) for p in parts]

    def remove_files(self) -> None:
        for path in self._files:
            path.unlink(missing_ok=True)
        self._files = []


def _gather(values: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple:
    """The list rows ``rows`` of a flat (values, offsets) column, as a new flat column."""
    starts, stops = offsets[rows], offsets[rows + 1]
    sizes = stops - starts
    new_offsets = np.concatenate(([0], np.cumsum(sizes)))
    index = np.repeat(starts - new_offsets[:-1], sizes) + np.arange(new_offsets[-1])
    return values[index], new_offsets


def _set_jobs(parts: list[tuple[Any, np.ndarray | None, int]], needed: np.ndarray) -> Iterator:
    """The Examples at the ``needed`` indexes, grouped into set tasks of about TASK_EXAMPLES, each
    part a feature batch's reference, the rows of it and their indexes."""
    counts = np.array([n for _, _, n in parts], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)))
    owner = np.searchsorted(starts, needed, side="right") - 1
    job: list[tuple] = []
    size = number = 0
    for k in np.unique(owner).tolist():
        where = needed[owner == k]
        ref, kept, _ = parts[k]
        local = where - starts[k]
        job.append((ref, local if kept is None else np.asarray(kept)[local], where))
        size += len(where)
        if size >= TASK_EXAMPLES:
            yield number, job
            job, size, number = [], 0, number + 1
    if job:
        yield number, job


def _join(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Flat (values, offsets) columns one after another, as one."""
    if not parts:
        return np.zeros(0, np.uint32), np.zeros(1, np.int64)
    values = np.concatenate([v for v, _ in parts])
    sizes = np.concatenate([np.diff(o) for _, o in parts])
    return values, np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)


def _jobs(parts: list[tuple[Any, np.ndarray | None, int]]) -> Iterator[tuple]:
    """The parts grouped into signature tasks of about TASK_EXAMPLES Examples, in order."""
    job: list[tuple] = []
    size = number = 0
    for ref, kept, n in parts:
        job.append((ref, kept))
        size += n
        if size >= TASK_EXAMPLES:
            yield number, job
            job, size, number = [], 0, number + 1
    if job:
        yield number, job
