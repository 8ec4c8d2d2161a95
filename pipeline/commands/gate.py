"""The data-quality gate: a Great Expectations suite over the artifacts of one run.

Takes a run folder (``train.parquet``, ``validation.parquet``, ``manifest.json``), derives the
suite from the run's profile, model and the ``[gate]`` thresholds (``derive_suite``: plain data,
no Great Expectations needed to read or test it), and runs it with Great Expectations 1.x in an
ephemeral context, offline and with analytics off. Two tables are validated: ``examples`` (one
row per example of both splits, with the columns the expectations need: id, split, source, line,
n_tokens, the roles as one string, the last role, the shortest assistant reply) and ``run`` (one
row of counts from the manifest). Data Docs (HTML) and ``result.json`` are written to
``DIR/quality/``. Nothing here prints; ``gate_report`` renders the result.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pipeline.config import gate_thresholds, load_config
from pipeline.profiles.gate_facts import CRITICAL, INFO, ROLE_FACTS, WARNING

MAX_ROWS_SHOWN = 5  # failing rows named per expectation in the report
MAX_ROWS_KEPT = 20  # failing rows kept per expectation in result.json


class GateError(ValueError):
    """The folder is not a (complete) run, or a [gate] threshold is wrong: exit 2, not a data failure."""


@dataclass(frozen=True)
class Spec:
    """One expectation of the suite, as data: which table, which GX expectation, which arguments."""

    name: str  # stable id, e.g. "ids.unique"
    table: str  # "examples" or "run"
    expectation: str  # Great Expectations class name in great_expectations.expectations
    kwargs: dict[str, Any]
    severity: str
    description: str


@dataclass
class Check:
    """The outcome of one expectation."""

    name: str
    expectation: str
    severity: str
    success: bool
    description: str
    observed: Any
    unexpected_count: int | None = None
    element_count: int | None = None
    failing_rows: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expectation": self.expectation,
            "severity": self.severity,
            "success": self.success,
            "description": self.description,
            "observed": self.observed,
            "unexpected_count": self.unexpected_count,
            "element_count": self.element_count,
            "failing_rows": self.failing_rows[:MAX_ROWS_KEPT],
        }


@dataclass
class GateResult:
    run_dir: Path
    profile: str
    model: str
    suites: list[str]
    thresholds: dict[str, Any]
    checks: list[Check]
    notes: list[str]
    data_docs: Path
    result_file: Path
    fail_on_warning: bool = False

    def blocks(self, check: Check) -> bool:
        """A failed expectation fails the gate when critical (or a warning, with fail_on_warning)."""
        blocking = (CRITICAL, WARNING) if self.fail_on_warning else (CRITICAL,)
        return not check.success and check.severity in blocking

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if self.blocks(c)]

    @property
    def warned(self) -> list[Check]:
        return [c for c in self.checks if not c.success and not self.blocks(c)]

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "run": str(self.run_dir),
            "profile": self.profile,
            "model": self.model,
            "suites": self.suites,
            "thresholds": self.thresholds,
            "expectations": [c.as_dict() for c in self.checks],
            "failed": [c.name for c in self.failed],
            "warnings": [c.name for c in self.warned],
            "notes": self.notes,
            "data_docs": str(self.data_docs),
        }


# ---------------------------------------------------------------- inputs


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


# ---------------------------------------------------------------- the suite


def _length_limit(
    manifest: dict[str, Any], thresholds: dict[str, Any]
) -> tuple[int | None, str, bool]:
    """(limit, where it comes from, confirmed) for the per-example token check.

    gate.max_tokens wins; then the run's own limit (the manifest's ``length`` section, written
    by the length policy, or --max-tokens); then the model's published limit. A limit only known
    from one provider's table (``confirmed=False`` in models.py) makes the check a warning.
    """
    from pipeline.profiles.models import UnknownModel, model_info

    if thresholds["max_tokens"] is not None:
        return thresholds["max_tokens"], "gate.max_tokens", True
    try:
        info = model_info(str(manifest.get("model") or ""))
    except UnknownModel:
        info = None
    config = manifest.get("config") or {}
    if isinstance(config.get("max_tokens"), int):
        return config["max_tokens"], "the run's --max-tokens", True
    length = manifest.get("length") or {}
    if isinstance(length, dict) and isinstance(length.get("max_tokens"), int):
        policy = length.get("policy", "flag")
        confirmed = info.confirmed if info is not None else True
        return length["max_tokens"], f"the run's length policy '{policy}'", confirmed
    if info is not None and info.max_tokens:
        return info.max_tokens, f"{info.name}: {info.source}", info.confirmed
    tokenizer = manifest.get("tokenizer") or {}
    if isinstance(tokenizer.get("max_tokens_per_example"), int):
        return tokenizer["max_tokens_per_example"], "the manifest's tokenizer limit", True
    return None, "no published limit", False


def _requested_share(manifest: dict[str, Any], total: int) -> float | None:
    """The validation share the run aimed at: its split plan's target (the request, within what
    keeps the profile's training minimum), else what the config asked (older manifests; val_size
    wins over val_ratio, as in the engine)."""
    split = manifest.get("split") or {}
    if isinstance(split.get("target"), int) and split.get("clusters"):
        return split["target"] / split["clusters"]
    config = manifest.get("config") or {}
    val_size, val_ratio = config.get("val_size"), config.get("val_ratio")
    if val_size is not None:
        return min(val_size, total) / total if total else 0.0
    if val_ratio:
        return float(val_ratio)
    return None


def derive_suite(
    manifest: dict[str, Any], thresholds: dict[str, Any], total_examples: int
) -> tuple[list[Spec], list[str]]:
    """The expectations for this run, and notes on what could not be derived."""
    from pipeline.profiles.profiles import ProfileError, get_profile

    notes: list[str] = []
    profile_name = str(manifest.get("profile") or "")
    specs: list[Spec] = []

    minimum = thresholds["min_train_examples"]
    severity = CRITICAL
    if minimum is None:
        try:
            limits = get_profile(profile_name).limits
        except ProfileError:
            limits = None
        if limits is not None and limits.min_examples and "training" in limits.minimum_applies_to:
            minimum, why = limits.min_examples, f"the {profile_name} minimum"
            if limits.min_examples_severity != "error":  # advice or unconfirmed, as validate
                severity, why = WARNING, f"{why}, unconfirmed or advised: a warning"
        else:
            minimum, why = 1, "train is never empty"
    else:
        why = "gate.min_train_examples"
    specs.append(
        Spec(
            "train.min_examples",
            "examples",
            "ExpectColumnSumToBeBetween",
            {"column": "in_train", "min_value": minimum},
            severity,
            f"train holds at least {minimum} examples ({why})",
        )
    )

    requested = _requested_share(manifest, total_examples)
    if requested == 0.0 and (manifest.get("split") or {}).get("target") == 0:
        notes.append(
            "the run's split aimed at no validation example (train keeps the profile's minimum, "
            "or none was asked for): validation checks not derived"
        )
        requested = None
    elif requested:
        specs.append(
            Spec(
                "validation.not_empty",
                "examples",
                "ExpectColumnSumToBeBetween",
                {"column": "in_validation", "min_value": 1},
                CRITICAL,
                "validation is not empty (the run asked for one)",
            )
        )
        slack = thresholds["val_share_tolerance"] + (1 / total_examples if total_examples else 0)
        low, high = max(0.0, requested - slack), min(1.0, requested + slack)
        specs.append(
            Spec(
                "validation.share",
                "examples",
                "ExpectColumnMeanToBeBetween",
                {
                    "column": "in_validation",
                    "min_value": round(low, 6),
                    "max_value": round(high, 6),
                },
                CRITICAL,
                f"the validation share is {requested:.3f} ± {slack:.3f} "
                f"(gate.val_share_tolerance {thresholds['val_share_tolerance']} plus one example)",
            )
        )
    else:
        notes.append("the run asked for no validation split: validation checks not derived")

    specs.append(
        Spec(
            "ids.unique",
            "examples",
            "ExpectColumnValuesToBeUnique",
            {"column": "id"},
            CRITICAL,
            "every id appears once across train and validation (no copy, no leakage)",
        )
    )

    limit, source, confirmed = _length_limit(manifest, thresholds)
    policy = (manifest.get("length") or {}).get("policy") or (manifest.get("config") or {}).get(
        "length_policy", "flag"
    )
    if thresholds["max_tokens"] is None and policy == "flag" and confirmed:
        confirmed = False  # the run kept them on purpose: providers truncate (a warning, S2)
        source += ", which keeps longer examples: providers truncate them"
    if limit:
        specs.append(
            Spec(
                "tokens.within_limit",
                "examples",
                "ExpectColumnValuesToBeBetween",
                {"column": "n_tokens", "min_value": 1, "max_value": limit},
                CRITICAL if confirmed else WARNING,
                f"every example has 1 to {limit:,} tokens (limit: {source}"
                + ("" if confirmed else "; a warning")
                + ")",
            )
        )
    else:
        notes.append(f"model {manifest.get('model')}: no token limit known; set gate.max_tokens")
    specs.append(
        Spec(
            "tokens.counted",
            "examples",
            "ExpectColumnValuesToNotBeNull",
            {"column": "n_tokens"},
            CRITICAL,
            "every example has a token count",
        )
    )

    facts = ROLE_FACTS.get(profile_name)
    if facts is not None:
        known = facts.roles + facts.unconfirmed_roles
        alternatives = "|".join(re.escape(r) for r in known)
        specs.append(
            Spec(
                "roles.known",
                "examples",
                "ExpectColumnValuesToMatchRegex",
                {"column": "roles", "regex": f"^(?:{alternatives})(?: (?:{alternatives}))*$"},
                CRITICAL,
                f"every message role is one of {', '.join(known)} ({profile_name})",
            )
        )
        if facts.unconfirmed_roles:
            unconfirmed = "|".join(re.escape(r) for r in facts.unconfirmed_roles)
            specs.append(
                Spec(
                    "roles.unconfirmed",
                    "examples",
                    "ExpectColumnValuesToNotMatchRegex",
                    {"column": "roles", "regex": f"(?:^| )(?:{unconfirmed})(?: |$)"},
                    WARNING,
                    f"no message has role {' or '.join(facts.unconfirmed_roles)} "
                    f"({facts.unconfirmed_source})",
                )
            )
        specs.append(
            Spec(
                "roles.last",
                "examples",
                "ExpectColumnValuesToBeInSet",
                {"column": "last_role", "value_set": list(facts.last_roles)},
                facts.last_role_severity,
                f"the last message is from {' or '.join(facts.last_roles)} ({facts.source})",
            )
        )
    else:
        notes.append(f"profile {profile_name}: no role facts in the gate; role checks not derived")

    specs.append(
        Spec(
            "assistant.content_not_empty",
            "examples",
            "ExpectColumnValuesToBeBetween",
            {"column": "min_assistant_chars", "min_value": thresholds["min_assistant_chars"]},
            CRITICAL,
            f"every assistant reply without tool calls has at least "
            f"{thresholds['min_assistant_chars']} character(s) of text",
        )
    )

    specs.append(
        Spec(
            "rejected.share",
            "run",
            "ExpectColumnMaxToBeBetween",
            {
                "column": "rejected_share",
                "min_value": 0,
                "max_value": thresholds["max_rejected_share"],
            },
            CRITICAL,
            f"at most {thresholds['max_rejected_share']:.1%} of input records were rejected "
            "(gate.max_rejected_share)",
        )
    )
    max_dup = thresholds["max_duplicate_share"]
    specs.append(
        Spec(
            "duplicates.share",
            "run",
            "ExpectColumnMaxToBeBetween",
            {
                "column": "duplicate_share",
                "min_value": 0,
                "max_value": 1 if max_dup is None else max_dup,
            },
            INFO if max_dup is None else CRITICAL,
            "the share of input records removed as duplicates"
            + (
                " (reported; set gate.max_duplicate_share to bound it)"
                if max_dup is None
                else f" is at most {max_dup:.1%}"
            ),
        )
    )
    specs.append(
        Spec(
            "manifest.counts_match",
            "run",
            "ExpectColumnPairValuesToBeEqual",
            {"column_A": "manifest_counts", "column_B": "parquet_counts"},
            CRITICAL,
            "the manifest's train/validation counts match the Parquet files",
        )
    )
    return specs, notes


# ---------------------------------------------------------------- running


def _plain(value: Any) -> Any:
    """numpy scalars and containers -> JSON-friendly Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _check_from(spec: Spec, result: Any) -> Check:
    res = result.result or {}
    rows = [
        {k: _plain(v) for k, v in row.items()}
        for row in (res.get("unexpected_index_list") or [])[:MAX_ROWS_KEPT]
        if isinstance(row, dict)
    ]
    observed = res.get("observed_value")
    if observed is None and "unexpected_count" in res:
        observed = f"{res['unexpected_count']} of {res.get('element_count')} rows fail"
        if spec.name == "assistant.content_not_empty" and res["unexpected_count"]:
            minimum = spec.kwargs["min_value"]
            observed += f": an assistant reply shorter than {minimum} character(s)"
        elif res.get("partial_unexpected_list"):
            observed += f", e.g. {_plain(res['partial_unexpected_list'][:3])}"
    if result.exception_info and result.exception_info.get("raised_exception"):
        observed = f"error: {result.exception_info.get('exception_message')}"
    return Check(
        name=spec.name,
        expectation=result.expectation_config.type,
        severity=spec.severity,
        success=bool(result.success),
        description=spec.description,
        observed=_plain(observed),
        unexpected_count=_plain(res.get("unexpected_count")),
        element_count=_plain(res.get("element_count")),
        failing_rows=rows,
    )


