"""Split: train or validation per cluster, seeded, near the requested share, stable on append.

Takes one call per cluster (an Example and its near copies share a cluster id, so a cluster never
straddles train and validation) and decides its split. Every decision starts from ``u``, the
seeded xxh3-64 hash of the cluster id scaled to [0, 1):

- ratio: per stratum (one stratum unless ``stratify_by``), in input order, a running deficit
  ``d = ratio * n - v`` (clusters seen, clusters sent to validation); a cluster goes to
  validation when ``d + ratio > u``. ``d`` stays in (-1, 1), so the validation count is within
  one cluster of ``ratio * n`` at every point (the gate's tolerance holds for any size), and a
  decision depends only on the clusters before it: appending records (at the end of the last
  input, or as a new input named last) never moves an existing one. Records inserted earlier in
  the input order can move the decisions after them: an exact share and a decision that depends
  on nothing but the cluster cannot both hold, and the split keeps the share.
- ``val_size`` N: exactly N clusters (or all, when there are fewer): the N smallest hashes; with
  ``stratify_by``, N is shared out over the strata by largest remainder (each stratum within one
  cluster of its share) and each stratum takes its smallest hashes. An exact count cannot be
  stable under appends: records near the cut-off may move; a ratio is the stable choice.

``min_train`` keeps that many clusters in train (the profile's minimum of training examples, at
least 1): validation takes at most ``clusters - min_train``, and ``target`` records what the plan
aimed at, for the manifest and the gate. When a ratio would leave validation empty although
there are two or more clusters (and train keeps its minimum), the cluster with the smallest hash
goes to validation.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import orjson
import xxhash

SCALE = float(2**64)


def cluster_hash(cluster: str, seed: int) -> int:
    return xxhash.xxh3_64_intdigest(cluster.encode(), seed=seed)


def in_validation(cluster: str, seed: int, val_ratio: float) -> bool:
    return cluster_hash(cluster, seed) / SCALE < val_ratio


def stratum_of(row: dict[str, Any], field: str | None) -> str:
    """The stratum of an Example (a row of the spill or an Example dict): ``source`` is the input
    file; any other name is a ``meta`` field (missing -> "", non-strings as JSON)."""
    if not field:
        return ""
    if field == "source":
        return str(row.get("source") or "")
    meta = row.get("meta")
    if isinstance(meta, str | bytes):
        try:
            meta = orjson.loads(meta)
        except orjson.JSONDecodeError:
            meta = None
    value = meta.get(field) if isinstance(meta, dict) else None
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def largest_remainder(total: int, counts: dict[str, int]) -> dict[str, int]:
    """Share ``total`` over ``counts`` in proportion, each share within one of exact, capped."""
    n = sum(counts.values())
    total = min(total, n)
    if not n:
        return {k: 0 for k in counts}
    exact = {k: total * c / n for k, c in counts.items()}
    quotas = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(quotas.values())
    for k in sorted(counts, key=lambda k: (-(exact[k] - quotas[k]), k))[:left]:
        quotas[k] += 1
    return quotas


class SplitPlan:
    """Decides each cluster's split. Call ``count`` once per cluster (or once with a number of
    clusters), then ``start``, then ``observe`` once per cluster in input order, then ``finish``;
    then ``split_of`` any time."""

    def __init__(
        self,
        seed: int,
        val_ratio: float | None,
        val_size: int | None,
        stratified: bool = False,
        min_train: int = 1,
    ):
        self.seed = seed
        self.val_ratio = val_ratio
        self.val_size = val_size
        self.stratified = stratified
        self.min_train = max(1, min_train)
        self.cap: int | None = None  # most clusters validation may take (set by start)
        self.taken = 0  # clusters sent to validation so far
        self.clusters = 0
        self.strata: dict[str, int] = {}  # clusters per stratum (from count)
        self.quotas: dict[str, int] = {}
        self.validation: dict[str, int] = {}  # clusters sent to validation per stratum
        self._deficit: dict[str, float] = {}
        self._heaps: dict[str, list[int]] = {}  # max-heaps (negated) of the smallest hashes
        self._val: set[int] = set()
        self._ratio_hits = 0
        self._smallest: int | None = None
        self._forced: int | None = None
        self._cutoff: int | None = None

    # -- pass 1
    def count(self, stratum: str = "", clusters: int = 1) -> None:
        self.clusters += clusters
        key = stratum if self.stratified else ""
        self.strata[key] = self.strata.get(key, 0) + clusters

    def start(self) -> None:
        self.cap = max(0, self.clusters - self.min_train)
        if self.val_size is not None:
            self.quotas = largest_remainder(min(self.val_size, self.cap), self.strata)

    @property
    def target(self) -> int:
        """The number of validation clusters the plan aims at: the ratio's share or the size,
        within the cap that keeps ``min_train`` clusters in train."""
        if self.val_size is not None:
            wanted = self.val_size
        elif self.val_ratio:
            wanted = round(self.val_ratio * self.clusters)
            wanted = max(wanted, 1) if self.clusters >= 2 else wanted
        else:
            wanted = 0
        return min(wanted, self.cap if self.cap is not None else wanted)

    # -- pass 2
    def observe(self, cluster: str, stratum: str = "") -> None:
        h = cluster_hash(cluster, self.seed)
        key = stratum if self.stratified else ""
        if self._smallest is None or h < self._smallest:
            self._smallest = h
        if self.val_size is not None:
            heap = self._heaps.setdefault(key, [])
            keep = self.quotas.get(key, 0)
            if keep <= 0:
                return
            if len(heap) < keep:
                heapq.heappush(heap, -h)
            elif -heap[0] > h:
                heapq.heapreplace(heap, -h)
            return
        if not self.val_ratio:
            return
        u = h / SCALE
        d = self._deficit.get(key, 0.0)
        chosen = d + self.val_ratio > u and (self.cap is None or self.taken < self.cap)
        self._deficit[key] = d + self.val_ratio - (1 if chosen else 0)
        self.taken += chosen
        if chosen:
            self._val.add(h)
            self._ratio_hits += 1
            self.validation[key] = self.validation.get(key, 0) + 1

    def finish(self) -> None:
        if self.val_size is not None:
            if self.stratified:
                for key, heap in self._heaps.items():
                    self._val.update(-h for h in heap)
                    self.validation[key] = len(heap)
            else:
                heap = self._heaps.get("", [])
                self._cutoff = max(-h for h in heap) if heap else None
                self.validation[""] = len(heap)
        elif (
            self.val_ratio
            and self._ratio_hits == 0
            and self.clusters >= 2
            and (self.cap is None or self.cap >= 1)
        ):
            self._forced = self._smallest

    def split_of(self, cluster: str) -> str:
        h = cluster_hash(cluster, self.seed)
        if h == self._forced:
            return "validation"
        if self.val_size is not None and not self.stratified:
            return "validation" if self._cutoff is not None and h <= self._cutoff else "train"
        return "validation" if h in self._val else "train"

    def describe(self) -> dict[str, Any]:
        """For the manifest: the method and, when stratified, clusters per stratum."""
        method = "size" if self.val_size is not None else "ratio"
        out: dict[str, Any] = {
            "method": method,
            "clusters": self.clusters,
            "min_train": self.min_train,
            "target": self.target,
        }
        if self.stratified:
            out["strata"] = {
                k: {"clusters": n, "validation": self.validation.get(k, 0)}
                for k, n in sorted(self.strata.items())
            }
        return out
