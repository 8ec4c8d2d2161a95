"""The commands about a file or a run: `count`, `leakage`, `profiles`, `gate` and `report`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.cli.group import FORMATS, PathType, UsageProblem, cli, echo_json, usage_error_types


@cli.command()
@click.argument("file", type=PathType(path_type=Path))
@click.option(
    "--model", help="OpenAI model id (snapshot, alias or ft: id) for tokenizer, limit, price."
)
@click.option(
    "--tokenizer",
    type=PathType(path_type=Path, file_okay=False),
    help="Open model: folder with tokenizer.json + tokenizer_config.json (chat template).",
)
@click.option(
    "--epochs", type=click.IntRange(1, 50), help="Epochs to price [OpenAI's default for the size]."
)
@click.option(
    "--price", type=click.FloatRange(0), help="Training price in USD per 1M tokens [price table]."
)
@click.option("--max-tokens", type=click.IntRange(1), help="Token limit per example [the model's].")
@click.option(
    "--max-seq-len",
    type=click.IntRange(1),
    help="Trainer sequence length: estimate packing, padding and truncation at it.",
)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def count(file, model, tokenizer, epochs, price, max_tokens, max_seq_len, fmt) -> None:
    """Count tokens of a training file: total, trained, billing tokens, epochs and cost.

    Billing tokens cap each example at the model's limit; without --epochs, the epochs are the
    ones OpenAI picks by default (3, kept within 100..25,000 example-epochs and 1..25 epochs).
    Prices come from a dated table (see `pipeline/profiles/prices.py`); --price overrides it.
    Given the folder of a run, counts its train.jsonl. Exit 1 when some records could not be
    read. With --max-seq-len N, also what TRL's best-fit-decreasing packing, padding and
    truncation at N tokens would do.

    Example:

        ftprep count train.jsonl --model gpt-4o-mini-2024-07-18 --format json
    """
    from pipeline.commands.count import count_file, count_target

    try:
        target, note = count_target(file)
        if note:
            click.echo(note, err=True)
        report = count_file(target, model, epochs, price, tokenizer, max_tokens, max_seq_len)
    except usage_error_types() as exc:
        raise UsageProblem(str(exc)) from None
    if fmt == "json":
        echo_json(report.as_dict())
    else:
        click.echo(report.text())
    if report.skipped:
        click.echo(
            f"ftprep count: {len(report.skipped):,} record(s) could not be read and were not "
            "counted: check the file with `ftprep validate`",
            err=True,
        )
        sys.exit(1)


@cli.command()
@click.argument("train", type=PathType(path_type=Path))
@click.argument("validation", type=PathType(path_type=Path), required=False)
@click.option(
    "--against",
    multiple=True,
    type=PathType(path_type=Path),
    metavar="EVAL",
    help="An eval or benchmark file (repeatable): list the records whose prompt contains one of "
    "its items (a shared 13-word run, or all of a shorter item).",
)
@click.option(
    "--near-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.8,
    show_default=True,
    help="Similarity (exact Jaccard of the prompt and of the response, boilerplate left out) at "
    "which two records are near copies.",
)
@click.option(
    "--dedupe-key", type=click.Choice(["full", "prompt"]), default="full", show_default=True
)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def leakage(train, validation, against, near_threshold, dedupe_key, fmt) -> None:
    """Find duplicates across a train and a validation file, and eval items in the training data.

    Reads any shape ftprep reads. Prints each pair with both lines and the similarity, and each
    record that contains an eval item (--against) with the item. Exit 0 when there is none, 1
    when there is any, 2 for usage or I/O problems.

    Example:

        ftprep leakage train.jsonl validation.jsonl --against gsm8k_test.jsonl --format json
    """
    from pipeline.commands.leakage import find_leakage, require_records

    if validation is None and not against:
        raise UsageProblem("give a VALIDATION file to compare with, or --against EVAL, or both")
    try:
        report = find_leakage(
            train, validation, near_threshold, dedupe_key, against=list(against) or None
        )
        require_records(report)
    except usage_error_types() as exc:
        raise UsageProblem(str(exc)) from None
    if fmt == "json":
        echo_json(report.as_dict())
    else:
        click.echo(report.text())
    sys.exit(0 if report.ok else 1)


@cli.command()
def profiles() -> None:
    """List the profiles and models with their limits and the source of each number.

    Example:

        ftprep profiles
    """
    from pipeline.commands.profiles import profiles_table

    click.echo(profiles_table())


@cli.command()
@click.argument("run_dir", metavar="DIR", type=PathType(path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=PathType(path_type=Path),
    help="TOML config whose [gate] table sets the thresholds (see ftprep.toml).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit"]),
    default="text",
    show_default=True,
)
def gate(run_dir, config_path, fmt) -> None:
    """Check a run's artifacts with a Great Expectations suite; Data Docs go to DIR/quality/.

    The suite comes from the run's profile, model and the [gate] thresholds. Exit 0 when every
    expectation passes, 1 when any fails (each is named with its observed value and failing
    rows), 2 when DIR is not a run.

    Example:

        ftprep gate data/processed/sample --config ftprep.toml --format junit > gate.xml
    """
    from pipeline.commands.gate import gate_settings, run_gate
    from pipeline.commands.gate_report import render_json, render_junit, render_text
    from pipeline.commands.usage import gate_errors

    try:
        result = run_gate(run_dir, gate_settings(config_path))
    except gate_errors() as exc:
        raise UsageProblem(str(exc)) from None
    render = {"text": render_text, "json": render_json, "junit": render_junit}[fmt]
    click.echo(render(result))
    sys.exit(0 if result.ok else 1)


@cli.command()
@click.argument("run_dir", metavar="DIR", type=PathType(path_type=Path))
def report(run_dir) -> None:
    """Rebuild DIR/report.html, one self-contained page about a run, from its artifacts.

    The page shows where every record went, rejections with samples, token lengths against the
    model's limit, cost, turns and roles, duplicates and conflicts side by side, leakage and
    contamination, the verdict, the gate's verdict (when `ftprep gate DIR` has run), settings
    and hashes. It fetches nothing from the network. Exit 0, or 2 when DIR is not a run.

    Example:

        ftprep report data/processed/sample
    """
    from pipeline.commands.report import rebuild_report
    from pipeline.commands.usage import gate_errors

    try:
        entry = rebuild_report(run_dir)
    except gate_errors() as exc:
        raise UsageProblem(str(exc)) from None
    click.echo(f"{run_dir / entry['path']} ({entry['bytes']:,} bytes)")
