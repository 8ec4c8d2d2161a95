"""The report's page: the manifest, the aggregates and the samples as one HTML document.

``view`` gathers what each section shows (plain values: numbers, strings, lists); the template
``report.html.j2`` lays it out. The template is rendered by Jinja2 with autoescaping on, so every
value, whatever record it came from, is HTML-escaped; only the SVG that ``charts`` drew is
inserted as markup. The page carries a Content-Security-Policy that allows no script and no
fetch, inline styles and ``data:`` images only.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pipeline.stages.report.aggregate import MAX_TURNS, Aggregates
from pipeline.stages.report.samples import Samples, cut

REJECTING_STAGES = ("ingest", "convert", "validate", "count", "decontaminate", "dedupe")
# not listed: where the folder is (the same run written elsewhere gives the same page), and the
# profile and model as given (the ones resolved are listed first)
HIDDEN_SETTINGS = ("out", "profile", "model")
STAGE_ORDER = ("ingest", "convert", "validate", "count", "decontaminate", "dedupe", "split")
MAX_FILES_LISTED = 200


def funnel_rows(manifest: dict[str, Any], samples: Samples) -> list[dict[str, Any]]:
    """Per input file: records, rejected per stage, duplicates, train and validation."""
    rows = []
    for entry in manifest.get("inputs", []):
        name = entry.get("path", "")
        by_stage = {s: samples.rejected_by_file_stage.get((name, s), 0) for s in REJECTING_STAGES}
        rows.append(
            {
                "name": name,
                "format": entry.get("format") or "",
                "shape": entry.get("shape") or "",
                "records": entry.get("records", 0),
                "rejected": entry.get("rejected", 0),
                "by_stage": by_stage,
                "duplicates": entry.get("duplicates", 0),
                "train": entry.get("train", 0),
                "validation": entry.get("validation", 0),
                "notes": entry.get("shape_notes") or [],
            }
        )
    return rows


def cost(manifest: dict[str, Any], aggregates: Aggregates) -> dict[str, Any]:
    """The training cost estimate: billing tokens (each example capped at the limit) x OpenAI's
    default epochs x the price on record, marked unconfirmed where the price is."""
    from pipeline.profiles.prices import default_epochs, training_price

    train = aggregates.lengths["train"]
    epochs = default_epochs(train.examples)
    price = training_price(str(manifest.get("model") or ""))
    estimate = {
        "billing_tokens": train.billing,
        "epochs": epochs,
        "examples": train.examples,
        "price": None,
        "usd": None,
        "note": f"no price on record for {manifest.get('model')}: `ftprep count train.jsonl "
        "--price USD_PER_1M` prices it",
    }
    if price is not None:
        estimate.update(
            price=price.usd_per_1m,
            usd=round(train.billing * epochs * price.usd_per_1m / 1_000_000, 2),
            confirmed=price.confirmed,
            note=f"price of {price.date} for {price.model}: {price.source}",
        )
    return estimate


def settings(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's settings as (name, value) text, by name."""
    import orjson

    out = [("profile", str(manifest.get("profile"))), ("model", str(manifest.get("model")))]
    for key, value in sorted((manifest.get("config") or {}).items()):
        if key in HIDDEN_SETTINGS:
            continue
        shown = value if isinstance(value, str) else orjson.dumps(value).decode()
        out.append((key, shown))
    return out


def gate_view(run_dir: Path) -> dict[str, Any] | None:
    """The gate's result in ``run_dir/quality/result.json``, when the gate has run."""
    import orjson

    path = run_dir / "quality" / "result.json"
    try:
        result = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    expectations = [
        {
            "name": e.get("name"),
            "severity": e.get("severity"),
            "success": bool(e.get("success")),
            "description": e.get("description") or "",
            "observed": _observed(e.get("observed")),
        }
        for e in result.get("expectations", [])
    ]
    return {
        "ok": bool(result.get("ok")),
        "failed": result.get("failed") or [],
        "warnings": result.get("warnings") or [],
        "notes": result.get("notes") or [],
        "expectations": expectations,
        "docs": (run_dir / "quality" / "index.html").exists(),
    }


