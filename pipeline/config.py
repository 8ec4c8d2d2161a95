"""The run's settings: the configuration file (TOML) and the settings types every part shares.

The file holds the same settings as the command line, plus column mappings and the gate's
thresholds. Relative paths in the file are relative to the file's folder. Values given on the
command line win over the file. See ftprep.toml in the repository for a documented example.

``RunConfig`` is one run's settings, whichever way they came; ``ConvertOptions`` and
``NearSettings`` are the parts the convert and near-duplicate stages read. They live here, below
the stages and the engines that both use them.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.records import printable


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
    "trl_layout": str,
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
    "max_seq_len": int,
    "tokenizer": str,
    "cache_dir": str,
    "secrets": str,
    "pii": str,
    "pii_regions": list,
    "fix": list,
    "report": bool,  # false: no report.html (--no-report)
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
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
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
    """The [gate] thresholds as written (defaults and their meaning: GATE_DEFAULTS)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [gate] must be a table")
    try:
        gate_thresholds(table)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return dict(table)


# Thresholds of the [gate] table in the config file, with their defaults. None means "derived from
# the run" (the profile's minimum, the model's limit) or "report only" (duplicate share).
GATE_DEFAULTS: dict[str, Any] = {
    "max_rejected_share": 0.05,  # rejected records / input records, from the manifest
    "val_share_tolerance": 0.05,  # |validation share - requested| allowed, plus one example's share
    "min_train_examples": None,  # None: the profile's minimum (openai-chat: 10)
    "max_tokens": None,  # None: the run's length limit, else the model's per-example limit
    "min_assistant_chars": 1,  # shortest assistant reply (stripped text) that is not "empty"
    "max_duplicate_share": None,  # None: the duplicate share is reported (info), never fails
    "fail_on_warning": False,  # warning-level expectations (facts a provider does not enforce) fail too
    "max_secrets": 0,  # secrets the scan may still find in one written example
    "max_pii_share": None,  # None: the share of examples holding PII is reported, never fails
}
_GATE_TYPES: dict[str, tuple] = {
    "max_rejected_share": (int, float),
    "val_share_tolerance": (int, float),
    "min_train_examples": (int,),
    "max_tokens": (int,),
    "min_assistant_chars": (int,),
    "max_duplicate_share": (int, float),
    "fail_on_warning": (bool,),
    "max_secrets": (int,),
    "max_pii_share": (int, float),
}


