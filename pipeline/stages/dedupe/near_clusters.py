"""Near-duplicate clusters and conflict groups, decided exactly; what the write stage asks of them.

``decide`` goes through the Examples that share a band key with another, in order (input order,
or longest first with ``--keep longest``). Each is compared, exactly (``near_index``),
with the representatives its buckets remember, and joins the most similar one at or above the
threshold; if none, it becomes a representative itself. Members never represent, so clusters
never chain: every member's reported similarity is to its representative, and is at least the
threshold. The representatives are then grouped the same way on their prompts alone: a group
with more than one is a conflict (the same prompt, different answers). The split keeps a group
in one split.

Bounded work: a bucket remembers ``REPS_PER_BUCKET`` representatives, and an Example is compared
with ``MAX_CHECKS`` of them at most.
"""

from __future__ import annotations

import collections
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.stages.dedupe.near_index import boiler_part, side_similarity

REPS_PER_BUCKET = 8
MAX_CHECKS = 32
# Prompt candidates must share two band keys: short prompts over a common vocabulary share a
# key by chance often; at the threshold, two keys are still shared with probability 0.986.
PROMPT_SHARED = 2


@dataclass
class NearDecision:
    """Per Example (index in input order among the kept ones)."""

    rep: np.ndarray  # int64: its cluster's representative; rep[i] == i for a representative
    similarity: np.ndarray  # float32: to the representative, the lower of the two sides (1 for one)
    prompt_similarity: np.ndarray  # float32
    response_similarity: np.ndarray  # float32
    group: np.ndarray  # int64: the representative of its conflict group (same prompt)
    group_similarity: np.ndarray  # float32: its cluster's prompt similarity to the group's
    split_group: np.ndarray | None = None  # int64: what the split keeps together (its root)

    def __post_init__(self) -> None:
        if self.split_group is None:
            self.split_group = self.group

    @staticmethod
    def singletons(n: int) -> NearDecision:
        index = np.arange(n, dtype=np.int64)
        ones = np.ones(n, dtype=np.float32)
        return NearDecision(index, ones, ones, ones, index.copy(), ones)

    def clusters(self) -> int:
        return int(np.count_nonzero(self.rep == np.arange(len(self.rep))))


def decide(
    n: int,
    reader: Any,
    buckets: dict[str, tuple[np.ndarray, np.ndarray]],
    has_prompt: np.ndarray,
    lengths: np.ndarray,
    settings: Any,
) -> NearDecision:
    """Clusters (both sides near-identical, same context) and conflict groups (prompts
    near-identical, same context) of n Examples, given the (row, bucket) pairs of the Examples
    that share a duplicate band key and a prompt band key with another."""
    threshold = settings.threshold
    index = np.arange(n, dtype=np.int64)
    order = np.lexsort((index, -lengths)) if settings.keep == "longest" else index
    rank = np.empty(n, dtype=np.int64)
    rank[order] = index

    def both_sides(i: int, j: int) -> tuple[float, float, float]:
        return pair_similarity(reader, i, j, threshold)

    def prompts(i: int, j: int) -> tuple[float, float, float]:
        return pair_similarity(reader, i, j, threshold, prompt_only=True)

    rep, sims = _greedy(n, buckets["dup"], None, rank, both_sides, threshold)
    decision = NearDecision(
        rep, sims[0], sims[1], sims[2], rep.copy(), np.ones(n, dtype=np.float32)
    )
    if settings.key == "full":  # with --dedupe-key prompt, same prompts are already copies
        heads = (rep == index) & has_prompt
        group, group_sims = _greedy(
            n, buckets["prompt"], heads, index, prompts, threshold, PROMPT_SHARED
        )
        decision.group = group[rep]
        decision.group_similarity = group_sims[0][rep]
    return decision


