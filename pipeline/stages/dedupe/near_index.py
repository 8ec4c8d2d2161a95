"""Near-duplicate index: boilerplate counted over the run, the sets each side is compared on,
signatures and band keys.

Takes the feature batches (``near_features``) of the Examples exact dedupe kept, in input order,
as the workers wrote them to the staging folder. While records stream, it counts in how many
Examples each word 5-gram occurs (a count-min sketch of fixed size, flushed at fixed points so
the result does not depend on batching); a 5-gram in at least ``max(FLOOR, SHARE * examples)``
Examples is boilerplate: a system prompt pasted into every prompt, a tool specification, a RAG
template, a passage many questions are asked about.

After the last input, ``signature_task`` (in the worker processes when the run has them) turns
every Example side into the set it is compared on, with its boilerplate marked:

- a long side: its word 5-grams, those that are boilerplate marked;
- a short side: its character 4-grams and words, those that lie only inside words boilerplate
  5-grams cover marked.

Two sides are compared on their sets with the boilerplate both share left out
(``side_similarity``): shared boilerplate is no evidence, boilerplate only one side has is a
difference like any other.

Each side gets a MinHash signature (``minhash``) of what is not boilerplate (the whole set
when nothing else is left); the Example's signature is their elementwise minimum (the signature
of the union of its tagged sets), cut into bands whose keys propose duplicate candidates, and the
prompt's own band keys propose prompt candidates (conflicts). The sets are written to the staging
folder, so a candidate pair is verified exactly (``near_clusters``), never on the
estimate. Memory holds a few bytes per Example (set offsets, lengths, flags) and the fixed
sketch; band keys and sets are on disk.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.stages.dedupe import minhash
from pipeline.stages.dedupe.near_features import (
    CHAR_GRAM,
    PROMPT,
    WORD_GRAM,
    char_grams,
    feature_schema,
    list_values,
    word_grams,
    word_units,
)

FLOOR = 20  # a 5-gram in fewer Examples than this is never boilerplate
SHARE = 0.01  # ... nor one in less than this share of them
SKETCH_BITS = 18  # count-min sketch: 2 rows of 2**18 counters (2 MB)
FLUSH = 1 << 12  # Examples whose 5-grams are counted at once (fixed points: engine-independent)
TASK_EXAMPLES = 1 << 14  # Examples per signature task
HEADER = 10  # uint32 words before an Example's sets: context hash, tag (2 each), 6 sizes
DUP_SALT, PROMPT_SALT = 0xD0B1, 0x9807


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
        self._loose = np.zeros(0, dtype=np.uint32)  # at half the floor: for ``without``

    def _index(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = np.uint64(self.width - 1)  # numpy scalars throughout: no slow promotion
        wide = values.astype(np.uint64)
        first = wide & mask
        second = ((wide * np.uint64(0x9E3779B1)) >> np.uint64(32 - SKETCH_BITS)) & mask
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
        floor = boilerplate_floor(self.examples)
        for row, index in ((0, first), (1, second)):
            self.rows[row] += np.bincount(index, minlength=self.width).astype(np.uint32)
        estimate = np.minimum(self.rows[0][first], self.rows[1][second])
        loose = values[estimate >= (floor + 1) // 2]
        if len(loose):
            heavy = loose[self.estimate(loose) >= floor]
            self._candidates = np.union1d(self._candidates, heavy)
            self._loose = np.union1d(self._loose, loose)

    def finish(self) -> np.ndarray:
        """The boilerplate 5-grams, sorted: candidates still at or over the floor."""
        self._flush()
        floor = boilerplate_floor(self.examples)
        return self._candidates[self.estimate(self._candidates) >= floor].astype(np.uint32)

    def without(self, sides: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray | None:
        """The boilerplate of the Examples counted (``finish`` first) less those given as
        ``add`` takes them: the same counters as counting the rest alone (a sketch's cells add
        up), or None when over half are taken away (the candidates kept at half the floor may
        then miss a 5-gram: count the rest afresh)."""
        n = len(sides[0][1]) - 1
        left = self.examples - n
        if left < self.examples / 2:
            return None
        values = np.concatenate([v[o[0] : o[-1]] for v, o in sides])
        first, second = self._index(values)
        rows = self.rows.astype(np.int64)
        rows[0] -= np.bincount(first, minlength=self.width)
        rows[1] -= np.bincount(second, minlength=self.width)
        a, b = self._index(self._loose)
        estimate = np.minimum(rows[0][a], rows[1][b])
        return self._loose[estimate >= boilerplate_floor(left)].astype(np.uint32)


# ---------------------------------------------------------------- signatures (worker side)


@dataclass
class TaskResult:
    """What one signature task hands back: its Examples' band keys, which of them take part at
    all, and their lengths."""

    bands_dup: np.ndarray  # (n, bands) uint64
    bands_prompt: np.ndarray  # (n, bands) uint64
    has_dup: np.ndarray  # bool: some text to compare
    has_prompt: np.ndarray  # bool: a prompt of its own (conflicts are about prompts)
    lengths: np.ndarray  # int64


@dataclass
class _Side:
    """One side of a run of Examples as flat arrays: the sets (``values``, ``offsets``), their
    boilerplate parts (``boiler``, ``boiler_offsets``), what the signature is taken of (``own``,
    ``own_offsets``: the set without its boilerplate, or all of it when nothing else is left),
    and whether the side has words at all."""

    values: np.ndarray
    offsets: np.ndarray
    boiler: np.ndarray
    boiler_offsets: np.ndarray
    own: np.ndarray
    own_offsets: np.ndarray
    has: np.ndarray


def ragged_take(
    values: np.ndarray, starts: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``values[starts[i]:starts[i] + sizes[i]]`` for each i, as one flat array and offsets."""
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    index = np.repeat(starts - offsets[:-1], sizes) + np.arange(offsets[-1])
    return values[index], offsets


