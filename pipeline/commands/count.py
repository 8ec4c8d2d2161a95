"""``ftprep count``: tokens, trained tokens, billing tokens, epochs and cost of a training file.

Reads FILE with the same ingest and convert stages as a run (so any input shape works), counts
every Example with the model's tokenizer (tokens.Counter, or hf_tokens.HFCounter for
``--tokenizer``) in the run's worker pool, on all cores, and sums up. Records that cannot be read
or converted are listed as skipped, not counted. The billing and epoch rules are those of OpenAI's
data-preparation cookbook (reference/providers.md §1.8, S1): each example is billed up to the
model's per-example limit, and without ``--epochs`` OpenAI trains for 3 epochs, raised so that
examples x epochs reaches 100 or lowered so that it stays under 25,000, within 1 to 25 epochs.
"""

from __future__ import annotations

import collections
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import ConvertOptions
from pipeline.profiles.prices import default_epochs
from pipeline.stages.tokens import TokenizerError


def quantile(sorted_values: Sequence[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not len(sorted_values):
        return 0.0
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    low, high = int(sorted_values[lo]), int(sorted_values[hi])
    return low + (high - low) * (pos - lo)


def distribution(values: Sequence[int]) -> dict[str, float | int]:
    import numpy as np

    ordered = np.sort(np.asarray(values, dtype=np.int64))  # not a list of Python ints
    if not len(ordered):
        return {"min": 0, "p5": 0, "p50": 0, "p95": 0, "max": 0, "mean": 0}
    return {
        "min": int(ordered[0]),
        "p5": round(quantile(ordered, 0.05), 1),
        "p50": round(quantile(ordered, 0.5), 1),
        "p95": round(quantile(ordered, 0.95), 1),
        "max": int(ordered[-1]),
        "mean": round(int(ordered.sum()) / len(ordered), 1),
    }


@dataclass
class CountReport:
    model: str
    encoding: str
    limit: int | None
    limit_source: str
    epochs: int
    epochs_default: bool
    price: float | None
    price_note: str
    examples: int = 0
    total_tokens: int = 0
    trained_tokens: int = 0
    billing_tokens: int = 0
    lengths: array = field(default_factory=lambda: array("q"))  # tokens per example, 8 bytes each
    over_limit: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    packing: dict | None = None  # with --max-seq-len: stages/packing.py

    @property
    def estimated_cost_usd(self) -> float | None:
        if self.price is None:
            return None
        return round(self.billing_tokens * self.epochs * self.price / 1_000_000, 4)

    def as_dict(self) -> dict[str, Any]:
        """The ``--format json`` object (keys as documented in the README)."""
        return {
            "model": self.model,
            "encoding": self.encoding,
            "examples": self.examples,
            "total_tokens": self.total_tokens,
            "trained_tokens": self.trained_tokens,
            "billing_tokens": self.billing_tokens,
            "epochs": self.epochs,
            "estimated_cost_usd": self.estimated_cost_usd,
            "over_limit": self.over_limit,
            "distribution": distribution(self.lengths),
            **({"packing": self.packing} if self.packing else {}),
        }

    def text(self) -> str:
        d = distribution(self.lengths)
        limit = f"{self.limit:,}" if self.limit else "none known"
        why = "OpenAI's default for this many examples" if self.epochs_default else "--epochs"
        cost = self.estimated_cost_usd
        lines = [
            f"model             {self.model} ({self.encoding})",
            f"examples          {self.examples:,}",
            f"total tokens      {self.total_tokens:,}",
            f"trained tokens    {self.trained_tokens:,}",
            f"billing tokens    {self.billing_tokens:,} (each example capped at {limit}; {self.limit_source})",
            f"epochs            {self.epochs} ({why})",
            "estimated cost    "
            + (
                f"${cost:,.2f} = {self.billing_tokens:,} x {self.epochs} x ${self.price:g} per 1M ({self.price_note})"
                if cost is not None
                else f"unknown ({self.price_note})"
            ),
            f"tokens/example    min {d['min']:,}, p5 {d['p5']:,}, p50 {d['p50']:,}, "
            f"p95 {d['p95']:,}, max {d['max']:,}, mean {d['mean']:,}",
            f"over the limit    {len(self.over_limit):,} example(s)",
        ]
        if self.packing:
            from pipeline.stages.packing import packing_lines

            lines += packing_lines(self.packing)
        for o in self.over_limit[:20]:
            lines.append(f"  {o['file']}:{o['line']}: {o['tokens']:,} tokens")
        if len(self.over_limit) > 20:
            lines.append(f"  ... and {len(self.over_limit) - 20:,} more (--format json lists all)")
        if self.skipped:
            lines.append(
                f"skipped           {len(self.skipped):,} record(s) that could not be read"
            )
            for s in self.skipped[:10]:
                lines.append(f"  {s['source']}:{s['line']}: {s['message']} [{s['rule']}]")
        return "\n".join(lines)


def _pricing(model: str, price: float | None, tokenizer: bool) -> tuple[float | None, str]:
    if price is not None:
        return price, "--price"
    if tokenizer:
        return None, "open model: give --price USD_PER_1M"
    from pipeline.profiles.prices import training_price

    known = training_price(model)
    if known is None:
        return None, f"no price on record for {model}: give --price USD_PER_1M"
    status = "confirmed" if known.confirmed else "UNCONFIRMED"
    return known.usd_per_1m, f"{status} price of {known.date} for {known.model}, {known.source}"


def count_target(path: Path) -> tuple[Path, str | None]:
    """The file ``ftprep count`` counts for ``path``, and a note when it is another: given the
    folder of a run, its train.jsonl (the file that is trained and billed)."""
    from pipeline.stages.ingest import InputError

    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_dir() and (path / "manifest.json").is_file():  # a run's folder: its training file
        if not (path / "train.jsonl").is_file():
            raise InputError(f"{path} is an ftprep run with no train.jsonl: nothing to count")
        note = (
            f"ftprep count: {path} is an ftprep run: counting its train.jsonl, the file that is "
            "trained and billed (name validation.jsonl to count it too)"
        )
        return path / "train.jsonl", note
    return path, None


def count_file(
    path: Path,
    model: str | None = None,
    epochs: int | None = None,
    price: float | None = None,
    tokenizer: Path | None = None,
    max_tokens: int | None = None,
    max_seq_len: int | None = None,
) -> CountReport:
    """Count every Example of a file (or folder) for a model; see the module docstring."""
    from dataclasses import replace

    from pipeline.profiles.models import ModelInfo, model_info
    from pipeline.stages import ingest

    if tokenizer is not None:
        from pipeline.stages.hf_tokens import HFCounter

        counter: Any = HFCounter(tokenizer)
        info = ModelInfo(
            model or Path(tokenizer).name,
            counter.name,
            counter.tok.max_tokens,
            "model_max_length in tokenizer_config.json",
            provider="open",
        )
    else:
        if not model:
            raise ingest.InputError("give --model M (an OpenAI model id) or --tokenizer PATH")
        info = model_info(model)
    if max_tokens:
        info = replace(info, max_tokens=max_tokens, source="--max-tokens")
    sources = ingest.discover(path, str(path))
    if not sources:
        raise ingest.InputError(f"{path}: no JSONL, JSON, CSV or Parquet file found")
    rate, note = _pricing(info.name, price, tokenizer is not None)
    report = CountReport(
        info.name,
        info.encoding,
        info.max_tokens,
        info.source,
        epochs or 0,
        epochs is None,
        rate,
        note,
    )
    runner = _runner(sources, info, tokenizer)
    try:
        for src in sources:
            _count_source(src, report, info, runner)
    finally:
        runner.close()
    if epochs is None:
        report.epochs = default_epochs(report.examples)
    if max_seq_len:
        from pipeline.stages.packing import PackingEstimate

        estimate = PackingEstimate(max_seq_len)
        for n in report.lengths:  # in file order, as a trainer reads them
            estimate.add(n)
        report.packing = estimate.result()
    return report


def _runner(sources: list, info: Any, tokenizer: Path | None) -> Any:
    """The engine's worker pool (in this process for small inputs), set up to count."""
    from pipeline.engines.runner import Runner, pool_size

    workers = pool_size(sources, None)
    initargs = (
        "openai-chat", info.encoding, ConvertOptions(), info.max_tokens, "flag",
        str(tokenizer) if tokenizer else None, None,
    )  # fmt: skip
    return Runner(workers, initargs)  # in this process, it sets the worker state up


def _count_source(src: Any, report: CountReport, info: Any, runner: Any) -> None:
    """Count one input into ``report``. Its shape is guessed from the first batch and confirmed by
    every record's shape; a wrong guess is counted again with the shape of the whole file."""
    import itertools

    from pipeline.engines.workers import guess_shape
    from pipeline.stages import convert, ingest

    known = None
    while True:
        batches = ingest.read_batches(src, 256)
        first = next(batches, [])
        guess = (
            known
            if known is not None
            else guess_shape(src.name, ingest.batch_items(first), ConvertOptions())
        )
        part = CountReport("", "", None, "", 0, False, None, "")
        shapes: collections.Counter = collections.Counter()
        chain = itertools.chain([first] if first else [], batches)
        for outcomes, batch_shapes in runner.map(count_batch, chain, src.name, guess):
            shapes.update(batch_shapes)
            for outcome in outcomes:
                if isinstance(outcome, dict):
                    part.skipped.append(outcome)
                    continue
                line, n, trained = outcome
                part.examples += 1
                part.total_tokens += n
                part.trained_tokens += trained
                part.billing_tokens += min(n, info.max_tokens) if info.max_tokens else n
                part.lengths.append(n)
                if info.max_tokens and n > info.max_tokens:
                    part.over_limit.append({"file": src.name, "line": line, "tokens": n})
        shape = convert.choose_file_shape(shapes)[0]
        if shape == guess:
            break
        known = shape
    report.examples += part.examples
    report.total_tokens += part.total_tokens
    report.trained_tokens += part.trained_tokens
    report.billing_tokens += part.billing_tokens
    report.lengths.extend(part.lengths)
    report.over_limit.extend(part.over_limit)
    report.skipped.extend(part.skipped)


def count_batch(
    source: str, file_shape: str | None, batch: Any
) -> tuple[list, collections.Counter]:
    """Worker side: (line, tokens, trained tokens) per Example, or the record's rejection, in
    input order; and the count of each record shape."""
    from pipeline.engines.workers import STATE, convert_items

    counter = STATE["counter"]
    counter.new_batch()
    shapes: collections.Counter = collections.Counter()
    outcomes: list = []
    for _, ex in convert_items(source, file_shape, batch, shapes):
        line = ex["line"]
        if "stage" in ex:
            outcomes.append(ex)
            continue
        try:
            n, trained = counter.example(ex)
        except TokenizerError as exc:  # an open model's template refused the row
            outcomes.append(
                {
                    "source": source,
                    "line": line,
                    "rule": "count.template_error",
                    "message": str(exc),
                }
            )
            continue
        outcomes.append((line, n, trained))
    return outcomes, shapes