def level_of(spec: Spec, fail_on_warning: bool = False) -> str:
    """Which suite an expectation goes to: "blocking" (it fails the gate) or "warnings"."""
    blocking = spec.severity == CRITICAL or (fail_on_warning and spec.severity == WARNING)
    return "blocking" if blocking else "warnings"


def suite_names_for(
    profile: str, specs: list[Spec], fail_on_warning: bool = False
) -> dict[tuple[str, str], str]:
    """One suite per table and level: ``ftprep.<profile>.<table>`` holds the expectations that
    fail the gate, ``ftprep.<profile>.<table>.warnings`` those that only warn, so each suite's
    status in result.json and Data Docs is the gate's verdict on it."""
    names = {}
    for table in ("examples", "run"):
        for level in ("blocking", "warnings"):
            if any(s.table == table and level_of(s, fail_on_warning) == level for s in specs):
                suffix = "" if level == "blocking" else ".warnings"
                names[(table, level)] = f"ftprep.{profile}.{table}{suffix}"
    return names


def _store_as_passed(context: Any, suite_name: str, result: Any) -> None:
    """A warnings suite whose expectations fired did not fail the gate: its stored result (what
    Data Docs show as the status) says so, with a note; each expectation keeps its own outcome."""
    result.success = True
    result.meta["ftprep"] = (
        "warnings: an expectation here that is not met is reported, and does not fail the gate "
        "(gate.fail_on_warning = true makes them fail)"
    )
    store = context.validation_results_store
    for key in store.list_keys():
        if key.expectation_suite_identifier.name == suite_name:
            store.set(key, result)


