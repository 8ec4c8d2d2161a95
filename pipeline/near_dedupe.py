"""Near-duplicate detection: MinHash signatures, LSH band keys, union-find clusters.

Takes Examples (after exact dedupe) and yields, for each, the index of its cluster's
representative and its estimated Jaccard similarity to it. The text of an Example is its
conversation (message contents, then chosen/rejected/completion, then plain text), normalised:
NFKC, lowercase, punctuation stripped, digits folded to 0, whitespace collapsed. Its shingles are
word 5-grams; texts under ``MIN_WORDS`` words get no signature (exact dedupe only).

Each shingle is hashed to 64 bits (vectorised over a batch of texts with numpy); a signature is
``NUM_PERM`` 32-bit MinHash values of those hashes from rensa's ``RMinHash`` (fixed seed, one call
per batch); it is cut into ``BANDS`` bands of ``ROWS`` rows and each band is hashed to one 64-bit
key. Two Examples are candidates when they share a band key and are kept as a pair when the
signatures' estimated Jaccard (share of equal values) is at least the threshold. Pairs join
clusters by union-find.

Workers compute ``featurise_batch`` (the costly part). The main process holds ``NearIndex``:
band keys and signatures are appended to files in the staging folder (128 + 512 bytes per Example
on disk); memory holds 5 bytes per Example (text length, a has-signature flag) while records
stream, and about 40 bytes per Example while clusters are decided (one band column at a time, its
sort order, the union-find parents).
"""

from __future__ import annotations

import itertools
import os
import re
import unicodedata
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NUM_PERM = 128
BANDS = 16
ROWS = 8
SHINGLE = 5
MIN_WORDS = 10
SEED = 42
BACKEND = "rensa.RMinHash.digest_matrix_from_flat_token_hashes"
MAX_BUCKET_CHECKS = 64  # Jaccard estimates per Example per bucket, at most
PER_CLUSTER = 8  # members of one cluster an Example is checked against in a bucket, at most

_PUNCT = re.compile(r"[^\w\s]+")
_DIGIT = re.compile(r"\d")
_WS = re.compile(r"\s+")

KEYS = ("full", "prompt")
MODES = ("remove", "flag", "off")
KEEPS = ("first", "longest")


@dataclass(frozen=True)
class NearSettings:
    """What the run asks for; ``mode`` off still computes exact dedupe keys."""

    mode: str = "remove"
    threshold: float = 0.8
    keep: str = "first"
    key: str = "full"

    def problems(self) -> list[str]:
        out = []
        if self.mode not in MODES:
            out.append(f"near_dupes must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 0 < self.threshold <= 1:
            out.append(f"near_threshold must be in (0, 1], not {self.threshold}")
        if self.keep not in KEEPS:
            out.append(f"keep must be one of {', '.join(KEEPS)}, not {self.keep!r}")
        if self.key not in KEYS:
            out.append(f"dedupe_key must be one of {', '.join(KEYS)}, not {self.key!r}")
        return out


def describe(settings: NearSettings) -> dict[str, Any]:
    """The manifest's ``dedupe`` entry: backend, version, seed and parameters."""
    from importlib import metadata

    return {
        "exact": {"hash": "xxh3_128", "key": settings.key},
        "near": {
            "mode": settings.mode,
            "backend": BACKEND,
            "backend_version": metadata.version("rensa"),
            "seed": SEED,
            "num_perm": NUM_PERM,
            "bands": BANDS,
            "rows": ROWS,
            "shingle": f"word {SHINGLE}-grams",
            "shingle_hash": "64-bit: polynomial word hashes, polynomial over the 5 words, "
            "splitmix64 finaliser",
            "normalise": "NFKC, lowercase, punctuation stripped, digits folded, whitespace collapsed",
            "min_words": MIN_WORDS,
            "compared_bytes": CHUNK_BYTES,
            "threshold": settings.threshold,
            "keep": settings.keep,
        },
    }


# ---------------------------------------------------------------- text and signatures


def _ascii_table() -> dict[int, str]:
    """The same per-character mapping as the regexes below, as a str.translate table for ASCII."""
    table = {}
    for code in range(128):
        c = chr(code)
        if _DIGIT.match(c):
            table[code] = "0"
        elif _PUNCT.match(c):
            table[code] = " "
    return table


_ASCII = _ascii_table()


def normalise_words(text: str) -> list[str]:
    if text.isascii():  # the common case: one translate pass instead of three regex passes
        return text.lower().translate(_ASCII).split()
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DIGIT.sub("0", _PUNCT.sub(" ", text))
    return _WS.sub(" ", text).split()


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _messages_text(messages: Any) -> list[str]:
    if not isinstance(messages, list):
        return []
    return [_content_text(m.get("content")) for m in messages if isinstance(m, dict)]


def prompt_messages(ex: dict[str, Any]) -> list:
    """The prompt: for SFT the messages before the last assistant turn, else ``messages``."""
    messages = ex.get("messages") or []
    if ex.get("kind", "sft") != "sft":
        return messages
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], dict) and messages[i].get("role") == "assistant":
            return messages[:i]
    return messages


