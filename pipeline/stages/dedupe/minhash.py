"""MinHash signatures and LSH band keys of sets of 32-bit hashes, vectorised with numpy.

One permutation hashing with rotation densification (Li, Owen & Zhang 2012; Shrivastava & Li
2014): every element of a set is hashed once more (splitmix64 of it and the seed); the top 7 bits
pick one of ``NUM_PERM`` bins and the next 32 bits are its value; a bin keeps the smallest value
that falls in it. A bin no element fell in takes the value of the next bin to its right that has
one (circularly), plus a multiple of its distance, so two sets agree on a bin with probability
their Jaccard similarity, as with 128 independent permutations, at the cost of one hash per
element. An empty set has no signature (every value ``EMPTY``).

Signatures only propose candidates here: ftprep verifies every candidate pair exactly. The work
goes in blocks of about ``BLOCK`` elements, so numpy's temporaries stay small.
"""

from __future__ import annotations

import numpy as np

NUM_PERM = 128
SEED = 42
BLOCK = 1 << 18
EMPTY = np.uint32(0xFFFFFFFF)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_K = np.uint64(0x9E3779B97F4A7C15)
_STEP = np.uint32(0x9E3779B1)  # added per bin of distance when a bin is filled from another


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise (uint64 arithmetic wraps)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def signatures(values: np.ndarray, offsets: np.ndarray, seed: int = SEED) -> np.ndarray:
    """(n, NUM_PERM) uint32 signatures of n sets, set i being ``values[offsets[i]:offsets[i+1]]``
    (distinct uint32 hashes)."""
    n = len(offsets) - 1
    out = np.empty((n, NUM_PERM), dtype=np.uint32)
    start = 0
    while start < n:
        stop = int(np.searchsorted(offsets, offsets[start] + BLOCK, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        lo, hi = int(offsets[start]), int(offsets[stop])
        out[start:stop] = _block(values[lo:hi], offsets[start : stop + 1] - lo, seed)
        start = stop
    return out


def _block(values: np.ndarray, offsets: np.ndarray, seed: int) -> np.ndarray:
    n = len(offsets) - 1
    owner = np.repeat(np.arange(n, dtype=np.intp), np.diff(offsets))
    with np.errstate(over="ignore"):
        hashed = _mix(values.astype(np.uint64) ^ (np.uint64(seed) * _K))
    cells = owner * NUM_PERM + (hashed >> np.uint64(57)).astype(np.intp)
    sig = np.full(n * NUM_PERM, EMPTY, dtype=np.uint32)
    np.minimum.at(sig, cells, (hashed >> np.uint64(25)).astype(np.uint32))
    sig = sig.reshape(n, NUM_PERM)
    empty = sig == EMPTY
    some = empty.any(axis=1) & ~empty.all(axis=1)
    if some.any():
        sig[some] = _densify(sig[some], empty[some])
    return sig


def _densify(sig: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Each empty bin filled from the next full bin to its right (circularly)."""
    k = NUM_PERM
    position = np.where(empty, 2 * k, np.arange(k, dtype=np.int32))
    twice = np.concatenate((position, np.where(empty, 2 * k, position + k)), axis=1)
    backwards = np.ascontiguousarray(twice[:, ::-1])  # a running minimum from the right
    np.minimum.accumulate(backwards, axis=1, out=backwards)
    following = backwards[:, ::-1][:, :k]
    source = sig.ravel()[np.arange(len(sig))[:, None] * k + following % k]
    with np.errstate(over="ignore"):
        filled = source + _STEP * (following - np.arange(k)).astype(np.uint32)
    return np.where(empty, filled, sig)


def band_keys(sigs: np.ndarray, bands: int, rows: int, salt: int) -> np.ndarray:
    """(n, bands) 64-bit keys: each band's ``rows`` values hashed, with the band number and a
    salt mixed in so keys never meet across bands or kinds; 0 for an empty signature."""
    n = len(sigs)
    used = sigs[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        acc = (np.arange(1, bands + 1, dtype=np.uint64) + np.uint64(salt)) * _M1
        acc = acc + np.zeros((n, 1), np.uint64)
        for r in range(rows):
            acc = acc * _K + used[:, :, r]
        keys = _mix(acc)
    keys[(sigs == EMPTY).all(axis=1)] = 0
    return keys


def choose_bands(threshold: float) -> tuple[int, int]:
    """(bands, rows) for a threshold: the most rows per band (fewest false candidates) that still
    makes a pair at the threshold a candidate with probability 0.995 or more."""
    for rows in range(8, 0, -1):
        bands = NUM_PERM // rows
        if 1 - (1 - threshold**rows) ** bands >= 0.995:
            return bands, rows
    return NUM_PERM, 1