def _observed(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return cut(value, 160)


def view(
    run_dir: Path,
    manifest: dict[str, Any],
    aggregates: Aggregates,
    samples: Samples,
    charts: dict[str, str],
) -> dict[str, Any]:
    counts = manifest.get("counts", {})
    tokenizer = manifest.get("tokenizer") or {}
    files = funnel_rows(manifest, samples)
    dedupe = manifest.get("dedupe") or {}
    largest = []
    for cluster in dedupe.get("largest_clusters") or []:
        key = cluster.get("duplicate_of")
        largest.append(
            {
                **cluster,
                "kept": aggregates.rows.get(key),
                "copies_shown": samples.cluster_copies.get(key, []),
            }
        )
    return {
        "title": f"ftprep report: {manifest.get('profile')}, {manifest.get('model')}",
        "manifest": manifest,
        "counts": counts,
        "stages": _in_order(manifest.get("stages") or {}),
        "files": files[:MAX_FILES_LISTED],
        "files_more": max(0, len(files) - MAX_FILES_LISTED),
        "rejecting_stages": [s for s in REJECTING_STAGES if any(f["by_stage"][s] for f in files)],
        "rules": sorted(samples.rules.values(), key=lambda r: (-r.count, r.rule)),
        "warnings_by_rule": manifest.get("warnings_by_rule") or {},
        "lengths": aggregates.lengths,
        "distributions": {s: a.distribution() for s, a in aggregates.lengths.items()},
        "limit": tokenizer.get("max_tokens_per_example"),
        "tokenizer": tokenizer,
        "length": manifest.get("length") or {},
        "tokens": manifest.get("tokens") or {},
        "cost": cost(manifest, aggregates),
        "shapes": aggregates.shapes,
        "max_turns": MAX_TURNS,
        "roles": _merged(a.roles for a in aggregates.shapes.values()),
        "kinds": _merged(a.kinds for a in aggregates.shapes.values()),
        "dedupe": dedupe,
        "duplicate_kinds": dict(samples.duplicate_kinds),
        "largest": largest,
        "near": [{**d, "kept": aggregates.rows.get(d.get("duplicate_of"))} for d in samples.near],
        "conflicts": [
            {
                **c,
                "kept": aggregates.rows.get(c.get("conflicts_with")),
                "this": aggregates.rows.get(c.get("id")),
            }
            for c in samples.conflicts
        ],
        "conflict_lines": samples.conflict_lines,
        "leaked_ids": aggregates.leaked_ids,
        "leaked_clusters": aggregates.leaked_clusters,
        "contamination": manifest.get("contamination"),
        "contaminated": [
            {**c, "example": aggregates.rows.get(c.get("id"))} for c in samples.contaminated
        ],
        "contaminated_lines": samples.contaminated_lines,
        "verdict": manifest.get("verdict"),
        "file_findings": manifest.get("file_findings") or {"count": 0, "first": []},
        "split": manifest.get("split") or {},
        "gate": gate_view(run_dir),
        "settings": settings(manifest),
        "inputs": manifest.get("inputs", [])[:MAX_FILES_LISTED],
        "outputs": [o for o in manifest.get("outputs", []) if o.get("path") != "report.html"],
        "versions": {  # the engine that ran the stages shapes no artifact, so it is not shown
            k: v for k, v in sorted((manifest.get("versions") or {}).items()) if k != "ray"
        },
        "skipped_files": manifest.get("skipped_files") or [],
        "charts": charts,
    }


def _in_order(stages: dict[str, Any]) -> dict[str, Any]:
    """The stages in the order data flows through them (the manifest sorts its keys)."""
    rank = {name: i for i, name in enumerate(STAGE_ORDER)}
    return dict(sorted(stages.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def _merged(counters) -> list[tuple[str, int]]:
    total: dict[str, int] = {}
    for counter in counters:
        for key, n in counter.items():
            total[key] = total.get(key, 0) + n
    return sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))


@functools.lru_cache(maxsize=1)
def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,
        undefined=jinja2.Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["n"] = lambda v: f"{v:,}" if isinstance(v, int) else ("" if v is None else v)
    env.filters["share"] = lambda part, whole: f"{part / whole:.1%}" if whole else "0%"
    return env.get_template("report.html.j2")


def render(context: dict[str, Any]) -> str:
    from markupsafe import Markup

    context = dict(context)
    context["charts"] = {k: Markup(v) for k, v in context["charts"].items()}  # drawn by matplotlib
    return _template().render(**context)