def conversation_text(ex: dict[str, Any], key: str = "full") -> str:
    """The text whose shingles are hashed: the whole conversation, or the prompt alone."""
    if key == "prompt":
        return " ".join(_messages_text(prompt_messages(ex)))
    parts = _messages_text(ex.get("messages"))
    for field in ("chosen", "rejected", "completion"):
        parts.extend(_messages_text(ex.get(field)))
    if isinstance(ex.get("text"), str):
        parts.append(ex["text"])
    return " ".join(parts)


def shingles(words: list[str]) -> list[str]:
    """The word 5-grams of a text, as strings: the definition ``featurise_texts`` hashes."""
    return list(map(" ".join, zip(*(words[i:] for i in range(SHINGLE)), strict=False)))


@dataclass
class BatchFeatures:
    """The features of a batch of texts, row i for text i."""

    lengths: np.ndarray  # int64: characters of the normalised text
    has: np.ndarray  # bool: at least MIN_WORDS words, so a signature
    sigs: np.ndarray  # (n, NUM_PERM) uint32; zeros where ``has`` is False
    bands: np.ndarray  # (n, BANDS) uint64; zeros where ``has`` is False

    @staticmethod
    def concat(parts: list[BatchFeatures]) -> BatchFeatures:
        return BatchFeatures(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("lengths", "has", "sigs", "bands")
            )
        )

    def take(self, rows: np.ndarray | list[int]) -> BatchFeatures:
        return BatchFeatures(self.lengths[rows], self.has[rows], self.sigs[rows], self.bands[rows])


# Shingle hashing, vectorised over a batch: the normalised texts of a batch are joined by spaces
# into one byte buffer; a word's hash is its polynomial hash (base _P, mod 2**64, from prefix sums
# over the buffer) put through the splitmix64 finaliser; a 5-gram's hash is the polynomial of its
# five word hashes (base _K), finalised the same way. The 64-bit shingle hashes of each text go to
# rensa as one flat buffer, which computes the MinHash signatures of the whole batch in Rust.
_P = np.uint64(0x100000001B3)
_P_INV = np.uint64(pow(int(_P), -1, 2**64))
_K = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
CHUNK_BYTES = 1 << 20  # normalised bytes hashed at once; a longer text is compared on its start
_POWERS: tuple[np.ndarray, np.ndarray] | None = None


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise (uint64 arithmetic wraps)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """_P**(j+1) and _P_INV**(j+1) for j < n (tables of CHUNK_BYTES built once per process)."""
    global _POWERS
    if _POWERS is None or len(_POWERS[0]) < CHUNK_BYTES:
        _POWERS = _power_tables(CHUNK_BYTES)
    return _POWERS[0][:n], _POWERS[1][:n]


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(over="ignore"):
        return (
            np.cumprod(np.full(n, _P, dtype=np.uint64)),
            np.cumprod(np.full(n, _P_INV, dtype=np.uint64)),
        )


