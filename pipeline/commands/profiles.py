"""``ftprep profiles``: the profiles and models, with their limits and the source of each number."""

from __future__ import annotations

from pipeline.profiles.profiles import PROFILES


def profiles_table() -> str:
    """The text of `ftprep profiles`: each profile's kinds, checks, limits and models, with sources."""
    from pipeline.profiles.models import MODELS

    def n(v: int) -> str:
        return f"{v:,}"

    lines = ["Profiles:"]
    for p in PROFILES.values():
        lim, src = p.limits, p.limits.sources
        lines.append(f"  {p.name}: {p.title}")
        lines.append(f"    kinds: {', '.join(p.kinds)}; schema: schemas/{p.schema_file}")
        lines.append(f"    checks: {p.checks}")
        limits = []
        if lim.min_examples:
            word = "min" if lim.min_examples_severity == "error" else "advised min"
            limits.append(f"{word} {lim.min_examples} examples [{src.get('min_examples', '')}]")
        for fmt, k in lim.min_examples_by_format.items():
            limits.append(f"min {k} examples in the {fmt} format [{src.get('min_examples', '')}]")
        if lim.min_bytes:
            limits.append(f"min {n(lim.min_bytes)} bytes [{src.get('min_bytes', '')}]")
        if lim.max_bytes:
            bound = "under" if lim.max_bytes_exclusive else "max"
            limits.append(f"{bound} {n(lim.max_bytes)} bytes [{src.get('max_bytes', '')}]")
        if lim.max_images:
            limits.append(f"{lim.max_images} images per example [{src.get('max_images', '')}]")
        bom = {
            "expect": "BOM expected (warning)",
            "reject": "BOM rejected",
            "report": "BOM reported (warning)",
        }
        limits.append(f"{bom[lim.bom]}" + (f" [{src['bom']}]" if "bom" in src else ""))
        if "limits" in src:
            limits.append(f"limits: {src['limits']}")
        lines.append(f"    limits: {'; '.join(limits)}")
        for model, tokens, source in p.models:
            size = f"{n(tokens)} tokens" if tokens else "unknown"
            lines.append(f"    model {model}: {size} per example [{source}]")
    lines.append(
        "Models for --model (tokenizer, tokens per training example; over it is a warning):"
    )
    for m in MODELS.values():
        limit = n(m.max_tokens) if m.max_tokens else "unknown"
        mark = "" if m.confirmed else " (unconfirmed)"
        lines.append(f"  {m.name:<26} {m.encoding:<12} {limit:>7}{mark}  [{m.source}]")
    return "\n".join(lines)
