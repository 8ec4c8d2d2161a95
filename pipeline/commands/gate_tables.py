"""The gate's inputs: a run's manifest, and the two tables its expectations are checked on.

``examples`` has one row per example of both splits, with the columns the expectations need (id,
split, source, line, n_tokens, the roles as one string, the last role, the shortest assistant
reply), read from the Parquet files; ``run`` has one row of counts from the manifest and the
Parquet files. A folder that is not a (complete) run is a ``GateError`` (exit 2).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson

from pipeline.stages.scan.policy import table_counts


class GateError(ValueError):
    """The folder is not a (complete) run, or a [gate] threshold is wrong: exit 2, not a data failure."""


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest; GateError when the folder is not a run."""
    path = run_dir / "manifest.json"
    if not run_dir.is_dir():
        raise GateError(f"{run_dir} is not a folder: give the output folder of `ftprep run`")
    if not path.is_file():
        raise GateError(
            f"{run_dir} is not an ftprep run (no manifest.json): run `ftprep run ... --out {run_dir}` first"
        )
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise GateError(f"{path} is not valid JSON ({exc}): run `ftprep run` again") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("counts"), dict):
        raise GateError(f"{path} is not an ftprep manifest (no counts): run `ftprep run` again")
    for name in ("train.parquet", "validation.parquet"):
        if not (run_dir / name).is_file():
            raise GateError(f"{run_dir} is not a complete run: {name} is missing")
    return manifest


def _message_lists(table, column: str) -> tuple[list[int], list[dict[str, list]]] | None:
    """Offsets and flat role/content/parts/tool_calls lists of one list<message> column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column not in table.column_names:
        return None
    col = table.column(column).combine_chunks()
    if len(col) == 0:
        return [0], {k: [] for k in ("role", "content", "parts", "tool_calls")}
    col = col.fill_null(pa.scalar([], type=col.type))
    flat = pc.list_flatten(col)
    fields = {}
    for key in ("role", "content", "parts", "tool_calls"):
        fields[key] = (
            pc.struct_field(flat, key).to_pylist()
            if flat.type.get_field_index(key) >= 0
            else [None] * len(flat)
        )
    return col.offsets.to_pylist(), fields


def _text_length(content: str | None, parts: str | None) -> int:
    if content is not None:
        return len(content.strip())
    if parts:
        try:
            value = orjson.loads(parts)
        except orjson.JSONDecodeError:
            return 0
        if isinstance(value, list):
            return sum(len(str(p.get("text") or "").strip()) for p in value if isinstance(p, dict))
    return 0


def examples_frame(run_dir: Path):
    """One row per example of both splits, with the columns the expectations need."""
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for split in ("train", "validation"):
        path = run_dir / f"{split}.parquet"
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a broken file
            raise GateError(f"{path} cannot be read as Parquet: {exc}") from None
        missing = {"id", "source", "line", "n_tokens", "messages"} - set(table.column_names)
        if missing:
            raise GateError(
                f"{path} lacks column(s) {', '.join(sorted(missing))}: not an ftprep run"
            )
        n = table.num_rows
        kinds = table.column("kind").to_pylist() if "kind" in table.column_names else ["sft"] * n
        roles: list[list[str]] = [[] for _ in range(n)]
        last_role: list[str | None] = [None] * n
        shortest: list[float] = [math.nan] * n
        for column in ("messages", "chosen", "rejected", "completion"):
            lists = _message_lists(table, column)
            if lists is None:
                continue
            offsets, f = lists
            for row in range(n):
                start, end = offsets[row], offsets[row + 1]
                for j in range(start, end):
                    role = f["role"][j]
                    roles[row].append(role if role is not None else "<none>")
                    if role == "assistant" and not f["tool_calls"][j]:
                        length = _text_length(f["content"][j], f["parts"][j])
                        if math.isnan(shortest[row]) or length < shortest[row]:
                            shortest[row] = length
                if column == "messages" and kinds[row] == "sft" and end > start:
                    last_role[row] = roles[row][end - start - 1]
        secrets, pii = table_counts(table)  # what the written texts still hold
        frames.append(
            pd.DataFrame(
                {
                    "id": table.column("id").to_pylist(),
                    "split": [split] * n,
                    "source": table.column("source").to_pylist(),
                    "line": table.column("line").to_pylist(),
                    "n_tokens": pd.array(table.column("n_tokens").to_pylist(), dtype="Int64"),
                    "roles": [" ".join(r) for r in roles],
                    "last_role": last_role,
                    "min_assistant_chars": shortest,
                    "in_train": [int(split == "train")] * n,
                    "in_validation": [int(split == "validation")] * n,
                    "secrets": pd.array(secrets, dtype="int64"),
                    "has_pii": pd.array(pii, dtype="int64"),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    frame["in_train"] = frame["in_train"].astype("int64")
    frame["in_validation"] = frame["in_validation"].astype("int64")
    return frame


def run_frame(manifest: dict[str, Any], examples) -> Any:
    """One row of run-level numbers: shares from the manifest counts, counts from both sides."""
    import pandas as pd

    counts = manifest["counts"]
    records = int(counts.get("records") or 0)
    rejected = int(counts.get("rejected") or 0)
    duplicates = int(counts.get("duplicates") or 0)
    in_train = int(examples["in_train"].sum())
    in_validation = int(examples["in_validation"].sum())
    return pd.DataFrame(
        {
            "records": [records],
            "rejected": [rejected],
            "duplicates": [duplicates],
            "rejected_share": [rejected / records if records else 0.0],
            "duplicate_share": [duplicates / records if records else 0.0],
            "manifest_counts": [
                f"train {counts.get('train')}, validation {counts.get('validation')}"
            ],
            "parquet_counts": [f"train {in_train}, validation {in_validation}"],
        }
    )
