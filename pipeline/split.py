"""Split: train or validation by a seeded hash of each Example's cluster id.

An Example's split depends only on its cluster id, the seed and the ratio, never on the other
Examples, so adding records never moves an existing one (stability). Everything in a cluster
(an Example and its near copies) lands in the same split. With ``val_size`` the N clusters with
the smallest hashes go to validation. When a ratio would leave validation empty although there are
two or more clusters, the cluster with the smallest hash goes to validation.
"""

from __future__ import annotations

import heapq

import xxhash

SCALE = float(2**64)


def cluster_hash(cluster: str, seed: int) -> int:
    return xxhash.xxh3_64_intdigest(cluster.encode(), seed=seed)


def in_validation(cluster: str, seed: int, val_ratio: float) -> bool:
    return cluster_hash(cluster, seed) / SCALE < val_ratio


class SplitPlan:
    """Collects cluster hashes while records stream past, then decides each cluster's split."""

    def __init__(self, seed: int, val_ratio: float | None, val_size: int | None):
        self.seed = seed
        self.val_ratio = val_ratio
        self.val_size = val_size
        self._smallest: list[int] = []  # max-heap (negated) of the smallest hashes
        self._keep = max(val_size or 0, 1)
        self.clusters = 0
        self._ratio_hits = 0
        self._forced: int | None = None
        self._cutoff: int | None = None

    def observe(self, cluster: str) -> None:
        h = cluster_hash(cluster, self.seed)
        self.clusters += 1
        if self.val_ratio is not None and h / SCALE < self.val_ratio:
            self._ratio_hits += 1
        if len(self._smallest) < self._keep:
            heapq.heappush(self._smallest, -h)
        elif -self._smallest[0] > h:
            heapq.heapreplace(self._smallest, -h)

    def finish(self) -> None:
        ordered = sorted(-h for h in self._smallest)
        if self.val_size is not None:
            self._cutoff = (
                ordered[min(self.val_size, len(ordered)) - 1] if self.val_size and ordered else None
            )
        elif self.val_ratio and self._ratio_hits == 0 and self.clusters >= 2 and ordered:
            self._forced = ordered[0]

    def split_of(self, cluster: str) -> str:
        h = cluster_hash(cluster, self.seed)
        if self.val_size is not None:
            return "validation" if self._cutoff is not None and h <= self._cutoff else "train"
        if self.val_ratio and h / SCALE < self.val_ratio:
            return "validation"
        return "validation" if h == self._forced else "train"
