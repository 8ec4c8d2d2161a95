"""Near-duplicate index: boilerplate counted over the run, signatures, band keys, exact sets.

Takes the feature batches (``near_features``) of the Examples exact dedupe kept, in input order,
as the workers wrote them to the staging folder. While records stream, it counts in how many
Examples each word 5-gram occurs (a count-min sketch of fixed size, flushed at fixed points so
the result does not depend on batching); a 5-gram in at least ``max(FLOOR, SHARE * examples)``
Examples is boilerplate: a system prompt pasted into every prompt, a tool specification, a RAG
template, a passage many questions are asked about.

After the last input, ``build`` turns every Example side into the set it is compared on, with
the boilerplate left out (in worker processes when the run has them):

- a long side: its word 5-grams, those that are boilerplate marked;
- a short side: its character 4-grams and words, those that lie only inside words boilerplate
  5-grams cover marked.

Two sides are compared on their sets with the boilerplate both share left out
(``side_similarity``): shared boilerplate is no evidence, boilerplate only one side has is a
difference like any other.

Each Example's two sets get MinHash signatures (rensa, ``NUM_PERM`` permutations) of what is not
boilerplate (the whole set when nothing else is left); the Example's signature is their
elementwise minimum (the signature of the union of its tagged sets), cut into
bands whose keys propose duplicate candidates, and the prompt's own band keys propose prompt
candidates (conflicts). The sets themselves are written to the staging folder, so a candidate
pair is verified exactly (``pipeline.near_clusters``), never on the estimate. Memory holds a few
bytes per Example (set offsets, lengths, flags) and the fixed sketch; band keys and sets are on
disk.
"""

from __future__ import annotations

import itertools
import math
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.near_features import (
    CHAR_GRAM,
    PROMPT,
    WORD_GRAM,
    char_grams,
    feature_schema,
    list_values,
    mix,
    word_grams,
    word_units,
)

NUM_PERM = 128
SEED = 42
BACKEND = "rensa.RMinHash.digest_matrix_from_flat_token_hashes"
FLOOR = 20  # a 5-gram in fewer Examples than this is never boilerplate
SHARE = 0.01  # ... nor one in less than this share of them
SKETCH_BITS = 21  # count-min sketch: 2 rows of 2**21 counters (16 MB)
FLUSH = 1 << 16  # Examples whose 5-grams are counted at once (fixed points: engine-independent)
TASK_EXAMPLES = 1 << 14  # Examples per signature task
HEADER = 6  # uint32 words before an Example's sets: context hash (2), four set sizes
DUP_SALT, PROMPT_SALT = np.uint64(0xD0B1), np.uint64(0x9807)


def choose_bands(threshold: float) -> tuple[int, int]:
    """(bands, rows) for a threshold: the most rows per band (fewest false candidates) that still
    makes a pair at the threshold a candidate with probability 0.995 or more."""
    for rows in range(8, 0, -1):
        bands = NUM_PERM // rows
        if 1 - (1 - threshold**rows) ** bands >= 0.995:
            return bands, rows
    return NUM_PERM, 1


def boilerplate_floor(examples: int) -> int:
    return max(FLOOR, math.ceil(SHARE * examples))