def _ascii_bytes_table() -> bytes:
    """``normalise_words``'s mapping for ASCII as a bytes.translate table: letters lowercased,
    digits to 0, underscore kept (a word character), everything else a space."""
    table = bytearray(range(256))
    for code in range(128):
        c = chr(code)
        if c.isdigit():
            table[code] = ord("0")
        elif c.isalnum() or c == "_":
            table[code] = ord(c.lower())
        else:
            table[code] = ord(" ")
    return bytes(table)


_ASCII_BYTES = _ascii_bytes_table()


def normalised_bytes(text: str) -> tuple[bytes, int | None]:
    """The normalised text as bytes whose words are split by spaces (runs not yet collapsed), and
    its length in characters when that differs from what the bytes tell (non-ASCII text)."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_BYTES), None
    joined = " ".join(normalise_words(text))
    return joined.encode("utf-8"), len(joined)


def featurise_texts(texts: list[str]) -> BatchFeatures:
    """MinHash signatures and band keys of a batch of conversation texts."""
    n = len(texts)
    lengths = np.zeros(n, dtype=np.int64)
    has = np.zeros(n, dtype=bool)
    sigs = np.zeros((n, NUM_PERM), dtype=np.uint32)
    parts: list[bytes] = []
    size = start = 0
    for i, text in enumerate(texts):
        data, chars = normalised_bytes(text)
        if len(data) + 2 > CHUNK_BYTES:  # compared on its first CHUNK_BYTES, cut at a space
            chars = len(" ".join(data.decode("utf-8").split()))
            cut = data[: CHUNK_BYTES - 2]
            data = cut[: cut.rfind(b" ")] if b" " in cut else cut
        if parts and size + len(data) + 2 > CHUNK_BYTES:  # the buffer: size + 1 bytes
            _featurise_chunk(parts, slice(start, i), lengths, has, sigs)
            parts, size, start = [], 0, i
        parts.append(data)
        size += len(data) + 1
        if chars is not None:
            lengths[i] = -chars - 1  # set after hashing: the character count, not bytes
    if parts:
        _featurise_chunk(parts, slice(start, n), lengths, has, sigs)
    bands = np.zeros((n, BANDS), dtype=np.uint64)
    if has.any():
        bands[has] = band_keys(sigs[has])
    return BatchFeatures(lengths, has, sigs, bands)


def _featurise_chunk(
    parts: list[bytes], rows: slice, lengths: np.ndarray, has: np.ndarray, sigs: np.ndarray
) -> None:
    import rensa

    buf = np.frombuffer(b" " + b" ".join(parts) + b" ", dtype=np.uint8)
    # Word edges alternate (the buffer starts and ends with a space): a word starts after each
    # even edge and ends after each odd one.
    in_word = buf != 32
    edges = np.flatnonzero(in_word[1:] ^ in_word[:-1]) + 1  # nonzero of a bool array: fast
    starts, ends = edges[0::2], edges[1::2]
    power, inverse = _powers(len(buf))
    prefix = np.empty(len(buf) + 1, dtype=np.uint64)
    prefix[0] = 0
    with np.errstate(over="ignore"):
        np.cumsum(buf * power, out=prefix[1:])
        words = _mix((prefix[ends] - prefix[starts]) * inverse[starts] + np.uint64(1))
    offsets = np.cumsum([1] + [len(p) + 1 for p in parts])  # where each text starts (and ends)
    first_words = np.searchsorted(starts, offsets)
    counts = np.diff(first_words)  # words per text
    owner = np.repeat(np.arange(len(parts)), counts)
    word_chars = np.concatenate(([0], np.cumsum(ends - starts)))
    chars = word_chars[first_words[1:]] - word_chars[first_words[:-1]]
    here = lengths[rows]
    lengths[rows] = np.where(here < 0, -here - 1, chars + np.maximum(counts - 1, 0))
    enough = counts >= MIN_WORDS
    has[rows] = enough
    if not enough.any():
        return
    m = len(words) - SHINGLE + 1  # >= 1: some text has MIN_WORDS words
    with np.errstate(over="ignore"):
        acc = words[:m].copy()
        for i in range(1, SHINGLE):
            acc = acc * _K + words[i : i + m]
        hashes = _mix(acc)
    first_owner = owner[:m]
    valid = (first_owner == owner[SHINGLE - 1 :]) & enough[first_owner]
    per_text = np.bincount(first_owner[valid], minlength=len(parts))[enough]
    row_offsets = np.concatenate(([0], np.cumsum(per_text))).astype(np.uint64)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        np.ascontiguousarray(hashes[valid]), row_offsets, NUM_PERM, SEED
    )
    flat = array("I", itertools.chain.from_iterable(matrix.to_rows()))  # no list of arrays
    block = sigs[rows]
    block[enough] = np.frombuffer(flat, dtype=np.uint32).reshape(-1, NUM_PERM)
    sigs[rows] = block


def band_keys(sigs: np.ndarray) -> np.ndarray:
    """(n, BANDS) 64-bit keys of (n, NUM_PERM) signatures: each band's ROWS values hashed, with
    the band number mixed in so keys never meet across bands."""
    rows = sigs.reshape(len(sigs), BANDS, ROWS).astype(np.uint64)
    with np.errstate(over="ignore"):
        acc = np.arange(1, BANDS + 1, dtype=np.uint64) * _M1 + np.zeros((len(sigs), 1), np.uint64)
        for r in range(ROWS):
            acc = acc * _K + rows[:, :, r]
        return _mix(acc)


def featurise_examples(examples: list[dict[str, Any]], key: str = "full") -> BatchFeatures:
    return featurise_texts([conversation_text(ex, key) for ex in examples])


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The estimated Jaccard similarity of two signatures: the share of equal values."""
    return float(np.count_nonzero(a == b)) / len(a)


