"""The run configuration file (TOML): the same settings as the command line, plus column mappings.

Relative paths in the file are relative to the file's folder. Values given on the command line
win over the file. See ftprep.toml in the repository for a documented example.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The config file is missing, not TOML, or holds a setting ftprep does not know."""


RUN_KEYS = {
    "inputs": list,
    "out": str,
    "profile": str,
    "model": str,
    "val_ratio": (int, float),
    "val_size": int,
    "seed": int,
    "system_prompt": str,
    "max_rejected_share": (int, float),
    "workers": int,
    "near_dupes": str,
    "near_threshold": (int, float),
    "keep": str,
    "dedupe_key": str,
    "conflicts": str,
    "max_duplicate_share": (int, float),
    "decontaminate": list,
    "contaminated": str,
    "stratify_by": str,
    "length_policy": str,
    "max_tokens": int,
    "tokenizer": str,
    "cache_dir": str,
}


def _relative_to(config: Path, key: str, value: Any) -> Path:
    """A path setting, relative to the config file's folder; an empty one is refused (it would
    mean that folder itself)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{config}: run.{key} needs non-empty path strings, got {value!r}")
    return config.parent / value


def load_config(path: Path) -> dict[str, Any]:
    """The [run] settings with paths resolved, plus "mapping" and "roles" from [convert.*]."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = set(data) - {"run", "convert", "gate"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; expected [run], [convert], [gate]"
        )
    run = dict(data.get("run", {}))
    for key, value in run.items():
        expected = RUN_KEYS.get(key)
        if expected is None:
            raise ConfigError(
                f"{path}: unknown setting run.{key}; known: {', '.join(sorted(RUN_KEYS))}"
            )
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"{path}: run.{key} has the wrong type ({type(value).__name__})")
    for key in ("inputs", "decontaminate"):
        if key in run:
            run[key] = [_relative_to(path, key, p) for p in run[key]]
    for key in ("out", "cache_dir", "tokenizer"):
        if key in run:
            run[key] = _relative_to(path, key, run[key])
    if "tokenizer" in run:
        run["tokenizer"] = str(run["tokenizer"])
    convert = data.get("convert", {})
    for table in ("mapping", "roles"):
        values = convert.get(table, {})
        if not all(isinstance(v, str) for v in values.values()):
            raise ConfigError(f"{path}: every value in [convert.{table}] must be a string")
        run[table] = dict(values)
    run["gate"] = _gate_table(path, data.get("gate", {}))
    return run


def _gate_table(path: Path, table: Any) -> dict[str, Any]:
    """The [gate] thresholds as written (defaults and their meaning: pipeline.gate.DEFAULTS)."""
    from pipeline.gate import GateError, resolve_thresholds

    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [gate] must be a table")
    try:
        resolve_thresholds(table)
    except GateError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return dict(table)
