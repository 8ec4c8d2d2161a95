"""The report's charts: matplotlib figures rendered to SVG text, to be inlined in the page.

Drawn from aggregates (counts per bin, per file, per role), so an SVG's size does not grow with
the data. Matplotlib's SVG backend only, without pyplot (no global figure state, no GUI backend),
with the settings that make the bytes the same on every run: a fixed ``svg.hashsalt`` (clip-path
ids), no date in the metadata, text kept as ``<text>`` (escaped by matplotlib's XML writer) and
mathtext off, so a ``$`` in a file name is a dollar sign. The XML prolog and the metadata block are
dropped (and the namespace declarations, which inline SVG does not need), and each figure's ids
get a prefix of their own, so several figures can share a page.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

COLOURS = {
    "train": "#4e79a7",
    "validation": "#59a14f",
    "duplicates": "#f28e2b",
    "rejected": "#e15759",
    "trained": "#76b7b2",
    "limit": "#b07aa1",
}
STYLE = {
    "svg.hashsalt": "ftprep",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "path.simplify": True,
}
MAX_BARS = 20  # input files drawn in the funnel; the rest are drawn as one bar


def _svg(fig: Any, prefix: str) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\bid="', f'id="{prefix}-', text)
    text = re.sub(r"url\(#", f"url(#{prefix}-", text)
    text = re.sub(r'xlink:href="#', f'xlink:href="#{prefix}-', text)
    text = re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r"\1", text, count=1)
    # inline in HTML, an SVG needs no namespace declarations (their URIs are names, never fetched)
    return re.sub(r'\s+xmlns(?::xlink)?="[^"]*"', "", text, count=2)


def _figure(width: float, height: float) -> Any:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), dpi=72, layout="constrained")


def _styled(draw):
    """Run a drawing function inside the report's matplotlib settings."""

    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    wrapper.__doc__ = draw.__doc__
    return wrapper


@_styled
def funnel(files: list[dict[str, Any]]) -> str:
    """One horizontal bar per input file: its records as train, validation, duplicates and
    rejected (the largest ``MAX_BARS`` files; the others as one bar)."""
    rows = sorted(files, key=lambda f: -f["records"])
    if len(rows) > MAX_BARS:
        rest = rows[MAX_BARS - 1 :]
        rows = rows[: MAX_BARS - 1] + [
            {
                "name": f"{len(rest):,} other files",
                **{
                    k: sum(f[k] for f in rest)
                    for k in ("train", "validation", "duplicates", "rejected")
                },
            }
        ]
    rows = rows[::-1]
    fig = _figure(9, 0.9 + 0.32 * len(rows))
    ax = fig.subplots()
    names = [_short(n) for n in _without_common_folder([r["name"] for r in rows])]
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    for key in ("train", "validation", "duplicates", "rejected"):
        values = np.array([r[key] for r in rows], float)
        ax.barh(y, values, left=left, color=COLOURS[key], label=key, height=0.7)
        left += values
    ax.set_yticks(y, names)
    ax.set_xlabel("records")
    ax.legend(loc="lower right", ncols=4, bbox_to_anchor=(1, 1.0))
    ax.margins(x=0.01)
    return _svg(fig, "funnel")


def _without_common_folder(names: list[str]) -> list[str]:
    """File names without the folder they all share (``data/raw/a.jsonl`` -> ``a.jsonl``)."""
    import os.path

    paths = [n for n in names if "/" in n]
    if len(paths) < 2 or len(paths) != len(names):
        return names
    common = os.path.commonpath(paths)
    if not common:
        return names
    return [n[len(common) :].lstrip("/") or n for n in names]


def _log_ticks(ax) -> None:
    """Plain numbers on a log axis (mathtext is off, so matplotlib's 10^n labels would show as
    their source)."""
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    ax.minorticks_off()


def _short(name: str, limit: int = 48) -> str:
    return name if len(name) <= limit else "…" + name[-(limit - 1) :]


@_styled
def token_lengths(lengths: dict[str, Any], limit: int | None, bins: int = 40) -> str:
    """Per split, a histogram of tokens per example (log scale) with trained tokens drawn over it
    as a line, and the model's limit as a vertical rule."""
    splits = [s for s, agg in lengths.items() if agg.examples]
    fig = _figure(4.6 * max(len(splits), 1), 3.0)
    axes = fig.subplots(1, max(len(splits), 1), squeeze=False)[0]
    top = max([agg.max for agg in lengths.values()] + [limit or 0, 2])
    edges = np.unique(np.round(np.geomspace(1, top * 1.25, bins + 1)).astype(np.int64))
    for ax, split in zip(axes, splits, strict=False):
        agg = lengths[split]
        for counts, style in (
            (agg.total_counts, {"color": COLOURS[split], "label": "tokens", "fill": True}),
            (agg.trained_counts, {"color": "#333333", "label": "trained tokens", "fill": False}),
        ):
            per_bin = _binned(counts, edges)
            ax.stairs(per_bin, edges, **style)
        if limit:
            ax.axvline(limit, color=COLOURS["limit"], linestyle="--", linewidth=1.2)
            ax.annotate(
                f"limit {limit:,}",
                (limit, 1),
                xycoords=("data", "axes fraction"),
                xytext=(-4, -4),
                textcoords="offset points",
                ha="right",
                va="top",
                color=COLOURS["limit"],
            )
        ax.set_xscale("log")
        _log_ticks(ax)
        ax.set_title(f"{split}: {agg.examples:,} examples")
        ax.set_xlabel("tokens per example")
        ax.set_ylabel("examples")
        ax.legend(loc="upper left")
    if not splits:
        axes[0].text(0.5, 0.5, "no examples", ha="center", va="center")
        axes[0].set_axis_off()
    return _svg(fig, "tokens")


def _binned(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per exact value summed into the bins [edges[i], edges[i+1]); zero goes to the first
    bin, values past the last edge to the last bin."""
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    positions = np.minimum(edges, len(counts))
    positions[0] = 0
    positions[-1] = len(counts)
    return np.diff(cumulative[positions]).astype(float)


@_styled
def turns_and_roles(shapes: dict[str, Any], max_turns: int) -> str:
    """Messages per example (stacked by split) and the roles of all messages."""
    fig = _figure(9, 2.8)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    bottom = None
    for split, agg in shapes.items():
        counts = agg.turns.astype(float)
        if not counts.sum():
            continue
        x = np.arange(len(counts))
        left.bar(x, counts, bottom=bottom, color=COLOURS[split], label=split, width=0.8)
        bottom = counts if bottom is None else bottom + counts
    used = np.flatnonzero(bottom) if bottom is not None else np.array([1])
    hi = int(used.max()) if len(used) else 1
    left.set_xlim(-0.6, hi + 0.6)
    left.set_title("messages per example")
    left.set_xlabel(f"messages ({max_turns} stands for {max_turns} or more)")
    left.set_ylabel("examples")
    if bottom is not None:
        left.legend()
    roles: dict[str, int] = {}
    for agg in shapes.values():
        for role, n in agg.roles.items():
            roles[role] = roles.get(role, 0) + n
    shown = sorted(roles.items(), key=lambda kv: (-kv[1], kv[0]))[:12][::-1]
    if shown:
        right.barh([_short(r, 24) for r, _ in shown], [n for _, n in shown], color="#9c755f")
    right.set_title("roles (messages)")
    right.set_xlabel("messages")
    return _svg(fig, "roles")
