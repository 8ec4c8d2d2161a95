"""The ftprep command line: thin click commands over the library."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from pipeline import __version__

FORMATS = click.Choice(["text", "json"])


class UsageProblem(click.ClickException):
    """A usage or I/O problem: one clear line, exit 2, no artifacts."""

    exit_code = 2


class _Path(click.Path):
    """A path argument that refuses an empty string, which would otherwise mean the current
    folder (an unset shell variable in ``ftprep run "$DATA"`` must not read everything here)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("is empty: name a file or folder", param, ctx)
        return super().convert(value, param, ctx)


def _usage_errors():
    from pipeline.commands.usage import usage_errors

    return usage_errors()


def debug() -> bool:
    """FTPREP_DEBUG=1 (or true, yes, on) shows tracebacks; unset, empty, 0, false, no or off
    does not."""
    value = os.environ.get("FTPREP_DEBUG", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


class _Group(click.Group):
    """The command group: Ctrl-C ends a command with exit 130 and one line (click's own
    "Aborted!" exits 1, which CI would take for a data failure). A run that is interrupted
    removes its staging folder, so the previous artifacts stay whole."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo(
                "ftprep: interrupted; nothing was replaced (an output folder keeps its previous "
                "artifacts)",
                err=True,
            )
            ctx.exit(INTERRUPTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ftprep")
def cli() -> None:
    """Turn raw example data into fine-tuning files a provider will accept, and prove it."""


@cli.command()
@click.argument("inputs", nargs=-1, type=_Path(path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=_Path(path_type=Path),
    help="TOML config (see ftprep.toml).",
)
@click.option("--out", type=_Path(path_type=Path), help="Output folder [data/processed/<name>].")
@click.option("--profile", help="Target profile [openai-chat].")
@click.option("--model", help="Target model, for tokens and limits [the profile's default].")
@click.option(
    "--val-ratio",
    type=click.FloatRange(0, 1, max_open=True),
    help="Share of clusters for validation [0.1].",
)
@click.option(
    "--val-size",
    type=click.IntRange(0),
    help="Exact number of validation clusters (instead of a ratio).",
)
@click.option("--seed", type=int, help="Seed of the split hash [0].")
@click.option("--system-prompt", help="System message added where an example has none.")
@click.option(
    "--trl-layout",
    type=click.Choice(["messages", "prompt-completion"]),
    help="trl-sft rows: messages (TRL trains what assistant_only_loss selects) [default] or "
    "prompt-completion (TRL trains the completion only).",
)
@click.option(
    "--max-rejected-share",
    type=click.FloatRange(0, 1),
    help="Exit 1 when more than this share of records is rejected.",
)
@click.option(
    "--workers", type=click.IntRange(1), help="Worker processes [all cores; 1 for small inputs]."
)
@click.option(
    "--format", "fmt", type=FORMATS, default="text", show_default=True, help="Summary format."
)
@click.option(
    "--length-policy",
    type=click.Choice(["flag", "drop", "truncate"]),
    help="Examples over the model's token limit: flag (keep, warn) [default], drop "
    "(rejected.jsonl, rule length.over_limit) or truncate (keep the start).",
)
@click.option("--max-tokens", type=click.IntRange(1), help="Token limit per example [the model's].")
@click.option(
    "--max-seq-len",
    type=click.IntRange(1),
    help="Trainer sequence length: estimate packing, padding and truncation of each split at it.",
)
@click.option(
    "--tokenizer",
    type=_Path(path_type=Path, file_okay=False),
    help="Folder with tokenizer.json + tokenizer_config.json: count with an open model's "
    "tokenizer and chat template instead of tiktoken.",
)
@click.option(
    "--near-dupes",
    type=click.Choice(["remove", "flag", "off"]),
    help="Near copies: remove (duplicates.jsonl) [default], flag (keep, same split) or off.",
)
@click.option(
    "--near-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    help="Similarity (exact Jaccard of the prompt and of the response, boilerplate left out) at "
    "which two examples are near copies [0.8].",
)
@click.option(
    "--keep",
    type=click.Choice(["first", "longest"]),
    help="Which copy a cluster keeps: the first in input order [default] or the longest.",
)
@click.option(
    "--dedupe-key",
    type=click.Choice(["full", "prompt"]),
    help="Dedupe on the whole example [full] or on the prompt alone.",
)
@click.option(
    "--conflicts",
    type=click.Choice(["keep", "first", "drop"]),
    help="Examples that ask the same with another answer (conflicts.jsonl): keep all [default], "
    "keep the first (the others to duplicates.jsonl) or drop all (rejected.jsonl).",
)
@click.option(
    "--max-duplicate-share",
    type=click.FloatRange(0, 1),
    help="Exit 1 when more than this share of records is removed as duplicates.",
)
@click.option(
    "--decontaminate",
    "eval_sets",
    multiple=True,
    type=_Path(path_type=Path),
    metavar="EVAL",
    help="An eval or benchmark file (any shape ftprep reads; repeatable): training examples whose "
    "prompt contains one of its items (a shared 13-word run) go to contaminated.jsonl.",
)
@click.option(
    "--contaminated",
    type=click.Choice(["report", "remove"]),
    help="What becomes of them: report (kept) [default] or remove (rejected.jsonl).",
)
@click.option(
    "--secrets",
    type=click.Choice(["error", "warn", "redact", "off"]),
    help="Secrets found in the records (API keys, tokens, private keys, passwords in URLs): "
    "error (rejected), warn [default], redact (replaced with a placeholder such as "
    "<AWS_ACCESS_KEY>) or off. For CI, error is recommended.",
)
@click.option(
    "--pii",
    type=click.Choice(["error", "warn", "redact", "off"]),
    help="Personal data found in the records (e-mail, phone, card, IBAN, national id, IP): "
    "error, warn [default], redact (replaced with <EMAIL>, <PHONE>...) or off.",
)
@click.option(
    "--stratify-by",
    metavar="FIELD",
    help="Keep each stratum's validation share: a meta field (e.g. category) or 'source'.",
)
@click.option(
    "--engine",
    type=click.Choice(["embedded", "ray"]),
    default="embedded",
    show_default=True,
    help="embedded: this machine's cores; ray: Ray Data (local, or the cluster at RAY_ADDRESS; "
    "needs pip install 'ftprep[ray]').",
)
@click.option(
    "--cache-dir",
    type=_Path(path_type=Path),
    help="Where per-input stage results are cached [$FTPREP_CACHE_DIR or ~/.cache/ftprep/stages].",
)
@click.option("--no-cache", is_flag=True, help="Recompute every stage; read and write no cache.")
@click.option(
    "--map",
    "map_",
    multiple=True,
    metavar="FIELD=COLUMN,...",
    help="Read columns as canonical fields, e.g. --map instruction=question,output=std_answer "
    "(over the config's [convert.mapping]).",
)
@click.option(
    "--fix",
    "fix",
    multiple=True,
    metavar="KIND,...",
    help="Repairs that change content, on request: merge-turns, strip-special-tokens (the safe "
    "ones always run and are counted in the summary).",
)
@click.option("--no-report", is_flag=True, help="Write no report.html.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def run(
    inputs,
    config_path,
    out,
    profile,
    model,
    val_ratio,
    val_size,
    seed,
    system_prompt,
    trl_layout,
    max_rejected_share,
    workers,
    length_policy,
    max_tokens,
    max_seq_len,
    tokenizer,
    near_dupes,
    near_threshold,
    keep,
    dedupe_key,
    conflicts,
    max_duplicate_share,
    eval_sets,
    contaminated,
    secrets,
    pii,
    stratify_by,
    fmt,
    engine,
    cache_dir,
    no_cache,
    map_,
    fix,
    no_report,
    quiet,
) -> None:
    """Run the pipeline: ingest, convert, validate, count, dedupe, split, write.

    Exit 0 when the run completes (rejected records are reported), 1 when
    --max-rejected-share or --max-duplicate-share is exceeded (artifacts are still written), 2
    for usage or I/O problems.

    Example:

        ftprep run data/raw --out data/processed/sample --profile openai-chat --model gpt-4o-mini-2024-07-18
    """
    from pipeline.commands.run import (
        execute,
        parse_map,
        run_config,
        summary_text,
        threshold_failures,
        verdict_lines,
    )

    _refuse_together(
        ("--val-ratio", val_ratio, "--val-size", val_size, "give a share or an exact count"),
        ("--no-cache", no_cache or None, "--cache-dir", cache_dir, "drop one of them"),
        (
            "--engine ray",
            engine == "ray" or None,
            "--cache-dir",
            cache_dir,
            "the stage cache is not used with --engine ray: drop --cache-dir",
        ),
    )
    given = {
        "inputs": [Path(p) for p in inputs] or None,
        "out": out,
        "profile": profile,
        "model": model,
        "val_ratio": val_ratio,
        "val_size": val_size,
        "seed": seed,
        "system_prompt": system_prompt,
        "trl_layout": trl_layout,
        "max_rejected_share": max_rejected_share,
        "workers": workers,
        "near_dupes": near_dupes,
        "near_threshold": near_threshold,
        "keep": keep,
        "dedupe_key": dedupe_key,
        "conflicts": conflicts,
        "max_duplicate_share": max_duplicate_share,
        "decontaminate": [Path(p) for p in eval_sets] or None,
        "contaminated": contaminated,
        "secrets": secrets,
        "pii": pii,
        "stratify_by": stratify_by,
        "length_policy": length_policy,
        "max_tokens": max_tokens,
        "max_seq_len": max_seq_len,
        "tokenizer": str(tokenizer) if tokenizer else None,
        "cache_dir": cache_dir,
        "use_cache": False if no_cache else None,
        "fix": [k for value in fix for k in value.split(",")] or None,
        "report": False if no_report else None,
    }
    try:
        given["mapping"] = parse_map(map_)
        config = run_config(config_path, given, val_ratio, val_size)
        result = execute(config, engine, quiet)
    except _usage_errors() as exc:
        raise UsageProblem(str(exc)) from None
    if fmt == "json":
        _echo_json(result.manifest)
    elif not quiet:
        click.echo(summary_text(result, config))
    failed = False
    verdict = result.manifest.get("verdict") or {"ok": True}
    if not verdict["ok"]:
        if quiet or fmt == "json":
            for text in verdict_lines(result.manifest):
                click.echo(text.strip(), err=True)
        failed = True
    for message in threshold_failures(result, config):
        click.echo(message, err=True)
        failed = True
    if failed:
        sys.exit(1)


def _refuse_together(*pairs: tuple) -> None:
    """Flags that contradict each other are a usage problem naming both, never a silent pick."""
    for first, a, second, b, what in pairs:
        if a is not None and b is not None:
            raise UsageProblem(f"{first} and {second} were both given: {what}")


def _echo_json(value) -> None:
    import orjson

    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@cli.command()
@click.argument("files", nargs=-1, type=_Path(path_type=Path))
@click.option(
    "--profile",
    required=True,
    help="Profile to validate against (see `ftprep profiles`), or auto to pick the one that fits.",
)
@click.option(
    "--validation-file",
    "validation_files",
    multiple=True,
    type=_Path(path_type=Path),
    help="A validation file (repeatable): minimums a provider states for training files only "
    "(OpenAI's 10 examples) are not checked there.",
)
@click.option("--model", help="Also check token counts against this model's per-example limit.")
@click.option(
    "--tokenizer",
    type=_Path(path_type=Path, file_okay=False),
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
    except _usage_errors() as exc:
        raise UsageProblem(str(exc)) from None
    if note:
        click.echo(note, err=True)
    click.echo(RENDERERS[fmt](report, strict))
    sys.exit(0 if report.ok(strict) else 1)


@cli.command()
@click.argument("file", type=_Path(path_type=Path))
@click.option("--profile", required=True, help="The provider format the file is in.")
@click.option(
    "-o", "--out", type=_Path(path_type=Path), help="Write the repaired file here (whole)."
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
    except _usage_errors() as exc:
        raise UsageProblem(str(exc)) from None
    for text in shown:
        click.echo(text)
    click.echo(summary_text(report, out))
    sys.exit(1 if report.errors else 0)


@cli.command()
@click.argument("file", type=_Path(path_type=Path))
@click.option(
    "--tokenizer",
    type=_Path(path_type=Path, file_okay=False),
    help="Open model: folder with tokenizer.json + tokenizer_config.json (chat template).",
)
@click.option("--model", help="OpenAI model id: show which assistant messages carry weight.")
@click.option("--n", "n", type=click.IntRange(1), default=3, show_default=True, help="Examples.")
@click.option(
    "--html",
    "html_out",
    type=_Path(path_type=Path, dir_okay=False),
    help="Also write the view as an HTML page (self-contained, loads nothing).",
)
def preview(file, tokenizer, model, n, html_out) -> None:
    """Show exactly what a model trains on: the first examples through its chat template, token
    by token, trained tokens apart from masked ones (colour on a terminal, ⟦...⟧ when piped).

    Example:

        ftprep preview train.jsonl --tokenizer models/qwen3 --n 2 --html preview.html
    """
    import os

    from pipeline.commands.preview import preview_file

    try:
        result = preview_file(file, tokenizer, model, n)
        if html_out is not None:
            html_out.write_text(result.html(), encoding="utf-8")
    except (OSError, *_usage_errors()) as exc:
        raise UsageProblem(str(exc)) from None
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    click.echo(result.text(colour), color=colour)


@cli.command()
@click.argument("file", type=_Path(path_type=Path))
@click.option(
    "--model", help="OpenAI model id (snapshot, alias or ft: id) for tokenizer, limit, price."
)
@click.option(
    "--tokenizer",
    type=_Path(path_type=Path, file_okay=False),
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
    except _usage_errors() as exc:
        raise UsageProblem(str(exc)) from None
    if fmt == "json":
        _echo_json(report.as_dict())
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
@click.argument("train", type=_Path(path_type=Path))
@click.argument("validation", type=_Path(path_type=Path), required=False)
@click.option(
    "--against",
    multiple=True,
    type=_Path(path_type=Path),
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
    except _usage_errors() as exc:
        raise UsageProblem(str(exc)) from None
    if fmt == "json":
        _echo_json(report.as_dict())
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
@click.argument("run_dir", metavar="DIR", type=_Path(path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=_Path(path_type=Path),
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
@click.argument("run_dir", metavar="DIR", type=_Path(path_type=Path))
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


def main() -> None:
    """The console script: an I/O error the commands did not foresee (a full disk, a folder that
    cannot be written) is one line and exit 2, and a bug is one line and exit 3, never a
    traceback (``FTPREP_DEBUG=1`` shows it)."""
    try:
        cli()
    except OSError as exc:
        if debug():
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"Error: {where}{exc.strerror or exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - a bug must not end in a traceback
        if debug():
            raise
        click.echo(
            f"Error: ftprep stopped on an internal error ({type(exc).__name__}: {exc}). Please "
            "report it with the command; FTPREP_DEBUG=1 shows the traceback.",
            err=True,
        )
        sys.exit(3)
