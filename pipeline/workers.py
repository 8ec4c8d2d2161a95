"""The worker side of a run: the per-record stages, applied to one batch in a worker process.

``init_worker`` sets up a process once (profile, tokenizer, convert options, limits, dedupe
settings); ``shape_batch`` counts the shapes of a batch; ``process_batch`` parses,
converts, renders, validates, counts and featurises each record of a batch and returns, in input
order, an Example or a rejection for each. ``process_batch_arrow`` hands the Examples back as one
Arrow batch, so the main process only decides and writes.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipeline import convert, ingest
from pipeline.artifacts import ExampleBatch
from pipeline.dedupe import example_id
from pipeline.models import ModelInfo
from pipeline.near_dedupe import NearSettings, featurise_batch
from pipeline.profiles import Profile, get_profile
from pipeline.records import rejection
from pipeline.render import Unrenderable
from pipeline.validate import validate_record

if TYPE_CHECKING:
    from pipeline.engine import RunConfig

STATE: dict[str, Any] = {}


def init_worker(
    profile_name: str,
    encoding: str,
    options: convert.ConvertOptions,
    limit: int | None,
    length_policy: str = "flag",
    tokenizer: str | None = None,
    near: NearSettings | None = None,
) -> None:
    from pipeline.tokens import Counter

    if tokenizer:
        from pipeline.hf_tokens import HFCounter

        counter: Any = HFCounter(tokenizer)
    else:
        counter = Counter(encoding)
    STATE.update(
        profile=get_profile(profile_name),
        counter=counter,
        options=options,
        limit=limit,
        length_policy=length_policy,
        near=near,
    )


def worker_initargs(
    config: RunConfig, profile: Profile, info: ModelInfo, near: NearSettings
) -> tuple:
    """The arguments of ``init_worker`` for a run: what every worker needs to know."""
    options = convert.ConvertOptions(
        mapping=config.mapping, roles=config.roles, system_prompt=config.system_prompt
    )
    return (
        profile.name,
        info.encoding,
        options,
        info.max_tokens,
        config.length_policy,
        config.tokenizer,
        near,
    )


def shape_batch(source: str, items: list) -> collections.Counter:
    options = STATE["options"]
    counts: collections.Counter = collections.Counter()
    for item in items:
        ok, obj = ingest.parse_item(source, item)
        if ok:
            counts[convert.shape_of(obj, options)] += 1
    return counts


def process_batch(
    source: str, file_shape: str | None, items: list
) -> tuple[list, collections.Counter, collections.Counter]:
    """Ingest, convert, validate and count one batch; results keep input order. Also returns the
    warnings by rule and the count of each record shape (what ``shape_batch`` would count)."""
    profile: Profile = STATE["profile"]
    counter = STATE["counter"]
    counter.new_batch()
    warnings: collections.Counter = collections.Counter()
    shapes: collections.Counter = collections.Counter()
    results = []
    for item in items:
        ok, obj = ingest.parse_item(source, item)
        if not ok:
            results.append(obj)
            continue
        line = item[0]
        try:
            ex = convert.convert_record(obj, source, line, file_shape, STATE["options"], shapes)
            if "stage" not in ex:
                ex = finish_example(ex, obj, profile, counter, warnings)
        except Exception as exc:  # a bug must cost one record, not the run
            ex = _internal_error(source, line, exc)
        results.append(ex)
    if STATE.get("near") is not None:
        featurise_batch([ex for ex in results if "stage" not in ex], STATE["near"])
    return results, warnings, shapes


def _internal_error(source: str, line: int, exc: Exception) -> dict:
    return rejection(
        source,
        line,
        "convert",
        "internal.error",
        f"ftprep could not process this record ({type(exc).__name__}: {exc}); the other records "
        "were processed. Please report it with this line.",
    )


_LIGHT_KEYS = ("id", "dedupe_key", "source", "line", "n_tokens", "over_limit", "near", "stage")


def process_batch_arrow(
    source: str, file_shape: str | None, items: list
) -> tuple[list, collections.Counter, Any, collections.Counter]:
    """``process_batch``, with the kept Examples already as an Arrow batch (spill schema) and only
    what the main process decides on (ids, provenance, features) left as Python values.

    Rejections stay whole; the i-th Example outcome is row i of the batch. Building the rows here,
    on the workers, keeps the main process free for reading, deduping and writing."""
    results, warnings, shapes = process_batch(source, file_shape, items)
    rows = ExampleBatch(with_rendered=True)
    outcomes = []
    for rec in results:
        if "stage" not in rec:
            try:
                rows.add(rec)
            except Exception as exc:  # e.g. a value too deep to serialise
                rec = _internal_error(rec["source"], rec["line"], exc)
        outcomes.append(rec if "stage" in rec else {k: rec[k] for k in _LIGHT_KEYS if k in rec})
    return outcomes, warnings, rows.to_arrow() if len(rows) else None, shapes


def finish_example(
    ex: dict, obj: Any, profile: Profile, counter: Any, warnings: collections.Counter
) -> dict:
    import orjson

    source, line = ex["source"], ex["line"]
    try:
        rendered = profile.render(ex)
    except Unrenderable as exc:
        return rejection(source, line, "validate", exc.rule, exc.message, raw=obj)
    issues = validate_record(profile, rendered)
    errors = [i for i in issues if i[2] == "error"]
    if errors:
        pointer, rule, _, message = errors[0]
        rej = rejection(source, line, "validate", rule, message, raw=obj, pointer=pointer)
        if len(errors) > 1:
            rej["findings"] = [{"pointer": p, "rule": r, "message": m} for p, r, _, m in errors]
        return rej
    for issue in issues:
        warnings[issue[1]] += 1
    from pipeline.length import RULE, apply_length_policy
    from pipeline.tokens import TokenizerError

    try:
        ex["n_tokens"], ex["n_trained_tokens"] = counter.example(ex)
    except TokenizerError as exc:  # an open model's chat template refused the row
        return rejection(source, line, "count", "count.template_error", str(exc), raw=obj)
    limit = STATE["limit"]
    if limit and ex["n_tokens"] > limit:
        ex = apply_length_policy(
            ex, obj, counter, limit, STATE["length_policy"], _revalidator(profile)
        )
        if "stage" in ex:
            return ex
        if ex["over_limit"]["action"] == "flagged":
            warnings[RULE] += 1
        else:
            rendered = profile.render(ex)
    ex["id"] = example_id(ex)
    ex["cluster"] = ex["id"]
    ex["rendered"] = orjson.dumps(rendered, option=orjson.OPT_APPEND_NEWLINE)  # a JSONL line
    return ex


def _revalidator(profile: Profile) -> Callable[[dict], str | None]:
    """Re-render and re-check a truncated Example: its first error message, or None."""

    def check(ex: dict) -> str | None:
        try:
            issues = validate_record(profile, profile.render(ex))
        except Unrenderable as exc:
            return exc.message
        errors = [f"{m} [{r}]" for _, r, severity, m in issues if severity == "error"]
        return errors[0] if errors else None

    return check
