"""The gate's suite, as plain data: which expectations a run must meet, and how much each counts.

``derive_suite`` derives the expectations (``Spec``) from the run's manifest, its profile's facts
(the training minimum; the roles, in ``pipeline.profiles.gate_facts``), the model's token limit
and the ``[gate]`` thresholds; no Great Expectations is needed to read or test it. A critical
expectation fails the gate, a warning only reports (unless ``fail_on_warning``), and info is
reported only; ``suite_names_for`` puts each in the suite of its table and level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipeline.profiles.gate_facts import CRITICAL, INFO, ROLE_FACTS, WARNING


@dataclass(frozen=True)
class Spec:
    """One expectation of the suite, as data: which table, which GX expectation, which arguments."""

    name: str  # stable id, e.g. "ids.unique"
    table: str  # "examples" or "run"
    expectation: str  # Great Expectations class name in great_expectations.expectations
    kwargs: dict[str, Any]
    severity: str
    description: str


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
    specs += scan_specs(thresholds)
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


def scan_specs(thresholds: dict[str, Any]) -> list[Spec]:
    """The scan's expectations on the written examples: no secret in any (gate.max_secrets, 0
    by default), and the share of examples holding personal data (reported, or bounded by
    gate.max_pii_share)."""
    max_secrets, max_pii = thresholds["max_secrets"], thresholds["max_pii_share"]
    return [
        Spec(
            "scan.secrets",
            "examples",
            "ExpectColumnValuesToBeBetween",
            {"column": "secrets", "min_value": 0, "max_value": max_secrets},
            CRITICAL,
            f"no example holds more than {max_secrets} secret(s) (API keys, tokens, private "
            "keys, passwords in URLs) in its texts (gate.max_secrets; redact them with "
            "`ftprep run --secrets redact`)",
        ),
        Spec(
            "scan.pii_share",
            "examples",
            "ExpectColumnMeanToBeBetween",
            {"column": "has_pii", "min_value": 0, "max_value": 1 if max_pii is None else max_pii},
            INFO if max_pii is None else CRITICAL,
            "the share of examples holding personal data (e-mail, phone, card, IBAN, national id, "
            "IP)"
            + (
                " (reported; set gate.max_pii_share to bound it)"
                if max_pii is None
                else f" is at most {max_pii:.1%}"
            ),
        ),
    ]


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