def _in_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if not len(sorted_set) or not len(values):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values


def _short_boilerplate(text: str, boilerplate: np.ndarray, tag: int) -> np.ndarray:
    """The character 4-grams and words of a short side that lie only inside words boilerplate
    5-grams cover (sorted)."""
    hashes, _, positions = word_grams([text.encode("utf-8")], np.array([tag], dtype=np.uint64))
    boiler = _in_sorted(hashes, boilerplate)
    if not boiler.any():
        return np.zeros(0, dtype=np.uint32)
    words = text.split(" ")
    covered = np.zeros(len(words), dtype=bool)
    for start in positions[boiler].tolist():
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


def _side(batch: Any, rows: np.ndarray, side: str, boilerplate: np.ndarray) -> _Side:
    """One side of some rows (ascending) of a feature batch."""
    words, w_off = list_values(batch.column(f"{side}_words"))
    chars, c_off = list_values(batch.column(f"{side}_chars"))
    texts = batch.column(f"{side}_text")
    short = texts.is_valid().to_numpy(zero_copy_only=False)[rows]
    w_size, c_size = np.diff(w_off), np.diff(c_off)
    hit = _in_sorted(words, boilerplate)
    seen = np.concatenate(([0], np.cumsum(hit)))
    boiler = (seen[w_off[1:]] - seen[w_off[:-1]])[rows]  # boilerplate 5-grams per row
    # the sets: a short side's characters and words, a long side's 5-grams
    source = np.concatenate((words, chars))
    starts = np.where(short, c_off[rows] + len(words), w_off[rows])
    values, offsets = ragged_take(source, starts, np.where(short, c_size[rows], w_size[rows]))
    # their boilerplate parts: a long side's boilerplate 5-grams; a short side's, worked out
    # from its text (only where its 5-grams hold any)
    long_rows = np.zeros(len(w_size), dtype=bool)
    long_rows[rows[~short]] = True
    owner = np.repeat(np.arange(len(w_size)), w_size)
    long_hits = words[hit & long_rows[owner]]
    redo = np.flatnonzero(short & (boiler > 0))
    tags = (
        np.full(len(rows), PROMPT, dtype=np.uint64)
        if side == "p"
        else batch.column("r_tag").to_numpy()[rows]
    )
    short_parts = [
        _short_boilerplate(texts[int(rows[k])].as_py().decode("utf-8"), boilerplate, int(tags[k]))
        for k in redo.tolist()
    ]
    b_sizes = np.where(short, 0, boiler)
    b_sizes[redo] = [len(p) for p in short_parts]
    b_starts = np.zeros(len(rows), dtype=np.int64)
    long_sizes = np.where(short, 0, boiler)
    b_starts[~short] = (np.cumsum(long_sizes) - long_sizes)[~short]
    if len(redo):
        at = np.cumsum([0] + [len(p) for p in short_parts[:-1]])
        b_starts[redo] = at + len(long_hits)
    b_source = np.concatenate((long_hits, *short_parts)).astype(np.uint32)
    boiler_values, boiler_offsets = ragged_take(b_source, b_starts, b_sizes)
    # what the signature is taken of: the set without its boilerplate, unless nothing is left
    keep = np.ones(len(values), dtype=bool)
    long_at = np.repeat(~short, np.diff(offsets))
    keep[long_at] = ~hit[np.flatnonzero(long_rows[owner])]
    for k, part in zip(redo.tolist(), short_parts, strict=True):
        lo, hi = offsets[k], offsets[k + 1]
        keep[lo:hi] = ~_in_sorted(values[lo:hi], part)
    kept = np.concatenate(([0], np.cumsum(keep)))
    nothing = (kept[offsets[1:]] - kept[offsets[:-1]]) == 0
    keep[np.repeat(nothing, np.diff(offsets))] = True
    kept = np.concatenate(([0], np.cumsum(keep)))
    own = values[keep]
    return _Side(
        values, offsets, boiler_values, boiler_offsets, own, kept[offsets], w_size[rows] > 0
    )


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
    """Worker side: the signatures and band keys of a run of Examples (``job``: the task's
    number and its parts, each a feature batch's ``RowsRef`` and the rows of it that count, None
    for all)."""
    _, parts = job
    bands, rows_per_band = lsh
    dup, prompt, has_dup, has_prompt, lengths = [], [], [], [], []
    for ref, rows in parts:
        batch = read_features(Path(folder), ref)
        rows = np.arange(batch.num_rows) if rows is None else np.asarray(rows)
        p, r = _side(batch, rows, "p", boilerplate), _side(batch, rows, "r", boilerplate)
        sig_p = minhash.signatures(p.own, p.own_offsets)
        sig_r = minhash.signatures(r.own, r.own_offsets)
        dup.append(minhash.band_keys(np.minimum(sig_p, sig_r), bands, rows_per_band, DUP_SALT))
        prompt.append(minhash.band_keys(sig_p, bands, rows_per_band, PROMPT_SALT))
        has_dup.append(p.has | r.has)
        has_prompt.append(p.has)
        lengths.append(batch.column("length").to_numpy()[rows])

    def joined(parts: list[np.ndarray], empty: np.ndarray) -> np.ndarray:
        return np.concatenate(parts) if parts else empty

    keys = np.zeros((0, bands), np.uint64)
    return TaskResult(
        bands_dup=joined(dup, keys),
        bands_prompt=joined(prompt, keys),
        has_dup=joined(has_dup, np.zeros(0, bool)),
        has_prompt=joined(has_prompt, np.zeros(0, bool)),
        lengths=joined(lengths, np.zeros(0, np.int64)),
    )


