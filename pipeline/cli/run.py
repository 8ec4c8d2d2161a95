"""`ftprep run`: its options, the summary it prints and its exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.cli.group import (
    FORMATS,
    PathType,
    UsageProblem,
    cli,
    echo_json,
    refuse_together,
    usage_error_types,
)


@cli.command()
@click.argument("inputs", nargs=-1, type=PathType(path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=PathType(path_type=Path),
    help="TOML config (see ftprep.toml).",
)
@click.option("--out", type=PathType(path_type=Path), help="Output folder [data/processed/<name>].")
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
    type=PathType(path_type=Path, file_okay=False),
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
    type=PathType(path_type=Path),
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
    type=PathType(path_type=Path),
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

    refuse_together(
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
    except usage_error_types() as exc:
        raise UsageProblem(str(exc)) from None
    if fmt == "json":
        echo_json(result.manifest)
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
