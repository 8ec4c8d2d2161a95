"""The run's verdict on the files it wrote: would `ftprep validate` pass each upload file?

Takes the staging folder after the write stage, the profile and the manifest; yields nothing but
a verdict for the manifest (``{"ok", "findings", "notes"}``). The per-line rules already ran on
every kept line and the whole-file rules on the lines as written (``file_findings``); what is
left is what only the whole file shows: its limits (byte-order mark, size, and the minimums that
apply to a training or a validation file, by ``file_limits.file_limit_findings``, the code
`ftprep validate` runs) and whether a file was written at all. An upload file with no example is
not written (providers and loaders refuse an empty file), and an empty train split is an error.
When the verdict is not ok, `ftprep run` exits 1 and its summary names the file and the reason;
the artifacts are written all the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.findings import ERROR
from pipeline.profiles.profiles import TRAINING, VALIDATION, Profile
from pipeline.stages.file_limits import file_limit_findings

UPLOADS = {"train.jsonl": TRAINING, "validation.jsonl": VALIDATION}


def training_minimum(profile: Profile) -> int:
    """How many examples the split keeps in train: the profile's minimum when its provider
    requires it of a training file (an error-level fact), else 1 (never an empty train file)."""
    limits = profile.limits
    if (
        limits.min_examples
        and limits.min_examples_severity == ERROR
        and TRAINING in limits.minimum_applies_to
    ):
        return limits.min_examples
    return 1


def drop_empty_uploads(staging: Path, written: dict[str, tuple[str, int]]) -> list[str]:
    """Remove the upload files that hold no example (a 0-byte file, or a byte-order mark alone),
    so none is listed in the manifest; returns their names."""
    dropped = []
    for name in UPLOADS:
        if name in written and written[name][1] == 0:
            (staging / name).unlink(missing_ok=True)
            del written[name]
            dropped.append(name)
    return dropped


def judge_outputs(
    staging: Path, profile: Profile, manifest: dict[str, Any], file_findings: list[dict]
) -> dict[str, Any]:
    """The verdict on the upload files in ``staging`` (see the module docstring)."""
    outputs = {o["path"]: o for o in manifest["outputs"]}
    findings: list[dict[str, Any]] = []
    notes: list[str] = []
    for name, role in UPLOADS.items():
        entry = outputs.get(name)
        if entry is None:
            if role == TRAINING:
                findings.append(
                    _finding(name, 0, "run.train.empty", ERROR, _why_no_train(manifest))
                )
            elif manifest["counts"]["train"]:
                notes.append(_why_no_validation(manifest, profile))
            continue
        with open(staging / name, "rb") as f:
            head = f.read(3)
        for line, _, rule, severity, message in file_limit_findings(
            profile.limits, entry["bytes"], head, entry["records"], None, role
        ):
            findings.append(_finding(name, line, rule, severity, message))
    capped = _capped_note(manifest, profile)
    if capped:
        notes.append(capped)
    for found in file_findings:  # the whole-file rules, on the lines as written
        findings.append({**found, "whole_file_rule": True})
    ok = not any(f["severity"] == ERROR for f in findings)
    return {"ok": ok, "findings": findings[:100], "notes": notes}


def _finding(path: str, line: int, rule: str, severity: str, message: str) -> dict[str, Any]:
    return {"path": path, "line": line, "rule": rule, "severity": severity, "message": message}


def _why_no_train(manifest: dict[str, Any]) -> str:
    counts = manifest["counts"]
    rules = sorted(manifest["rejected_by_rule"].items(), key=lambda kv: -kv[1])[:3]
    top = ", ".join(f"{rule} {n:,}" for rule, n in rules)
    return (
        f"no example was kept for training, so train.jsonl was not written: of {counts['records']:,} "
        f"record(s), {counts['rejected']:,} were rejected"
        + (f" (most often {top})" if top else "")
        + f" and {counts['duplicates']:,} were duplicates; see rejected.jsonl for what to change "
        "in the input, or map its columns in the config ([convert.mapping])"
    )


def _why_no_validation(manifest: dict[str, Any], profile: Profile) -> str:
    split = manifest.get("split") or {}
    config = manifest.get("config") or {}
    asked = config.get("val_size") is not None or bool(config.get("val_ratio"))
    clusters, keep = split.get("clusters", 0), split.get("min_train", 1)
    if not asked:
        why = "no validation split was asked for"
    elif clusters <= keep:
        why = (
            f"the {clusters:,} kept example(s) all went to train, which needs at least "
            f"{keep:,} for {profile.name}"
        )
    else:
        why = "no example went to validation"
    return f"validation.jsonl was not written: {why} (an empty file would be refused)"


def note_blank_lines(manifest: dict[str, Any], stats: list) -> None:
    """Blank lines of the JSONL inputs are skipped (they are not records); say so once per
    input, as a note on the input and a warning count (``ingest.blank_line``)."""
    from pipeline.stages.ingest import blank_line_note, blank_lines

    entries = {entry["path"]: entry for entry in manifest["inputs"]}
    warnings = manifest["warnings_by_rule"]
    for st in stats:
        count, first = blank_lines(st.path, st.format)
        if count and st.name in entries:
            entries[st.name]["shape_notes"].append(blank_line_note(count, first))
            warnings["ingest.blank_line"] = warnings.get("ingest.blank_line", 0) + count
    manifest["warnings_by_rule"] = dict(sorted(warnings.items()))


def _capped_note(manifest: dict[str, Any], profile: Profile) -> str | None:
    """A note when the split sent fewer clusters to validation than asked, to keep the
    training minimum (``--val-size 1000`` on 90 examples leaves 10 in train for OpenAI)."""
    split, config = manifest.get("split") or {}, manifest.get("config") or {}
    clusters, target = split.get("clusters", 0), split.get("target", 0)
    if config.get("val_size") is not None:
        asked, how = min(config["val_size"], clusters), f"--val-size {config['val_size']}"
    elif config.get("val_ratio"):
        asked, how = round(config["val_ratio"] * clusters), f"--val-ratio {config['val_ratio']}"
    else:
        return None
    if target >= asked or target == 0:
        return None  # none at all is said where validation.jsonl is not written
    return (
        f"validation holds {target:,} cluster(s), not the {asked:,} that {how} asks of "
        f"{clusters:,}: train keeps at least {split.get('min_train', 1):,} for {profile.name}"
    )
