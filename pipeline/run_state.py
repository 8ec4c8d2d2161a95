"""What a run counts and returns, shared by the engines and the write stage.

``SourceStats`` holds one input's counts as records stream past (in = train + validation +
rejected + duplicates, checked before the manifest is written); ``RunResult`` is what an engine's
``run`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SourceStats:
    name: str
    path: Path
    format: str
    shape: str | None = None
    shape_notes: list[str] = field(default_factory=list)
    repairs: dict[str, dict] = field(default_factory=dict)  # kind -> records, first_lines
    sha256: str | None = None  # of the file's bytes, when already computed
    records: int = 0
    rejected: int = 0
    duplicates: int = 0
    train: int = 0
    validation: int = 0

    def balanced(self) -> bool:
        return self.records == self.rejected + self.duplicates + self.train + self.validation


@dataclass
class RunResult:
    out: Path
    manifest: dict[str, Any]
    up_to_date: bool = False  # the artifacts already there were the result of this exact run
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def rejected_share(self) -> float:
        counts = self.manifest["counts"]
        return counts["rejected"] / counts["records"] if counts["records"] else 0.0

    @property
    def duplicate_share(self) -> float:
        counts = self.manifest["counts"]
        return counts["duplicates"] / counts["records"] if counts["records"] else 0.0
