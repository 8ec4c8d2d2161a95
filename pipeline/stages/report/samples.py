"""What the report counts and quotes from a run's JSONL artifacts, read line by line.

``rejected.jsonl`` gives the funnel per input file (rejections per file and stage) and, per rule,
its count, its message and the first ``PER_RULE`` records (cut short); ``duplicates.jsonl`` the
copies per kind, a few copies of each of the largest clusters and the near copies closest to the
threshold; ``conflicts.jsonl`` one example per conflict group for the first groups;
``contaminated.jsonl`` the first matches. Memory holds counters per file, stage, rule and kind,
and the samples: nothing grows with the number of lines.
"""

from __future__ import annotations

import collections
import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

PER_RULE = 3  # sample records shown per rejection rule
CUT = 300  # characters of a sample shown
NEAR_SHOWN = 6  # near copies shown, those closest to the threshold first, one per kept example
NEAR_POOL = 64  # near copies kept to choose them from
PER_CLUSTER = 3  # copies shown of each of the largest clusters
GROUPS_SHOWN = 5  # conflict groups shown
MATCHES_SHOWN = 5  # contaminated examples shown


def cut(text: Any, limit: int = CUT) -> str:
    """Text (or a JSON value, as compact JSON) cut to ``limit`` characters."""
    if not isinstance(text, str):
        text = orjson.dumps(text, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Rule:
    rule: str
    stage: str
    message: str
    count: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Samples:
    rejected_by_file_stage: dict[tuple[str, str], int] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)
    duplicate_kinds: collections.Counter = field(default_factory=collections.Counter)
    near: list[dict[str, Any]] = field(default_factory=list)  # closest to the threshold first
    cluster_copies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    conflict_lines: int = 0
    contaminated: list[dict[str, Any]] = field(default_factory=list)
    contaminated_lines: int = 0

    def wanted_ids(self) -> set[str]:
        """The ids of the kept examples these samples are shown beside."""
        ids = {d["duplicate_of"] for d in self.near} | set(self.cluster_copies)
        ids |= {c["conflicts_with"] for c in self.conflicts} | {c["id"] for c in self.conflicts}
        ids |= {c["id"] for c in self.contaminated}
        return {i for i in ids if isinstance(i, str)}


def read_samples(run_dir: Path, largest: list[str]) -> Samples:
    """The counts and samples of the JSONL artifacts in ``run_dir``; ``largest`` are the ids of
    the largest clusters' kept examples (the manifest's), whose copies are sampled."""
    found = Samples(cluster_copies={key: [] for key in largest})
    _rejected(run_dir / "rejected.jsonl", found)
    _duplicates(run_dir / "duplicates.jsonl", found)
    _conflicts(run_dir / "conflicts.jsonl", found)
    _contaminated(run_dir / "contaminated.jsonl", found)
    return found


def _lines(path: Path):
    if not path.exists():
        return
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                yield orjson.loads(line)


def _rejected(path: Path, found: Samples) -> None:
    by_file = collections.Counter()
    for rec in _lines(path):
        by_file[(rec.get("source"), rec.get("stage"))] += 1
        name = str(rec.get("rule"))
        rule = found.rules.get(name)
        if rule is None:
            rule = found.rules[name] = Rule(name, str(rec.get("stage")), str(rec.get("message")))
        rule.count += 1
        if len(rule.samples) < PER_RULE:
            raw = rec.get("raw", rec.get("line_text"))
            rule.samples.append(
                {
                    "source": rec.get("source"),
                    "line": rec.get("line"),
                    "pointer": rec.get("pointer") or "",
                    "message": str(rec.get("message")),
                    "raw": cut(raw) if raw is not None else "",
                }
            )
    found.rejected_by_file_stage = dict(by_file)


def _duplicates(path: Path, found: Samples) -> None:
    heap: list[tuple] = []  # the NEAR_SHOWN lowest similarities: (-similarity, -order, line)
    for order, rec in enumerate(_lines(path)):
        kind = rec.get("kind", "exact")
        found.duplicate_kinds[kind] += 1
        copies = found.cluster_copies.get(rec.get("duplicate_of"))
        if copies is not None and len(copies) < PER_CLUSTER:
            copies.append(rec)
        if kind == "near":
            item = (-float(rec.get("similarity", 1.0)), -order, rec)
            if len(heap) < NEAR_POOL:
                heapq.heappush(heap, item)
            elif item[:2] > heap[0][:2]:
                heapq.heapreplace(heap, item)
    kept_examples: set[str] = set()
    for *_, rec in sorted(heap, key=lambda i: (-i[0], -i[1])):
        if rec.get("duplicate_of") not in kept_examples and len(found.near) < NEAR_SHOWN:
            kept_examples.add(rec.get("duplicate_of"))
            found.near.append(rec)


def _conflicts(path: Path, found: Samples) -> None:
    groups: set[str] = set()
    for rec in _lines(path):
        found.conflict_lines += 1
        head = rec.get("conflicts_with")
        if head not in groups and len(groups) < GROUPS_SHOWN:
            groups.add(head)
            found.conflicts.append(rec)


def _contaminated(path: Path, found: Samples) -> None:
    for rec in _lines(path):
        found.contaminated_lines += 1
        if len(found.contaminated) < MATCHES_SHOWN:
            found.contaminated.append(rec)