def _validate(
    specs: list[Spec],
    frames: dict[str, Any],
    suite_names: dict[tuple[str, str], str],
    quality: Path,
    fail_on_warning: bool = False,
) -> tuple[list[Check], list[dict]]:
    """Run the suites with Great Expectations; build Data Docs into ``quality``."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import logging

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name="ftprep",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(quality.resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    source = context.data_sources.add_pandas("ftprep")
    by_name = {s.name: s for s in specs}
    validations = []
    for (table, level), suite_name in suite_names.items():
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
        for spec in specs:
            if spec.table == table and level_of(spec, fail_on_warning) == level:
                cls = getattr(gxe, spec.expectation)
                suite.add_expectation(
                    cls(
                        **spec.kwargs,
                        severity=spec.severity,
                        description=spec.description,
                        meta={"ftprep": spec.name},
                    )
                )
        batch = source.add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe(table)
        validations.append(
            context.validation_definitions.add(
                gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
            )
        )
    checks: list[Check] = []
    raw: list[dict] = []
    for validation, (table, level) in zip(validations, suite_names, strict=True):
        result = validation.run(
            batch_parameters={"dataframe": frames[table]},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_ROWS_SHOWN},
        )
        for r in result.results:
            checks.append(_check_from(by_name[r.expectation_config.meta["ftprep"]], r))
        if level == "warnings" and not result.success:
            _store_as_passed(context, suite_names[(table, level)], result)
        raw.append(result.to_json_dict())
    context.build_data_docs(site_names=["ftprep"])
    for check in checks:
        spec = by_name[check.name]
        if not check.success and check.unexpected_count and spec.table == "examples":
            check.failing_rows = _failing_rows(context, source, spec, frames["examples"])
    order = {s.name: i for i, s in enumerate(specs)}
    checks.sort(key=lambda c: order[c.name])
    return checks, raw


ROW_CHUNK = 2_000


def _failing_rows(context: Any, source: Any, spec: Spec, frame: Any) -> list[dict[str, Any]]:
    """The first MAX_ROWS_KEPT rows that fail one row-level expectation, named by id and place.

    GX lists failing rows only in its COMPLETE result format, which costs time per failing row;
    so the failed expectation alone is run again in that format, chunk by chunk, until enough rows
    are found. Uniqueness is decided among the rows whose id repeats (a pre-filter that keeps
    the expectation's answer), every other row-level expectation row by row.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    if spec.expectation == "ExpectColumnValuesToBeUnique":
        column = spec.kwargs["column"]
        frame = frame[frame[column].duplicated(keep=False)]
    suite = context.suites.add(gx.ExpectationSuite(name=f"ftprep.rows.{spec.name}"))
    suite.add_expectation(getattr(gxe, spec.expectation)(**spec.kwargs))
    asset = source.add_dataframe_asset(f"rows.{spec.name}")
    validation = gx.ValidationDefinition(
        name=f"ftprep.rows.{spec.name}",
        data=asset.add_batch_definition_whole_dataframe("rows"),
        suite=suite,
    )
    rows: list[dict[str, Any]] = []
    step = len(frame) if spec.expectation == "ExpectColumnValuesToBeUnique" else ROW_CHUNK
    for start in range(0, len(frame), max(step, 1)):
        result = validation.run(
            batch_parameters={"dataframe": frame.iloc[start : start + step]},
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": ["id", "split", "source", "line"],
            },
        )
        for r in result.results:
            for row in (r.result or {}).get("unexpected_index_list") or []:
                rows.append({k: _plain(v) for k, v in row.items()})
        if len(rows) >= MAX_ROWS_KEPT:
            break
    return rows[:MAX_ROWS_KEPT]