def sets_task(
    folder: str, boilerplate: np.ndarray, job: tuple
) -> tuple[str, np.ndarray, np.ndarray]:
    """Worker side: the sets of the Examples that have candidates, written to a sets file of the
    staging folder (``job``: the task's number and its parts, each a feature batch's ``RowsRef``,
    the rows of it and their indexes among all Examples). Returns the file's name, the indexes
    and the offsets of their sets in it (one more than indexes)."""
    number, parts = job
    name = f"_near_sets-{number:06d}.u32"
    indexes, offsets, at = [], [], 0
    with open(Path(folder) / name, "wb") as f:
        for ref, rows, where in parts:
            batch = read_features(Path(folder), ref)
            p, r = _side(batch, rows, "p", boilerplate), _side(batch, rows, "r", boilerplate)
            texts = [batch.column(f"{side}_text").take(rows).to_pylist() for side in ("p", "r")]
            ctx, tags = (batch.column(c).to_numpy()[rows] for c in ("ctx", "r_tag"))
            data, starts = _sets_bytes(ctx, tags, p, r, texts)
            f.write(data)
            indexes.append(where)
            offsets.append(starts[:-1] + at)
            at += int(starts[-1])
    index = np.concatenate(indexes) if indexes else np.zeros(0, np.int64)
    starts = np.concatenate(offsets) if offsets else np.zeros(0, np.int64)
    return name, index, np.append(starts, at).astype(np.int64)


