"""The commands that check files before an upload: `validate`, `fix` and `preview`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from pipeline.cli.group import PathType, UsageProblem, cli, usage_error_types


@cli.command()
@click.argument("files", nargs=-1, type=PathType(path_type=Path))
@click.option(
    "--profile",
    required=True,
    help="Profile to validate against (see `ftprep profiles`), or auto to pick the one that fits.",
)
@click.option(
    "--validation-file",
    "validation_files",
    multiple=True,
    type=PathType(path_type=Path),
    help="A validation file (repeatable): minimums a provider states for training files only "
    "(OpenAI's 10 examples) are not checked there.",
)
@click.option("--model", help="Also check token counts against this model's per-example limit.")
@click.option(
    "--tokenizer",
    type=PathType(path_type=Path, file_okay=False),
    help="Open model folder (tokenizer.json + chat template): also check what its template "
    "does to each line (no trained token, dropped messages or reasoning, BOS twice).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github", "junit"]),
    default="text",
    show_default=True,
    help="text lines, one JSON object, GitHub workflow annotations or JUnit XML.",
)
@click.option(
    "--max-errors",
    type=click.IntRange(1),
    default=10_000,
    show_default=True,
    help="Show at most N findings, the first by file and line (all are counted; memory holds N).",
)
@click.option(
    "--secrets",
    type=click.Choice(["error", "warn", "off"]),
    default="warn",
    show_default=True,
    help="Secrets in the records (API keys, tokens, private keys, passwords in URLs): error, warn "
    "or off. For CI, error is recommended.",
)
@click.option(
    "--pii",
    type=click.Choice(["error", "warn", "off"]),
    default="warn",
    show_default=True,
    help="Personal data in the records (e-mail, phone, card, IBAN, national id, IP): error, "
    "warn or off.",
)
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
def validate(
    files, profile, validation_files, model, tokenizer, fmt, max_errors, secrets, pii, strict
) -> None:
    """Check files in a provider's format before uploading them: every finding, with its line.

    Exit 0 with no error-level finding (--strict: no warning either), 1 with any, 2 for usage or
    I/O problems (unknown profile, missing file, broken schema).

    Example:

        ftprep validate train.jsonl --validation-file valid.jsonl --profile openai-chat
    """
    from pipeline.commands.validate import RENDERERS, check_files

    if not files and not validation_files:
        raise UsageProblem(
            "no files: name the files to check (validation files with --validation-file)"
        )
    try:
        report, note = check_files(
            files, profile, validation_files, model, max_errors, (secrets, pii), tokenizer
        )
    except usage_error_types() as exc:
        raise UsageProblem(str(exc)) from None
    if note:
        click.echo(note, err=True)
    click.echo(RENDERERS[fmt](report, strict))
    sys.exit(0 if report.ok(strict) else 1)


@cli.command()
@click.argument("file", type=PathType(path_type=Path))
@click.option("--profile", required=True, help="The provider format the file is in.")
@click.option(
    "-o", "--out", type=PathType(path_type=Path), help="Write the repaired file here (whole)."
)
@click.option("--diff", is_flag=True, help="Show a unified diff of each changed line.")
@click.option(
    "--only",
    multiple=True,
    metavar="KIND,...",
    help="Apply only these kinds (opt-in ones too: merge-turns, strip-special-tokens) "
    "[the safe ones: role-alias, tool-arguments, double-encoded, legacy-markers].",
)
def fix(file, profile, out, diff, only) -> None:
    """Repair a file in a provider's format and list what could not be repaired.

    Lines no rule changes are written back byte for byte. Without -o, nothing is written and
    the diff is shown. Exit 0 when no error remains, 1 when some do, 2 for usage problems.

    Example:

        ftprep fix train.jsonl --profile openai-chat -o train.fixed.jsonl
    """
    from pipeline.commands.fix import fix_command, summary_text

    try:
        report, shown = fix_command(Path(file), profile, out, diff, only)
    except usage_error_types() as exc:
        raise UsageProblem(str(exc)) from None
    for text in shown:
        click.echo(text)
    click.echo(summary_text(report, out))
    sys.exit(1 if report.errors else 0)


@cli.command()
@click.argument("file", type=PathType(path_type=Path))
@click.option(
    "--tokenizer",
    type=PathType(path_type=Path, file_okay=False),
    help="Open model: folder with tokenizer.json + tokenizer_config.json (chat template).",
)
@click.option("--model", help="OpenAI model id: show which assistant messages carry weight.")
@click.option("--n", "n", type=click.IntRange(1), default=3, show_default=True, help="Examples.")
@click.option(
    "--html",
    "html_out",
    type=PathType(path_type=Path, dir_okay=False),
    help="Also write the view as an HTML page (self-contained, loads nothing).",
)
def preview(file, tokenizer, model, n, html_out) -> None:
    """Show exactly what a model trains on: the first examples through its chat template, token
    by token, trained tokens apart from masked ones (colour on a terminal, ⟦...⟧ when piped).

    Example:

        ftprep preview train.jsonl --tokenizer models/qwen3 --n 2 --html preview.html
    """

    from pipeline.commands.preview import preview_file

    try:
        result = preview_file(file, tokenizer, model, n)
        if html_out is not None:
            html_out.write_text(result.html(), encoding="utf-8")
    except (OSError, *usage_error_types()) as exc:
        raise UsageProblem(str(exc)) from None
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    click.echo(result.text(colour), color=colour)