class BoilerplateCounter:
    """In how many Examples each word 5-gram occurs, approximately (a count-min sketch never
    counts less), and the 5-grams that may reach the boilerplate floor. Flushed every ``FLUSH``
    Examples, so the candidates do not depend on how the Examples arrived in batches."""

    def __init__(self) -> None:
        self.width = 1 << SKETCH_BITS
        self.rows = np.zeros((2, self.width), dtype=np.uint32)
        self.examples = 0
        self._pending: list[np.ndarray] = []
        self._pending_examples = 0
        self._candidates = np.zeros(0, dtype=np.uint32)

    def _index(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first = (values & np.uint32(self.width - 1)).astype(np.int64)
        with np.errstate(over="ignore"):
            second = ((values * np.uint32(0x9E3779B1)) >> np.uint32(32 - SKETCH_BITS)).astype(
                np.int64
            )
        return first, second

    def estimate(self, values: np.ndarray) -> np.ndarray:
        first, second = self._index(values)
        return np.minimum(self.rows[0][first], self.rows[1][second])

    def add(self, sides: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """The distinct 5-grams of a run of Examples, side by side: for each side (values,
        offsets), ``values[offsets[i]:offsets[i + 1]]`` for Example i. Flushed at every multiple
        of FLUSH Examples."""
        n = len(sides[0][1]) - 1
        at = 0
        while at < n:
            take = min(FLUSH - self._pending_examples, n - at)
            for values, offsets in sides:
                self._pending.append(values[offsets[at] : offsets[at + take]])
            self._pending_examples += take
            at += take
            if self._pending_examples == FLUSH:
                self._flush()

    def _flush(self) -> None:
        self.examples += self._pending_examples
        self._pending_examples = 0
        if not self._pending:
            return
        values = np.concatenate(self._pending)
        self._pending = []
        if not len(values):
            return
        first, second = self._index(values)
        for row, index in ((0, first), (1, second)):
            counts = np.bincount(index, minlength=self.width)
            self.rows[row] += counts.astype(np.uint32)
        heavy = values[self.estimate(values) >= boilerplate_floor(self.examples)]
        if len(heavy):
            self._candidates = np.union1d(self._candidates, heavy)

    def finish(self) -> np.ndarray:
        """The boilerplate 5-grams, sorted: candidates still at or over the floor."""
        self._flush()
        floor = boilerplate_floor(self.examples)
        found = self._candidates[self.estimate(self._candidates) >= floor]
        self.rows = np.zeros((2, 1), dtype=np.uint32)  # the sketch is not needed any more
        return found.astype(np.uint32)


# ---------------------------------------------------------------- signatures (worker side)


@dataclass
class TaskResult:
    """What one signature task hands back: where its Examples' sets lie in its sets file, their
    band keys and which of them take part at all."""

    name: str
    offsets: np.ndarray  # int64, n + 1, in uint32 words
    bands_dup: np.ndarray  # (n, bands) uint64
    bands_prompt: np.ndarray  # (n, bands) uint64
    has_dup: np.ndarray  # bool: some text to compare
    has_prompt: np.ndarray  # bool: a prompt of its own (conflicts are about prompts)
    lengths: np.ndarray  # int64


def _in_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if not len(sorted_set) or not len(values):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values


def _short_boilerplate(text: str, boilerplate: np.ndarray, tag: int) -> np.ndarray:
    """The character 4-grams and words of a short side that lie only inside words boilerplate
    5-grams cover (sorted)."""
    hashes, _, positions = word_grams([text.encode("utf-8")], np.array([tag], dtype=np.uint64))
    words = text.split(" ")
    covered = np.zeros(len(words), dtype=bool)
    for start in positions[_in_sorted(hashes, boilerplate)].tolist():
        covered[start : start + WORD_GRAM] = True
    # the padded text's characters: " " word " " word ... " "; a space is covered when the
    # words on both sides of it are (the padding when its one word is)
    chars = np.zeros(len(text) + 2, dtype=bool)
    at = 1
    for k, word in enumerate(words):
        if covered[k]:
            chars[at : at + len(word)] = True
            before = k == 0 or covered[k - 1]
            chars[at - 1] |= before
        at += len(word) + 1
    if covered[-1]:
        chars[-1] = True
    tags = np.array([tag], dtype=np.uint64)
    grams, _, starts = char_grams([text], tags)
    inside = np.ones(len(grams), dtype=bool)
    for k in range(min(CHAR_GRAM, len(chars))):
        inside &= chars[np.minimum(starts + k, len(chars) - 1)]
    units, _ = word_units([text], tags)
    shingles = np.concatenate((grams, units))
    inside = np.concatenate((inside, covered))
    return np.setdiff1d(shingles[inside], shingles[~inside])


def _side_sets(
    batch: Any, rows: np.ndarray, side: str, boilerplate: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """One side of some rows of a feature batch: the set each is compared on, the part of it that
    is boilerplate, and whether the side has any words at all."""
    words, w_off = list_values(batch.column(f"{side}_words"))
    chars, c_off = list_values(batch.column(f"{side}_chars"))
    texts = batch.column(f"{side}_text")
    short = texts.is_valid().to_numpy(zero_copy_only=False)
    if side == "p":
        tags = np.full(batch.num_rows, PROMPT, dtype=np.uint64)
    else:
        tags = batch.column("r_tag").to_numpy()
    hit = _in_sorted(words, boilerplate)
    seen = np.concatenate(([0], np.cumsum(hit)))
    boiler = seen[w_off[1:]] - seen[w_off[:-1]]  # boilerplate 5-grams per row
    sets: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    none = np.zeros(0, dtype=np.uint32)
    for r in rows.tolist():
        w0, w1 = w_off[r], w_off[r + 1]
        if short[r]:
            sets.append(chars[c_off[r] : c_off[r + 1]])
            parts.append(
                _short_boilerplate(texts[r].as_py().decode("utf-8"), boilerplate, int(tags[r]))
                if boiler[r]
                else none
            )
        else:
            sets.append(words[w0:w1])
            parts.append(words[w0:w1][hit[w0:w1]] if boiler[r] else none)
    return sets, parts, np.diff(w_off)[rows] > 0


def read_features(folder: Path, ref: Any) -> Any:
    """A feature batch the workers wrote (a ``RowsRef`` into a file of the staging folder)."""
    import pyarrow as pa

    with open(folder / ref.name, "rb") as f:
        data = os.pread(f.fileno(), ref.size, ref.offset)
    if len(data) != ref.size:
        raise RuntimeError(f"internal error: feature file {ref.name} is cut short")
    return pa.ipc.read_record_batch(pa.py_buffer(data), feature_schema())


def signature_task(
    folder: str, boilerplate: np.ndarray, lsh: tuple[int, int], job: tuple
) -> TaskResult:
    """Worker side: the sets, signatures and band keys of a run of Examples (``job``: the task's
    number and its parts, each a feature batch's ``RowsRef`` and the rows of it that count, None
    for all)."""
    number, parts = job
    sides: dict[str, tuple[list, list]] = {"p": ([], []), "r": ([], [])}
    ctx, lengths, has_p, has_r = [], [], [], []
    for ref, rows in parts:
        batch = read_features(Path(folder), ref)
        rows = np.arange(batch.num_rows) if rows is None else rows
        for side, has in (("p", has_p), ("r", has_r)):
            sets, boiler, words = _side_sets(batch, rows, side, boilerplate)
            sides[side][0].extend(sets)
            sides[side][1].extend(boiler)
            has.append(words)
        ctx.append(batch.column("ctx").to_numpy()[rows])
        lengths.append(batch.column("length").to_numpy()[rows])

    def joined(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    name = f"_near_sets-{number:06d}.u32"
    offsets = _write_sets(Path(folder) / name, joined(ctx, np.uint64), sides)
    sig_p = _signatures(*sides["p"])
    sig_r = _signatures(*sides["r"])
    bands, rows_per_band = lsh
    prompt, response = joined(has_p, bool), joined(has_r, bool)
    return TaskResult(
        name=name,
        offsets=offsets,
        bands_dup=band_keys(np.minimum(sig_p, sig_r), bands, rows_per_band, DUP_SALT),
        bands_prompt=band_keys(sig_p, bands, rows_per_band, PROMPT_SALT),
        has_dup=prompt | response,
        has_prompt=prompt,
        lengths=joined(lengths, np.int64),
    )


def _write_sets(path: Path, ctx: np.ndarray, sides: dict[str, tuple[list, list]]) -> np.ndarray:
    """Each Example's header and sets, one after another, as uint32 words: the context hash (two
    words), the sizes of the prompt's set, its boilerplate part, the response's set and its
    boilerplate part, then those four sets. Returns the offsets of the Examples."""
    (sets_p, boiler_p), (sets_r, boiler_r) = sides["p"], sides["r"]
    n = len(sets_p)
    columns = (sets_p, boiler_p, sets_r, boiler_r)
    headers = np.zeros((n, HEADER), dtype=np.uint32)
    headers[:, 0] = (ctx & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    headers[:, 1] = (ctx >> np.uint64(32)).astype(np.uint32)
    for k, column in enumerate(columns):
        headers[:, 2 + k] = np.fromiter(map(len, column), np.int64, n)
    sizes = HEADER + headers[:, 2:].astype(np.int64).sum(axis=1)
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    pieces: list[np.ndarray] = []
    for i in range(n):
        pieces.append(headers[i])
        pieces.extend(column[i] for column in columns)
    with open(path, "wb") as f:
        if pieces:
            f.write(np.concatenate(pieces).astype("<u4").tobytes())
    return offsets


_RENSA_IN: int | None = None  # the process whose rensa calls started its thread pool


def threads_started() -> bool:
    """Whether this process has run rensa (whose Rust thread pool does not survive a fork)."""
    return _RENSA_IN == os.getpid()


def _signatures(sets: list[np.ndarray], boilerplate: list[np.ndarray]) -> np.ndarray:
    """MinHash signatures (n, NUM_PERM) of one side's sets, boilerplate left out unless that
    leaves nothing (all ones for an empty side)."""
    import rensa

    global _RENSA_IN
    _RENSA_IN = os.getpid()
    n = len(sets)
    own = [
        s if not len(b) else (np.setdiff1d(s, b, assume_unique=True) if len(b) < len(s) else s)
        for s, b in zip(sets, boilerplate, strict=True)
    ]
    sizes = np.fromiter(map(len, own), np.int64, n)
    if not n or not sizes.sum():
        return np.full((n, NUM_PERM), 0xFFFFFFFF, dtype=np.uint32)
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.uint64)
    flat = np.concatenate(own).astype(np.uint64)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, NUM_PERM, SEED)
    values = array("I", itertools.chain.from_iterable(matrix.to_rows()))
    return np.frombuffer(values, dtype=np.uint32).reshape(n, NUM_PERM)


def band_keys(sigs: np.ndarray, bands: int, rows: int, salt: np.uint64) -> np.ndarray:
    """(n, bands) 64-bit keys: each band's ``rows`` values hashed, with the band number and a
    salt mixed in so keys never meet across bands or kinds."""
    n = len(sigs)
    used = sigs[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        acc = (np.arange(1, bands + 1, dtype=np.uint64) + salt) * np.uint64(0xBF58476D1CE4E5B9)
        acc = acc + np.zeros((n, 1), np.uint64)
        for r in range(rows):
            acc = acc * np.uint64(0x9E3779B97F4A7C15) + used[:, :, r]
        return mix(acc)


# ---------------------------------------------------------------- the main side


class SetReader:
    """Example i's context hash, flags and two sets, read back from the sets files on demand
    (with a small cache: a cluster's representative is read again and again)."""

    CACHE = 4096

    def __init__(self, folder: Path, names: list[str], starts: np.ndarray, offsets: np.ndarray):
        self._files = [open(folder / name, "rb") for name in names]
        self._starts = starts  # first Example of each file
        self._offsets = offsets  # per file: offsets of its Examples (n_file + 1)
        self._cache: dict[int, tuple] = {}

    def get(self, i: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(context hash, prompt set, its boilerplate, response set, its boilerplate)."""
        hit = self._cache.get(i)
        if hit is not None:
            return hit
        f = int(np.searchsorted(self._starts, i, side="right")) - 1
        offsets = self._offsets[f]
        k = i - int(self._starts[f])
        lo, hi = int(offsets[k]), int(offsets[k + 1])
        data = os.pread(self._files[f].fileno(), 4 * (hi - lo), 4 * lo)
        words = np.frombuffer(data, dtype="<u4")
        ctx = int(words[0]) | (int(words[1]) << 32)
        bounds = np.cumsum(np.concatenate(([HEADER], words[2:HEADER].astype(np.int64))))
        value = (ctx, *(words[bounds[k] : bounds[k + 1]] for k in range(4)))
        if len(self._cache) >= self.CACHE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[i] = value
        return value

    def close(self) -> None:
        for f in self._files:
            f.close()


def _common(a: np.ndarray, b: np.ndarray) -> int:
    """How many values two sorted sets of distinct values share."""
    if not len(a) or not len(b):
        return 0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    at = np.minimum(np.searchsorted(large, small), len(large) - 1)
    return int(np.count_nonzero(large[at] == small))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted sets of distinct values (1.0 for two empty sets)."""
    return side_similarity(a, a[:0], b, b[:0])


def side_similarity(
    set_a: np.ndarray, boiler_a: np.ndarray, set_b: np.ndarray, boiler_b: np.ndarray
) -> float:
    """Jaccard similarity of two sides with the boilerplate both share left out: shared
    boilerplate is no evidence that two sides say the same, but boilerplate only one side has
    is a difference like any other. Two sides with nothing but the same boilerplate (or nothing
    at all) are identical."""
    both = _common(set_a, set_b)
    shared = _common(boiler_a, boiler_b)
    rest = len(set_a) + len(set_b) - both - shared
    return 1.0 if rest == 0 else (both - shared) / rest