def _sets_bytes(
    ctx: np.ndarray, tags: np.ndarray, prompt: _Side, response: _Side, texts: list[list]
) -> tuple[bytes, np.ndarray]:
    """Each Example's header, sets and short texts, one after another, as uint32 words: the
    context hash and the response's tag (two words each), the sizes of the prompt's set, its
    boilerplate part, the response's set and its boilerplate part, the bytes of the prompt's and
    the response's short texts (0 for a long side), then those four sets and the two texts
    (each padded to whole words). Returns the bytes and the Examples' offsets."""
    n = len(ctx)
    encoded = [[t or b"" for t in side] for side in texts]
    text_bytes = np.array([[len(p), len(r)] for p, r in zip(*encoded, strict=True)], np.int64)
    text_bytes = text_bytes.reshape(n, 2)
    padded = [
        np.frombuffer(b"".join(t + bytes(-len(t) % 4) for t in side), dtype="<u4")
        for side in encoded
    ]
    parts = [
        (prompt.values, prompt.offsets),
        (prompt.boiler, prompt.boiler_offsets),
        (response.values, response.offsets),
        (response.boiler, response.boiler_offsets),
        *(
            (words, np.concatenate(([0], np.cumsum((size + 3) // 4))))
            for words, size in zip(padded, text_bytes.T, strict=True)
        ),
    ]
    headers = np.zeros((n, HEADER), dtype=np.uint32)
    for k, value in enumerate((ctx, tags)):
        headers[:, 2 * k] = (value & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        headers[:, 2 * k + 1] = (value >> np.uint64(32)).astype(np.uint32)
    sizes = np.stack([np.diff(o) for _, o in parts], axis=1) if n else np.zeros((0, 6), np.int64)
    headers[:, 4:8] = sizes[:, :4]
    headers[:, 8:10] = text_bytes
    totals = HEADER + sizes.sum(axis=1)
    offsets = np.concatenate(([0], np.cumsum(totals))).astype(np.int64)
    out = np.empty(int(offsets[-1]), dtype="<u4")
    out[(offsets[:-1, None] + np.arange(HEADER)).ravel()] = headers.ravel()
    at = offsets[:-1] + HEADER  # where each Example's next part starts
    for k, (values, part_offsets) in enumerate(parts):
        size = sizes[:, k]
        out[np.repeat(at - part_offsets[:-1], size) + np.arange(part_offsets[-1])] = values
        at = at + size
    return out.tobytes(), offsets


@dataclass(frozen=True)
class Entry:
    """What ``sets_task`` wrote of one Example: its context hash, and per side the set it is
    compared on, the boilerplate part of it, and the text when the side is short."""

    ctx: int
    prompt: np.ndarray
    prompt_boiler: np.ndarray
    response: np.ndarray
    response_boiler: np.ndarray
    prompt_text: str | None
    response_text: str | None
    response_tag: int

    def sides(self) -> tuple[tuple, tuple]:
        return (
            (self.prompt, self.prompt_boiler, self.prompt_text, PROMPT),
            (self.response, self.response_boiler, self.response_text, self.response_tag),
        )


class SetReader:
    """The entries ``sets_task`` wrote, read back on demand by the Example's index among all
    Examples (with a small cache: a representative is read again and again)."""

    CACHE = 4096

    def __init__(self, folder: Path, tasks: list[tuple[str, np.ndarray, np.ndarray]]):
        self._files = [open(folder / name, "rb") for name, _, _ in tasks]
        index = [i for _, i, _ in tasks]
        self._index = np.concatenate(index) if index else np.zeros(0, np.int64)
        self._file = np.repeat(np.arange(len(tasks)), [len(i) for i in index])
        self._start = np.concatenate([o[:-1] for *_, o in tasks]) if tasks else np.zeros(0, int)
        self._stop = np.concatenate([o[1:] for *_, o in tasks]) if tasks else np.zeros(0, int)
        order = np.argsort(self._index, kind="stable")
        self._index, self._file = self._index[order], self._file[order]
        self._start, self._stop = self._start[order], self._stop[order]
        self._cache: dict[int, Entry] = {}

    def __contains__(self, i: int) -> bool:
        k = int(np.searchsorted(self._index, i))
        return k < len(self._index) and self._index[k] == i

    def get(self, i: int) -> Entry:
        hit = self._cache.get(i)
        if hit is not None:
            return hit
        k = int(np.searchsorted(self._index, i))
        if k >= len(self._index) or self._index[k] != i:
            raise KeyError(f"internal error: no sets were written for Example {i}")
        lo, hi = int(self._start[k]), int(self._stop[k])
        data = os.pread(self._files[int(self._file[k])].fileno(), 4 * (hi - lo), 4 * lo)
        words = np.frombuffer(data, dtype="<u4")
        head = words[:HEADER].astype(np.int64)
        sizes = np.concatenate((head[4:8], (head[8:10] + 3) // 4))
        bounds = np.cumsum(np.concatenate(([HEADER], sizes)))
        parts = [words[bounds[j] : bounds[j + 1]] for j in range(6)]
        texts = [
            parts[4 + j].tobytes()[: head[8 + j]].decode("utf-8") if head[8 + j] else None
            for j in range(2)
        ]
        value = Entry(
            int(head[0]) | int(head[1]) << 32,
            *parts[:4],
            *texts,
            int(head[2]) | int(head[3]) << 32,
        )
        if len(self._cache) >= self.CACHE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[i] = value
        return value

    def close(self) -> None:
        for f in self._files:
            f.close()


def boiler_part(values: np.ndarray, text: str | None, boilerplate: np.ndarray, tag: int):
    """The boilerplate part of a side's set under another boilerplate set (sorted)."""
    if text is None:
        return values[_in_sorted(values, boilerplate)]
    return _short_boilerplate(text, boilerplate, tag)


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