# ---------------------------------------------------------------- main side


class UnionFind:
    """Parents in a numpy array; the root of a set is its smallest index."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = int(parent[root])
        while parent[i] != root:
            parent[i], i = root, int(parent[i])
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo

    def roots(self) -> np.ndarray:
        parent = self.parent
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                return parent
            parent = grand


@dataclass
class NearDecision:
    """Per Example (index in input order): its representative's index and similarity to it."""

    rep: np.ndarray  # int64; rep[i] == i for a representative
    similarity: np.ndarray  # float32; 1.0 for representatives
    first: np.ndarray  # int64: the smallest index in the cluster (where the cluster first appears)

    def clusters(self) -> int:
        return int(np.count_nonzero(self.rep == np.arange(len(self.rep))))


FLUSH_EVERY = 4096  # examples whose band keys are buffered before they are written


class _Signatures:
    """Signature i of the spilled file, read on demand."""

    def __init__(self, path: Path):
        self._file = open(path, "rb")
        self._size = NUM_PERM * 4

    def __getitem__(self, i: int) -> np.ndarray:
        data = os.pread(self._file.fileno(), self._size, int(i) * self._size)
        return np.frombuffer(data, dtype="<u4")

    def close(self) -> None:
        self._file.close()


class NearIndex:
    """Band keys and signatures of every kept Example, in input order, spilled to ``folder``.

    Each band's keys go to a file of their own, so deciding reads one band column (8 bytes per
    Example) at a time; signatures are read back one by one with ``pread``, only for candidate
    pairs. Nothing is memory-mapped: mapped pages would count as resident memory."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._band_paths = [folder / f"_near_band{b:02d}.u64" for b in range(BANDS)]
        self._sigs_path = folder / "_near_sigs.u32"
        self._band_files = [open(p, "wb") for p in self._band_paths]
        self._band_rows = (
            bytearray()
        )  # BANDS keys per Example, split into columns every FLUSH_EVERY
        self._sigs = open(self._sigs_path, "wb")
        self.lengths = array("I")
        self.has = bytearray()
        self._zero_keys = bytes(8 * BANDS)
        self._zero_sig = bytes(NUM_PERM * 4)

    def __len__(self) -> int:
        return len(self.has)

    def add_batch(self, features: BatchFeatures | None, n: int) -> None:
        """Remember n Examples at once: ``features`` of each, or none (near dedupe off)."""
        if features is None:
            self._band_rows += self._zero_keys * n
            self._sigs.write(self._zero_sig * n)
            self.has += bytes(n)
            self.lengths.extend([0] * n)
        else:
            self._band_rows += features.bands.astype("<u8").tobytes()
            self._sigs.write(features.sigs.astype("<u4").tobytes())
            self.has += features.has.astype(np.uint8).tobytes()
            self.lengths.extend(np.minimum(features.lengths, 2**32 - 1).tolist())
        if len(self._band_rows) >= FLUSH_EVERY * BANDS * 8:
            self._flush_bands()

    def _flush_bands(self) -> None:
        rows = np.frombuffer(bytes(self._band_rows), dtype="<u8").reshape(-1, BANDS)
        for b, f in enumerate(self._band_files):
            f.write(rows[:, b].tobytes())
        self._band_rows.clear()

    def close(self) -> None:
        if not self._sigs.closed:
            self._flush_bands()
        for f in (*self._band_files, self._sigs):
            if not f.closed:
                f.close()

    def remove_files(self) -> None:
        self.close()
        for path in (*self._band_paths, self._sigs_path):
            path.unlink(missing_ok=True)

    def signatures(self) -> _Signatures:
        self.close()
        return _Signatures(self._sigs_path)

    def decide(self, threshold: float, keep: str = "first") -> NearDecision:
        """Cluster the Examples: candidates share a band key, pairs need estimated J >= threshold."""
        self.close()
        n = len(self)
        uf = UnionFind(n)
        has = (
            np.frombuffer(bytes(self.has), dtype=np.uint8).astype(bool) if n else np.zeros(0, bool)
        )
        members = np.flatnonzero(has)
        if len(members) > 1:
            sigs = self.signatures()
            for b in range(BANDS):
                column = np.fromfile(self._band_paths[b], dtype="<u8")[members]
                order = np.argsort(column)  # a fast unstable sort finds the shared keys ...
                same = column[order[1:]] == column[order[:-1]]
                if not same.any():
                    continue
                shared = np.zeros(len(order), dtype=bool)
                shared[1:] |= same
                shared[:-1] |= same
                rows = order[shared]  # ... and their few rows go in (key, input) order
                order = rows[np.lexsort((rows, column[rows]))]
                keys = column[order]
                starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
                sizes = np.diff(np.append(starts, len(keys)))
                for start, size in zip(starts, sizes, strict=True):
                    bucket = members[order[start : start + size]]
                    self._verify_bucket(bucket, sigs, uf, threshold)
            sigs.close()
        roots = uf.roots().copy()
        rep = roots.copy()
        if keep == "longest" and n:
            lengths = np.frombuffer(self.lengths.tobytes(), dtype=np.uint32).astype(np.int64)
            # per root: the longest member, the earliest among equals
            order = np.lexsort((np.arange(n), -lengths, roots))
            heads = order[np.concatenate(([True], roots[order][1:] != roots[order][:-1]))]
            best = np.empty(n, dtype=np.int64)
            best[roots[heads]] = heads
            rep = best[roots]
        similarity = np.ones(n, dtype=np.float32)
        others = np.flatnonzero(rep != np.arange(n))
        if len(others):
            sigs = self.signatures()
            for i in others:
                similarity[i] = jaccard(sigs[i], sigs[rep[i]])
            sigs.close()
        return NearDecision(rep=rep, similarity=similarity, first=roots)

    @staticmethod
    def _verify_bucket(
        bucket: np.ndarray, sigs: np.ndarray, uf: UnionFind, threshold: float
    ) -> None:
        """Verify each member against earlier members of other clusters in the bucket: up to
        ``PER_CLUSTER`` members of each, ``MAX_BUCKET_CHECKS`` Jaccard estimates in all."""
        groups: dict[int, list[int]] = {}  # root -> the first few members seen in this bucket
        for i in (int(x) for x in bucket):
            sig_i = None  # read only when a comparison needs it (most pairs are joined already)
            checks = 0
            for root in list(groups):
                if checks >= MAX_BUCKET_CHECKS:
                    break
                if uf.find(root) == uf.find(i):
                    continue
                if sig_i is None:
                    sig_i = np.asarray(sigs[i])
                for j in groups[root]:
                    checks += 1
                    if jaccard(sig_i, np.asarray(sigs[j])) >= threshold:
                        uf.union(i, j)
                        break
            seen = groups.setdefault(uf.find(i), [])  # keys may go stale: compared by find
            if len(seen) < PER_CLUSTER:
                seen.append(i)


def featurise_batch(examples: list[dict[str, Any]], settings: NearSettings) -> BatchFeatures | None:
    """Worker side, per batch of Examples: add ``dedupe_key`` to each (with ``--dedupe-key
    prompt``) and return their near-duplicate features (None when near dedupe is off)."""
    if settings.key == "prompt":
        from pipeline.dedupe import prompt_key

        for ex in examples:
            ex["dedupe_key"] = prompt_key(ex, prompt_messages(ex))
    if settings.mode == "off":
        return None
    return featurise_examples(examples, settings.key)


class ClusterMap:
    """Main side, after ``decide``: for the Examples at indexes [start, stop) (input order among
    kept Examples), which are dropped, their cluster ids, and where each cluster's split is
    decided. Methods take ranges, so the write stage works a spill batch at a time."""

    def __init__(self, decision: NearDecision | None, mode: str):
        self.remove = mode == "remove"
        self.decision = decision
        self._info: dict[int, tuple[str, str, int]] = {}
        if decision is None:
            self._wanted = np.zeros(0, dtype=np.int64)
            self.near = 0
        else:
            others = np.flatnonzero(decision.rep != np.arange(len(decision.rep)))
            self._wanted = np.unique(decision.rep[others])  # sorted
            self.near = len(others)

    def wanted(self, start: int, stop: int) -> np.ndarray:
        """Indexes in the range that represent a cluster with other members (remember them)."""
        w = self._wanted
        return w[np.searchsorted(w, start) : np.searchsorted(w, stop)]

    def remember(self, i: int, id_: str, source: str, line: int) -> None:
        self._info[i] = (id_, source, line)

    def _reps(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        here = np.arange(start, stop)
        return here, here if self.decision is None else self.decision.rep[start:stop]

    def removed(self, start: int, stop: int) -> np.ndarray:
        """bool per index: a near copy that is dropped."""
        here, reps = self._reps(start, stop)
        return (reps != here) if self.remove else np.zeros(stop - start, dtype=bool)

    def leaders(self, start: int, stop: int) -> np.ndarray:
        """bool per index: the row where its cluster's split is decided (first surviving member)."""
        here, reps = self._reps(start, stop)
        if self.decision is None or self.remove:
            return reps == here
        return self.decision.first[start:stop] == here

    def cluster_ids(self, start: int, ids: list[str]) -> list[str]:
        """The cluster id of each Example from ``start`` on, given their own ids."""
        here, reps = self._reps(start, start + len(ids))
        out = list(ids)
        for k in np.flatnonzero(reps != here):
            out[k] = self._info[int(reps[k])][0]
        return out

    def duplicate(self, i: int, row: dict[str, Any]) -> dict[str, Any]:
        """One line of duplicates.jsonl for a near copy that is dropped."""
        kept = self._info[int(self.decision.rep[i])]
        return {
            "source": row["source"],
            "line": row["line"],
            "id": row["id"],
            "duplicate_of": kept[0],
            "duplicate_of_source": kept[1],
            "duplicate_of_line": kept[2],
            "kind": "near",
            "similarity": float(self.decision.similarity[i]),
        }