def pair_similarity(
    reader: Any, i: int, j: int, threshold: float, prompt_only: bool = False
) -> tuple[float, float, float]:
    """(similarity, prompt's, response's) of Examples i and j, exactly: the lower of the two
    sides (the prompt's alone with ``prompt_only``); -1 when their contexts differ. The response
    is not compared when the prompts are already below ``threshold``."""
    a, b = reader.get(i), reader.get(j)
    if a.ctx != b.ctx:
        return -1.0, 0.0, 0.0
    p = side_similarity(a.prompt, a.prompt_boiler, b.prompt, b.prompt_boiler)
    if prompt_only or p < threshold:
        return p, p, 0.0
    r = side_similarity(a.response, a.response_boiler, b.response, b.response_boiler)
    return min(p, r), p, r


def _greedy(
    n: int,
    shared: tuple[np.ndarray, np.ndarray],
    members: np.ndarray | None,
    rank: np.ndarray,
    similar: Callable[[int, int], tuple[float, float, float]],
    threshold: float,
    min_shared: int = 1,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Representatives by verified, unchained greedy clustering of the Examples in ``shared``
    (row, bucket) pairs, in ``rank`` order, only ``members`` among them when given (the others
    stay their own); and (similarity, prompt, response) to them. A candidate is a representative
    that shares ``min_shared`` buckets with the row or more; those that share the most are
    compared first."""
    rep = np.arange(n, dtype=np.int64)
    sims = tuple(np.ones(n, dtype=np.float32) for _ in range(3))
    rows, buckets = shared
    if members is not None:
        take = members[rows]
        rows, buckets = rows[take], buckets[take]
    if not len(rows):
        return rep, sims
    order = np.lexsort((buckets, rank[rows]))
    rows = rows[order]
    slots = np.unique(buckets[order], return_inverse=True)[1]  # the buckets numbered 0, 1, ...
    del order, buckets
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    stops = np.append(starts[1:], len(rows))
    # Compact, as memory must not grow much with the input: machine integers, not Python
    # lists. Each bucket's first representatives: REPS_PER_BUCKET places per bucket.
    kind = "i" if n < 2**31 else "q"
    n_buckets = int(slots.max()) + 1
    remembered = array(kind, bytes(np.dtype(kind).itemsize * REPS_PER_BUCKET * n_buckets))
    filled = bytearray(n_buckets)  # places taken in each bucket
    all_rows = _compact(rows, kind)
    all_slots = _compact(slots, "i" if n_buckets < 2**31 else "q")
    del rows, slots
    ranks = _compact(rank, "q")
    for start, stop in zip(_compact(starts, "q"), _compact(stops, "q"), strict=True):
        row = all_rows[start]
        mine = all_slots[start:stop]
        shares: dict[int, int] = {}
        for b in mine:
            at = b * REPS_PER_BUCKET
            for c in remembered[at : at + filled[b]]:
                shares[c] = shares.get(c, 0) + 1
        candidates = [c for c, k in shares.items() if k >= min_shared]
        if len(candidates) > 1:
            candidates.sort(key=lambda c: (-shares[c], ranks[c]))
        best, best_sims = -1, (0.0, 0.0, 0.0)
        for c in candidates[:MAX_CHECKS]:
            found = similar(row, c)
            if found[0] >= threshold and found[0] > best_sims[0]:
                best, best_sims = c, found
                if found[0] >= 1.0:
                    break
        if best >= 0:
            rep[row] = best
            for k in range(3):
                sims[k][row] = best_sims[k]
            continue
        for b in mine:
            k = filled[b]
            if k < REPS_PER_BUCKET:
                remembered[b * REPS_PER_BUCKET + k] = row
                filled[b] = k + 1
    return rep, sims


def _compact(values: np.ndarray, kind: str) -> array:
    """A numpy array of integers as a Python ``array``: 4 or 8 bytes an item, where a list would
    hold a Python int object for each."""
    return array(kind, values.astype(np.dtype(kind)).tobytes())


def shared_buckets(band_paths: list[Path], members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, bucket) for every member that shares a band key with another member; buckets are
    numbered across bands, so a key never meets one of another band."""
    rows, buckets = [], []
    numbered = 0
    if len(members) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    for path in band_paths:
        column = np.fromfile(path, dtype="<u8")[members]
        order = np.argsort(column)
        keys = column[order]
        new = np.concatenate(([True], keys[1:] != keys[:-1]))
        bucket = np.cumsum(new) - 1
        sizes = np.bincount(bucket)
        shared = sizes[bucket] > 1
        if shared.any():
            rows.append(members[order[shared]])
            buckets.append(bucket[shared] + numbered)
        numbered += int(bucket[-1]) + 1
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    small = numbered < 2**31 and len(members) and members[-1] < 2**31
    kind = np.int32 if small else np.int64  # half the memory: these hold every shared key
    return np.concatenate(rows).astype(kind), np.concatenate(buckets).astype(kind)


# ---------------------------------------------------------------- the write stage's view

KEEP, DUPLICATE, REJECT = 0, 1, 2  # what becomes of an Example
SNIPPET = 300  # characters of a response shown in conflicts.jsonl


def fates(decision: NearDecision, mode: str, conflicts: str) -> np.ndarray:
    """KEEP, DUPLICATE (duplicates.jsonl) or REJECT (rejected.jsonl) per Example."""
    n = len(decision.rep)
    index = np.arange(n, dtype=np.int64)
    copies = decision.rep != index
    fate = np.full(n, KEEP, dtype=np.int8)
    if mode == "remove":
        fate[copies] = DUPLICATE
    if conflicts == "first":
        fate[(fate == KEEP) & (decision.group != decision.rep)] = DUPLICATE
    elif conflicts == "drop":
        sizes = np.bincount(decision.group[~copies], minlength=n)
        fate[(fate == KEEP) & (sizes[decision.group] > 1)] = REJECT
    return fate


def split_groups(
    decision: NearDecision,
    survivors: np.ndarray,
    reader: Any,
    shared: tuple[np.ndarray, np.ndarray],
    boilerplate: np.ndarray | None,
    threshold: float,
    prompt_only: bool,
) -> np.ndarray:
    """What the split keeps together: the conflict groups, joined (transitively) wherever two
    surviving Examples that share a band key are near copies under ``boilerplate``, the
    boilerplate of the survivors alone (None: the run's own). Survivors are what the run writes,
    and ``ftprep leakage`` on its train and validation files counts boilerplate over exactly
    those: members of different clusters may be near copies of each other (clusters never
    chain), and a shingle can be boilerplate among all Examples and not among the survivors."""
    n = len(decision.rep)
    parent = decision.group.copy()

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = int(parent[root])
        while parent[i] != root:
            parent[i], i = root, int(parent[i])
        return root

    redone: dict[int, tuple] = {}

    def sides(i: int) -> tuple:
        if boilerplate is None:
            e = reader.get(i)
            return e.ctx, ((e.prompt, e.prompt_boiler), (e.response, e.response_boiler))
        if i not in redone:
            e = reader.get(i)
            redone[i] = (
                e.ctx,
                tuple((v, boiler_part(v, t, boilerplate, tag)) for v, _, t, tag in e.sides()),
            )
        return redone[i]

    def near(i: int, j: int) -> bool:
        (ctx_i, (p_i, r_i)), (ctx_j, (p_j, r_j)) = sides(i), sides(j)
        if ctx_i != ctx_j or side_similarity(*p_i, *p_j) < threshold:
            return False
        return prompt_only or side_similarity(*r_i, *r_j) >= threshold

    rows, buckets = shared
    keep = survivors[rows]
    rows, buckets = rows[keep], buckets[keep]
    order = np.lexsort((rows, buckets))
    rows, buckets = rows[order], buckets[order]
    starts = np.flatnonzero(np.concatenate(([True], buckets[1:] != buckets[:-1])))
    checks = collections.Counter()
    for start, stop in zip(starts.tolist(), np.append(starts[1:], len(rows)).tolist(), strict=True):
        seen: dict[int, list[int]] = {}  # root -> the first few members of it in this bucket
        for i in rows[start:stop].tolist():
            for root in list(seen):
                if checks[i] >= MAX_CHECKS:
                    break
                if find(root) == find(i):
                    continue
                for j in seen[root]:
                    checks[i] += 1
                    if near(i, j):
                        a, b = find(i), find(j)
                        parent[max(a, b)] = min(a, b)
                        break
            members = seen.setdefault(find(i), [])
            if len(members) < REPS_PER_BUCKET:
                members.append(i)
    return np.array([find(i) for i in range(n)], dtype=np.int64) if n else parent


class ClusterMap:
    """After ``decide``: for the Examples at indexes [start, stop) (input order among the kept
    ones), which are dropped and why, their cluster ids (a conflict group's representative's id:
    what the split keeps together) and where each group's split is decided. Methods take ranges,
    so the write stage works a spill batch at a time."""

    def __init__(self, decision: NearDecision | None, mode: str, conflicts: str = "keep"):
        self.decision = decision
        self.remove = mode == "remove"
        self.conflict_mode = conflicts
        self._info: dict[int, tuple[str, str, int]] = {}
        self._responses: dict[int, str] = {}
        if decision is None:
            self._wanted = np.zeros(0, dtype=np.int64)
            self.near = self.conflicts = self.conflict_groups = self.conflicts_removed = 0
            return
        n = len(decision.rep)
        index = np.arange(n, dtype=np.int64)
        copies = decision.rep != index
        self.near = int(np.count_nonzero(copies))
        in_conflict = ~copies & (decision.group != index)
        self.conflicts = int(np.count_nonzero(in_conflict))
        self._conflict_heads = np.unique(decision.group[in_conflict])
        self.conflict_groups = len(self._conflict_heads)
        fate = fates(decision, mode, conflicts)
        self.conflicts_removed = int(np.count_nonzero(fate == DUPLICATE)) - (
            self.near if self.remove else 0
        )
        self.fate = fate
        kept = np.flatnonzero(fate == KEEP)
        first_kept = np.full(n, n, dtype=np.int64)
        np.minimum.at(first_kept, decision.split_group[kept], kept)
        self._first_kept = first_kept
        joined = decision.split_group != index  # in another Example's split group
        self._wanted = np.unique(
            np.concatenate(
                (decision.rep[copies], self._conflict_heads, decision.split_group[joined])
            )
        )

    def wanted(self, start: int, stop: int) -> np.ndarray:
        """Indexes in the range whose id and place later rows refer to (remember them)."""
        w = self._wanted
        return w[np.searchsorted(w, start) : np.searchsorted(w, stop)]

    def remember(self, i: int, id_: str, source: str, line: int) -> None:
        self._info[i] = (id_, source, line)

    def fates(self, start: int, stop: int) -> np.ndarray:
        """KEEP, DUPLICATE (duplicates.jsonl) or REJECT (rejected.jsonl) per index."""
        if self.decision is None:
            return np.zeros(stop - start, dtype=np.int8)
        return self.fate[start:stop]

    def leaders(self, start: int, stop: int) -> np.ndarray:
        """bool per index: the row where its group's split is decided (its first kept member)."""
        if self.decision is None:
            return np.ones(stop - start, dtype=bool)
        here = np.arange(start, stop)
        return self._first_kept[self.decision.split_group[start:stop]] == here

    def cluster_ids(self, start: int, ids: list[str]) -> list[str]:
        """The cluster id of each Example from ``start`` on, given their own ids."""
        if self.decision is None:
            return list(ids)
        here = np.arange(start, start + len(ids))
        groups = self.decision.split_group[start : start + len(ids)]
        out = list(ids)
        for k in np.flatnonzero(groups != here).tolist():
            out[k] = self._info[int(groups[k])][0]
        return out

    def in_conflict(self, start: int, stop: int) -> np.ndarray:
        """bool per index: a cluster representative whose prompt an earlier one asks too."""
        if self.decision is None:
            return np.zeros(stop - start, dtype=bool)
        here = np.arange(start, stop)
        return (self.decision.rep[start:stop] == here) & (self.decision.group[start:stop] != here)

    def heads_of_conflicts(self, start: int, stop: int) -> np.ndarray:
        """Indexes in the range that head a conflict group (their response is shown)."""
        if self.decision is None:
            return np.zeros(0, dtype=np.int64)
        h = self._conflict_heads
        return h[np.searchsorted(h, start) : np.searchsorted(h, stop)]

    def remember_response(self, i: int, response: str) -> None:
        self._responses[i] = response

    def duplicate(self, i: int, row: dict[str, Any]) -> dict[str, Any]:
        """One line of duplicates.jsonl for an Example this map drops."""
        d = self.decision
        if d.rep[i] != i:  # a near copy
            kept = self._info[int(d.rep[i])]
            extra = {
                "kind": "near",
                "similarity": _round(d.similarity[i]),
                "prompt_similarity": _round(d.prompt_similarity[i]),
                "response_similarity": _round(d.response_similarity[i]),
            }
        else:  # --conflicts first: the same prompt as an earlier one, another answer
            kept = self._info[int(d.group[i])]
            extra = {"kind": "conflict", "similarity": _round(d.group_similarity[i])}
        return {
            "source": row["source"],
            "line": row["line"],
            "id": row["id"],
            "duplicate_of": kept[0],
            "duplicate_of_source": kept[1],
            "duplicate_of_line": kept[2],
            **extra,
        }

    def conflict(self, i: int, row: dict[str, Any], response: str) -> dict[str, Any]:
        """One line of conflicts.jsonl: Example i asks what its group's representative asks."""
        d = self.decision
        head = int(d.group[i])
        first = self._info[head]
        action = {"keep": "kept", "first": "removed", "drop": "rejected"}[self.conflict_mode]
        return {
            "source": row["source"],
            "line": row["line"],
            "id": row["id"],
            "conflicts_with": first[0],
            "conflicts_with_source": first[1],
            "conflicts_with_line": first[2],
            "prompt_similarity": _round(d.group_similarity[i]),
            "response": _cut(response),
            "other_response": _cut(self._responses.get(head, "")),
            "action": action,
        }


def _round(value: float) -> float:
    return round(float(value), 4)


def _cut(text: str) -> str:
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def response_text(row: dict[str, Any]) -> str:
    """What an Example (a spill row: messages as Arrow structs) answers: its assistant turns, or
    chosen, or completion with its label, as text."""
    parts = []
    kind = row.get("kind")
    if kind == "unpaired" and row.get("label") is not None:
        parts.append(f"[label: {str(row['label']).lower()}]")
    if kind == "sft":
        for m in row.get("messages") or ():
            if m and m.get("role") == "assistant":
                parts.append(_struct_text(m))
    for field in ("chosen", "completion"):
        for m in row.get(field) or ():
            if m:
                parts.append(_struct_text(m))
    if row.get("text"):
        parts.append(row["text"])
    return "\n".join(p for p in parts if p)


def prompt_text(row: dict[str, Any]) -> str:
    """What an Example (a spill or Parquet row) asks: its user and tool turns (for preference and
    unpaired data, every prompt message but the system's), as text."""
    parts = []
    sft = row.get("kind") == "sft"
    for m in row.get("messages") or ():
        if not m or m.get("role") in ("system", "developer"):
            continue
        if m.get("role") == "assistant" and sft:
            continue
        parts.append(_struct_text(m))
    return "\n".join(p for p in parts if p)


def excerpt(row: dict[str, Any]) -> dict[str, str]:
    """An Example's prompt and response, each cut to ``SNIPPET`` characters."""
    return {"prompt": _cut(prompt_text(row)), "response": _cut(response_text(row))}


def _struct_text(m: dict[str, Any]) -> str:
    text = m.get("content")
    if text is None and m.get("parts"):
        text = m["parts"]
    calls = m.get("tool_calls")
    return "\n".join(t for t in (m.get("reasoning"), text, calls) if t)
