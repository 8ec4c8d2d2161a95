"""The worker side of a run: the per-record stages, applied to one batch in a worker process.

``init_worker`` sets up a process once (profile, tokenizer, convert options, limits, dedupe
settings); ``count_shapes`` counts the shapes of a batch; ``process_batch`` parses,
converts, renders, validates and counts each record of a batch, then gives the batch's Examples
their ids and near-duplicate features (each at once for the whole batch), and returns, in input
order, an Example or a rejection for each. ``process_batch_arrow`` appends the Examples' Arrow
rows to this process's rows file of the spill and hands back where they lie, so the main process
only decides and writes.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pipeline.artifacts import ExampleBatch
from pipeline.config import ConvertOptions, NearSettings, RunConfig, ScanSettings
from pipeline.profiles.models import ModelInfo
from pipeline.profiles.profiles import Profile, get_profile
from pipeline.profiles.render import Unrenderable
from pipeline.records import rejection
from pipeline.stages import convert, ingest
from pipeline.stages.dedupe.exact import example_ids, prompt_key, prompt_messages
from pipeline.stages.dedupe.near_features import featurise_batch
from pipeline.stages.example_rules import empty_reply
from pipeline.stages.length import RULE, apply_length_policy
from pipeline.stages.scan import policy as scan_policy
from pipeline.stages.tokens import TokenizerError
from pipeline.stages.validate import validate_record
from pipeline.stages.write import RowsRef, Spill, append_rows, light_schema

STATE: dict[str, Any] = {}


def init_worker(
    profile_name: str,
    encoding: str,
    options: ConvertOptions,
    limit: int | None,
    length_policy: str = "flag",
    tokenizer: str | None = None,
    near: NearSettings | None = None,
    evals: Any = None,
    contaminated: str = "report",
    scan: ScanSettings | None = None,
) -> None:
    from pipeline.stages.tokens import Counter

    if tokenizer:
        from pipeline.stages.hf_tokens import HFCounter

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
        evals=evals,
        contaminated=contaminated,
        scan=scan,
    )


def worker_initargs(
    config: RunConfig, profile: Profile, info: ModelInfo, near: NearSettings, evals: Any = None
) -> tuple:
    """The arguments of ``init_worker`` for a run: what every worker needs to know (``evals``:
    the eval sets' index, with ``--decontaminate``)."""
    return (
        profile.name,
        info.encoding,
        config.convert_options(),
        info.max_tokens,
        config.length_policy,
        config.tokenizer,
        near,
        evals,
        config.contaminated,
        config.scan_settings(),
    )


def count_shapes(source: str, items: list, options: ConvertOptions) -> collections.Counter:
    """How many records of each shape a batch of raw items holds (unparseable ones aside)."""
    counts: collections.Counter = collections.Counter()
    for item in items:
        ok, obj = ingest.parse_item(source, item)
        if ok:
            counts.update(convert.record_keys(obj, options))
    return counts


def guess_shape(source: str, first: list, options: ConvertOptions) -> str | None:
    """The shape of an input as its first batch shows it (to be confirmed by all its records)."""
    return convert.choose_file_shape(count_shapes(source, first, options))[0]


def convert_items(
    source: str,
    file_shape: str | None,
    batch: ingest.Batch,
    shapes: collections.Counter,
    counts: collections.Counter | None = None,
) -> Iterator[tuple[Any, dict]]:
    """(raw record, Example or rejection) per item of a batch (read here when it is a range of
    lines), in order; the raw record is None when the item did not parse. Counts each record's
    shape in ``shapes``. With ``counts`` (a run's warnings), each record is first scanned for
    secrets and PII as the run's settings say (``stages.scan.policy``): redacted, or rejected."""
    scan = STATE.get("scan") if counts is not None else None
    for item in ingest.batch_items(batch):
        ok, obj = ingest.parse_item(source, item)
        if not ok:
            yield None, (scan_policy.redact_rejection(obj, scan) if scan else obj)
            continue
        if scan is not None:
            raw = item[1] if type(item) is tuple and type(item[1]) is bytes else None
            obj, rejected = scan_policy.apply(obj, source, item[0], scan, counts, raw)
            if rejected is not None:
                yield None, rejected
                continue
        try:
            ex = convert.convert_record(obj, source, item[0], file_shape, STATE["options"], shapes)
        except Exception as exc:  # a bug must cost one record, not the run
            ex = _internal_error(source, item[0], exc)
        yield obj, ex


def process_batch(
    source: str, file_shape: str | None, batch: ingest.Batch
) -> tuple[list, collections.Counter, collections.Counter, Any]:
    """Ingest, convert, validate, count and featurise one batch; results keep input order. Also
    returns the warnings by rule, the count of each record shape (what ``count_shapes`` would
    count) and the near-duplicate features of the Examples among the results, in order (an
    Arrow record batch, ``near_features.feature_schema``; None when near dedupe is off)."""
    profile: Profile = STATE["profile"]
    counter = STATE["counter"]
    counter.new_batch()
    warnings: collections.Counter = collections.Counter()
    shapes: collections.Counter = collections.Counter()
    results, raws = [], []
    for obj, ex in convert_items(source, file_shape, batch, shapes, warnings):
        if "stage" not in ex:
            try:
                ex = finish_example(ex, obj, profile, counter, warnings)
            except Exception as exc:  # a bug must cost one record, not the run
                ex = _internal_error(ex["source"], ex["line"], exc)
        results.append(ex)
        raws.append(obj)
    results, _ = _batchwise(results, assign_ids)
    if STATE.get("evals") is not None:
        results = decontaminate(results, raws, STATE["evals"], STATE["contaminated"])
    features = None
    settings = STATE.get("near")
    if settings is not None:
        results, parts = _batchwise(results, lambda examples: near_features(examples, settings))
        if settings.mode != "off" and parts:
            features = parts[0] if len(parts) == 1 else _concat_batches(parts)
    return results, warnings, shapes, features


def decontaminate(results: list, raws: list, evals: Any, mode: str) -> list:
    """Mark each Example whose prompt contains an eval item (``contaminated``: the matches), or,
    with mode remove, reject it."""
    from pipeline.stages.dedupe.contamination import RULE, prompt_texts

    positions = [k for k, rec in enumerate(results) if "stage" not in rec]
    matches = evals.match(prompt_texts([results[k] for k in positions]))
    for k, found in zip(positions, matches, strict=True):
        if not found:
            continue
        ex = results[k]
        if mode != "remove":
            ex["contaminated"] = found
            continue
        first = found[0]
        results[k] = rejection(
            ex["source"],
            ex["line"],
            "decontaminate",
            RULE,
            f'the prompt contains "{first["ngram"]}" from the eval item {first["eval_source"]}:'
            f"{first['eval_line']}, so a model trained on it would have seen that test item; "
            "removed as --contaminated remove asks (see contaminated.jsonl)",
            raw=raws[k],
        )
        results[k].update(id=ex["id"], contaminated=found)
    return results


def near_features(examples: list[dict], settings: NearSettings) -> Any:
    """Each Example's ``dedupe_key`` (with ``--dedupe-key prompt``) and the batch's
    near-duplicate features (None when near dedupe is off)."""
    if settings.key == "prompt":
        for ex in examples:
            ex["dedupe_key"] = prompt_key(ex, prompt_messages(ex))
    if settings.mode == "off":
        return None
    return featurise_batch(examples, prompt_only=settings.key == "prompt")


def _concat_batches(parts: list) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches(parts).combine_chunks().to_batches()[0]


def assign_ids(examples: list[dict]) -> None:
    """Each Example's id (and, until near dedupe says otherwise, its cluster) for a whole batch."""
    for ex, id_ in zip(examples, example_ids(examples), strict=True):
        ex["id"] = ex["cluster"] = id_


def _batchwise(results: list, apply: Callable[[list[dict]], Any]) -> tuple[list, list]:
    """``apply`` over the Examples among ``results`` at once; should that fail, one Example at a
    time, and an Example that still fails becomes a rejection (internal.error). Returns the
    results and what each successful call of ``apply`` returned, in order."""
    try:
        return results, [apply([ex for ex in results if "stage" not in ex])]
    except Exception:  # a bug must cost the records that trigger it, not the batch
        pass
    kept, parts = [], []
    for rec in results:
        if "stage" not in rec:
            try:
                parts.append(apply([rec]))
            except Exception as exc:
                rec = _internal_error(rec["source"], rec["line"], exc)
        kept.append(rec)
    return kept, parts


def _internal_error(source: str, line: int, exc: Exception) -> dict:
    return rejection(
        source,
        line,
        "convert",
        "internal.error",
        f"ftprep could not process this record ({type(exc).__name__}: {exc}); the other records "
        "were processed. Please report it with this line.",
    )


_LIGHT_KEYS = ("id", "dedupe_key", "source", "line", "n_tokens", "over_limit", "contaminated")


@dataclass
class BatchResult:
    """One processed batch as the main process takes it: every record's outcome in input order
    (a rejection whole; for an Example only what exact dedupe and the tally read), where the
    worker put the Examples' rows (a ``RowsRef`` into a rows file of the spill; row i for the
    i-th Example outcome) and their light columns (an Arrow IPC message, cheap to pickle), where
    it put their near-duplicate features (a ``RowsRef`` likewise, row i for the i-th Example;
    None with near dedupe off), the warnings by rule and the records' shapes."""

    outcomes: list[dict]
    rows: RowsRef | None
    light: Any  # pyarrow.Buffer | None
    near: RowsRef | None
    warnings: collections.Counter
    shapes: collections.Counter

    def light_batch(self) -> Any:
        """The Examples' light columns (``Spill.LIGHT``) as a pyarrow.RecordBatch, or None."""
        if self.light is None:
            return None
        import pyarrow as pa

        return pa.ipc.read_record_batch(self.light, light_schema())


def process_batch_arrow(
    source: str, file_shape: str | None, rows_prefix: str, batch: ingest.Batch
) -> BatchResult:
    """``process_batch`` for the embedded engine: the Examples' rows appended to this process's
    rows file (``rows_prefix`` + pid) and their feature arrays, so the main process only decides
    and writes."""
    results, warnings, shapes, features = process_batch(source, file_shape, batch)
    outcomes, rows, features = arrow_rows(results, features)
    ref = light = near = None
    if rows is not None:
        ref = append_rows(Path(f"{rows_prefix}-{os.getpid()}.arrow"), rows.serialize())
        light = rows.select(Spill.LIGHT).serialize()
        if features is not None:
            near = append_rows(
                Path(f"{rows_prefix}-near-{os.getpid()}.arrow"), features.serialize()
            )
    return BatchResult(outcomes, ref, light, near, warnings, shapes)


def arrow_rows(results: list[dict], features: Any) -> tuple[list[dict], Any, Any]:
    """``process_batch``'s results as either engine hands them on: the outcomes in input order
    (a rejection whole; an Example only what exact dedupe and the tally read), the Examples' rows
    as one Arrow RecordBatch (``example_schema(with_rendered=True)``; None when there are none)
    and their features, row i for the i-th Example outcome. An Example whose values cannot be
    encoded becomes a rejection (internal.error)."""
    rows = ExampleBatch(with_rendered=True)
    outcomes = []
    taken = []  # the Examples (by position among them) that became rows
    position = 0
    for rec in results:
        if "stage" not in rec:
            try:
                rows.add(rec)
                taken.append(position)
            except Exception as exc:  # e.g. a value too deep to serialise
                rec = _internal_error(rec["source"], rec["line"], exc)
            position += 1
        outcomes.append(rec if "stage" in rec else {k: rec[k] for k in _LIGHT_KEYS if k in rec})
    if features is not None and len(taken) < position:
        import pyarrow as pa

        features = features.take(pa.array(taken, pa.int64()))
    return outcomes, rows.to_arrow() if len(rows) else None, features


def finish_example(
    ex: dict, obj: Any, profile: Profile, counter: Any, warnings: collections.Counter
) -> dict:
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
    empty = empty_reply(ex)  # the gate's row-level check, for profiles that have no rule of it
    if empty is not None:
        return rejection(source, line, "validate", empty[1], empty[2], raw=obj, pointer=empty[0])
    for issue in issues:
        warnings[issue[1]] += 1
    try:
        ex["n_tokens"], ex["n_trained_tokens"] = counter.example(ex)
    except TokenizerError as exc:  # an open model's chat template refused the row
        return rejection(source, line, "count", "count.template_error", str(exc), raw=obj)
    problem = count_issues(ex, counter, warnings)
    if problem is not None:
        return rejection(source, line, "count", problem[1], problem[3], raw=obj, pointer=problem[0])
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
    ex["rendered"] = orjson.dumps(rendered, option=orjson.OPT_APPEND_NEWLINE)  # a JSONL line
    return ex


def count_issues(ex: dict, counter: Any, warnings: collections.Counter) -> tuple | None:
    """What counting found: the reasoning tokens (``n_reasoning_tokens``), the warnings of an
    open model's template (``template_checks``), and the error that rejects the row, if any (no
    trained token)."""
    from pipeline.stages.template_checks import no_trained_issue, reasoning_tokens

    ex["n_reasoning_tokens"] = reasoning_tokens(counter, ex)
    warnings.update({issue[1] for issue in getattr(counter, "last_issues", ())})
    return no_trained_issue(ex)


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