def gate_thresholds(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The [gate] table over the defaults; ConfigError for an unknown key or a wrong type."""
    thresholds = dict(GATE_DEFAULTS)
    for key, value in (settings or {}).items():
        if key not in GATE_DEFAULTS:
            raise ConfigError(
                f"unknown setting gate.{key}; known: {', '.join(sorted(GATE_DEFAULTS))}"
            )
        types = _GATE_TYPES[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ConfigError(f"gate.{key} has the wrong type ({type(value).__name__})")
        if key.endswith("_share") or key == "val_share_tolerance":
            if not 0 <= value <= 1:
                raise ConfigError(f"gate.{key} must be between 0 and 1, not {value}")
        elif types == (int,) and value < 0:
            raise ConfigError(f"gate.{key} must not be negative, not {value}")
        thresholds[key] = value
    return thresholds


# --------------------------------------------------------------------------- the settings types


@dataclass(frozen=True)
class ConvertOptions:
    """How to read columns: ``mapping`` canonical field -> input column, ``roles`` extra role
    aliases (alias -> canonical role), ``system_prompt`` added where an example has none."""

    mapping: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    system_prompt: str | None = None
    fix: tuple[str, ...] = ()  # opt-in repair kinds (stages/repairs.py), beside the safe ones
    legacy_markers: bool = True  # remove prepare_data's markers (not for openai-completion)
    layout: str = "messages"  # trl-sft rows: "messages" or "prompt-completion" (TRL_LAYOUTS)

    def repairs(self) -> frozenset[str]:
        """The repair kinds conversion applies to each Example: the safe ones and ``fix``."""
        return frozenset({"role-alias", "tool-arguments", "double-encoded", *self.fix})


TRL_LAYOUTS = ("messages", "prompt-completion")
KEYS = ("full", "prompt")
MODES = ("remove", "flag", "off")
KEEPS = ("first", "longest")
CONFLICTS = ("keep", "first", "drop")


@dataclass(frozen=True)
class NearSettings:
    """What the run asks for; ``mode`` off still computes exact dedupe keys."""

    mode: str = "remove"
    threshold: float = 0.8
    keep: str = "first"
    key: str = "full"
    conflicts: str = "keep"

    def problems(self) -> list[str]:
        out = []
        if self.mode not in MODES:
            out.append(f"near_dupes must be one of {', '.join(MODES)}, not {self.mode!r}")
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, int | float)
            or not 0 < self.threshold <= 1
        ):
            out.append(f"near_threshold must be in (0, 1], not {self.threshold!r}")
        if self.keep not in KEEPS:
            out.append(f"keep must be one of {', '.join(KEEPS)}, not {self.keep!r}")
        if self.key not in KEYS:
            out.append(f"dedupe_key must be one of {', '.join(KEYS)}, not {self.key!r}")
        if self.conflicts not in CONFLICTS:
            out.append(f"conflicts must be one of {', '.join(CONFLICTS)}, not {self.conflicts!r}")
        return out


SCAN_MODES = ("error", "warn", "redact", "off")


@dataclass(frozen=True)
class ScanSettings:
    """The secrets and PII scan: what becomes of a record each category is found in (error,
    warn, redact, off) and the regions whose national phone numbers count."""

    secrets: str = "warn"
    pii: str = "warn"
    regions: tuple[str, ...] = ("US",)

    def problems(self) -> list[str]:
        out = [
            f"{name} must be one of {', '.join(SCAN_MODES)}, not {value!r}"
            for name, value in (("secrets", self.secrets), ("pii", self.pii))
            if value not in SCAN_MODES
        ]
        out += [
            f"pii_regions holds {r!r}: a region is two capital letters (US, GB, DE)"
            for r in self.regions
            if not (isinstance(r, str) and len(r) == 2 and r.isalpha() and r.isupper())
        ]
        return out

    def mode(self, category: str) -> str:
        return self.secrets if category == "secrets" else self.pii

    @property
    def categories(self) -> frozenset:
        return frozenset(c for c in ("secrets", "pii") if self.mode(c) != "off")

    def public(self) -> dict[str, Any]:
        return {"secrets": self.secrets, "pii": self.pii, "pii_regions": list(self.regions)}


@dataclass
class RunConfig:
    inputs: list[Path]
    out: Path
    profile: str = "openai-chat"
    model: str | None = None
    val_ratio: float | None = 0.1
    val_size: int | None = None
    seed: int = 0
    system_prompt: str | None = None
    trl_layout: str = "messages"
    mapping: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    max_rejected_share: float | None = None
    workers: int | None = None
    batch_size: int = 256
    length_policy: str = "flag"
    max_tokens: int | None = None
    max_seq_len: int | None = None  # a trainer's sequence length: estimate packing at it
    tokenizer: str | None = None
    near_dupes: str = "remove"
    near_threshold: float = 0.8
    keep: str = "first"
    dedupe_key: str = "full"
    conflicts: str = "keep"
    max_duplicate_share: float | None = None
    decontaminate: list[Path] = field(default_factory=list)  # eval or benchmark files
    contaminated: str = "report"  # what becomes of a training example that contains an eval item
    stratify_by: str | None = None
    cache_dir: Path | None = None  # None: $FTPREP_CACHE_DIR or ~/.cache/ftprep/stages
    use_cache: bool = True
    secrets: str = "warn"  # secrets and PII found in the records: error, warn, redact or off
    pii: str = "warn"
    pii_regions: list[str] = field(default_factory=lambda: ["US"])  # national phone numbers
    fix: list[str] = field(default_factory=list)  # opt-in repair kinds (--fix)
    report: bool = True  # write report.html

    def check(self) -> None:
        """The numeric settings in range, whichever way they came (flags, a config file, code):
        a bad value is a usage problem (exit 2)."""

        def within(value: Any, low: float, high: float, high_open: bool = False) -> bool:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            return (
                math.isfinite(value)
                and low <= value
                and (value < high if high_open else value <= high)
            )

        checks = [
            ("val_ratio", self.val_ratio, 0, 1, True, "a share in [0, 1)"),
            ("val_size", self.val_size, 0, math.inf, False, "a count of 0 or more"),
            ("seed", self.seed, -(2**63), 2**63, True, "an integer of 64 bits"),
            ("max_rejected_share", self.max_rejected_share, 0, 1, False, "a share in [0, 1]"),
            ("max_duplicate_share", self.max_duplicate_share, 0, 1, False, "a share in [0, 1]"),
            ("workers", self.workers, 1, 1024, False, "1 to 1024 processes"),
            ("batch_size", self.batch_size, 1, 2**20, False, "1 to 1,048,576 records"),
            ("max_tokens", self.max_tokens, 1, 2**40, False, "a positive token count"),
            ("max_seq_len", self.max_seq_len, 1, 2**40, False, "a positive token count"),
        ]
        problems = [
            f"{name} must be {what}, not {value!r}"
            for name, value, low, high, high_open, what in checks
            if value is not None and not within(value, low, high, high_open)
        ]
        problems += [
            f"{name} must be a whole number, not {value!r}"
            for name, value in (("val_size", self.val_size), ("seed", self.seed))
            if value is not None and not isinstance(value, int)
        ]
        if self.trl_layout not in TRL_LAYOUTS:
            problems.append(
                f"trl_layout must be messages or prompt-completion, not {self.trl_layout!r}"
            )
        if self.contaminated not in ("report", "remove"):
            problems.append(f"contaminated must be report or remove, not {self.contaminated!r}")
        problems += self.scan_settings().problems()
        if problems:
            raise ConfigError("; ".join(problems))

    def scan_settings(self) -> ScanSettings:
        """What the scan looks for and what becomes of a record it finds something in."""
        return ScanSettings(self.secrets, self.pii, tuple(self.pii_regions))

    def near_settings(self) -> NearSettings:
        """The dedupe settings, checked (a bad value is a usage problem, exit 2)."""
        near = NearSettings(
            self.near_dupes, self.near_threshold, self.keep, self.dedupe_key, self.conflicts
        )
        if near.problems():
            raise ConfigError("; ".join(near.problems()))
        return near

    def convert_options(self) -> ConvertOptions:
        return ConvertOptions(
            mapping=self.mapping,
            roles=self.roles,
            system_prompt=self.system_prompt,
            fix=tuple(self.fix),
            legacy_markers=self.profile != "openai-completion",  # that format is theirs
            layout=self.trl_layout,
        )

    def public(self) -> dict[str, Any]:
        """The settings recorded in the manifest (no machine-specific values)."""
        return {
            "inputs": [printable(str(p)) for p in self.inputs],
            "out": printable(str(self.out)),
            "profile": self.profile,
            "model": self.model,
            "val_ratio": self.val_ratio,
            "val_size": self.val_size,
            "seed": self.seed,
            "system_prompt": self.system_prompt,
            "trl_layout": self.trl_layout,
            "mapping": dict(sorted(self.mapping.items())),
            "roles": dict(sorted(self.roles.items())),
            "max_rejected_share": self.max_rejected_share,
            "max_duplicate_share": self.max_duplicate_share,
            "length_policy": self.length_policy,
            "max_tokens": self.max_tokens,
            "max_seq_len": self.max_seq_len,
            "tokenizer": self.tokenizer,
            "near_dupes": self.near_dupes,
            "near_threshold": self.near_threshold,
            "keep": self.keep,
            "dedupe_key": self.dedupe_key,
            "conflicts": self.conflicts,
            "decontaminate": [printable(str(p)) for p in self.decontaminate],
            "contaminated": self.contaminated,
            "stratify_by": self.stratify_by,
            "secrets": self.secrets,
            "pii": self.pii,
            "pii_regions": list(self.pii_regions),
            "fix": list(self.fix),
            "report": self.report,
        }