def gate_settings(config_path: Path | None) -> dict[str, Any]:
    """The [gate] table of a config file, as written (none given: the defaults)."""
    return load_config(config_path).get("gate", {}) if config_path else {}


def run_gate(run_dir: Path, settings: dict[str, Any] | None = None) -> GateResult:
    """Validate one run folder; write DIR/quality/ (Data Docs, result.json); return the result."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    thresholds = gate_thresholds(settings)
    examples = examples_frame(run_dir)
    frames = {"examples": examples, "run": run_frame(manifest, examples)}
    specs, notes = derive_suite(manifest, thresholds, len(examples))
    profile = str(manifest.get("profile") or "unknown")
    suite_names = suite_names_for(profile, specs, thresholds["fail_on_warning"])
    quality = run_dir / "quality"
    shutil.rmtree(quality, ignore_errors=True)
    quality.mkdir()
    checks, raw = _validate(specs, frames, suite_names, quality, thresholds["fail_on_warning"])
    result = GateResult(
        run_dir=run_dir,
        profile=profile,
        model=str(manifest.get("model") or "unknown"),
        suites=list(suite_names.values()),
        thresholds=thresholds,
        checks=checks,
        notes=notes,
        data_docs=quality / "index.html",
        result_file=quality / "result.json",
        fail_on_warning=thresholds["fail_on_warning"],
    )
    payload = result.as_dict() | {"great_expectations": raw}
    result.result_file.write_bytes(
        orjson.dumps(payload, option=orjson.OPT_INDENT_2, default=str) + b"\n"
    )
    return result
