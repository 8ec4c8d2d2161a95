"""``ftprep preview``: see exactly what a model trains on, before training.

For an open model (``--tokenizer DIR``), each of the first N examples of a file is rendered through
the model's chat template and tokenized as ``hf_tokens`` counts it; every token is shown, trained
tokens apart from masked ones: in colour on a terminal (alternating shades mark token boundaries),
as ``⟦...⟧`` around trained runs when the output is piped, and as an HTML page (``--html``) that
loads nothing from the network, every text escaped. For an OpenAI model (``--model``), it shows
the messages and which assistant messages carry weight (OpenAI does not publish its renderer).
Each example's header names its file and line, its tokens, trained and reasoning tokens, and what
the template did to it (``template_checks``). Records that cannot be converted are listed with
their reason. Nothing is printed here: the click layer prints ``Preview.text()``.
"""

from __future__ import annotations

import collections
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import ConvertOptions

OPEN, CLOSE = "⟦", "⟧"
_COLOURS = {  # (trained, masked) ANSI colours, alternating per token
    True: ("\x1b[1;32m", "\x1b[1;92m"),
    False: ("\x1b[2;37m", "\x1b[2;90m"),
}
_RESET = "\x1b[0m"


@dataclass
class Shown:
    """One previewed example: where it is from, its counts and its pieces."""

    where: str
    n_tokens: int
    n_trained: int
    n_reasoning: int
    issues: list = field(default_factory=list)
    tokens: list[tuple[str, bool, int]] = field(default_factory=list)  # (text, trained, id)
    messages: list[tuple[str, str, bool]] = field(default_factory=list)  # (role, text, trained)


@dataclass
class Preview:
    model: str
    shown: list[Shown] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def text(self, colour: bool) -> str:
        out = [
            f"ftprep preview: {self.model}; "
            + (
                "trained tokens in green, masked ones grey (shades alternate per token)"
                if colour
                else f"trained tokens inside {OPEN} {CLOSE}, masked ones outside"
            )
        ]
        for s in self.shown:
            out += ["", _header(s)]
            out += [f"  warning: {p or '/'}: {m} [{r}]" for p, r, _, m in s.issues]
            out.append(_body(s, colour))
        out += [
            f"skipped {r['source']}:{r['line']}: {r['message']} [{r['rule']}]" for r in self.skipped
        ]
        return "\n".join(out)

    def html(self) -> str:
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>ftprep preview: {html.escape(self.model)}</title><style>",
            "body{font-family:sans-serif;margin:2em}pre{white-space:pre-wrap;font-size:14px}",
            ".t{background:#c8f0c8}.t.o{background:#a8e0a8}.m{color:#777}.m.o{color:#999}",
            "span{border-radius:2px}h2{font-size:16px}</style></head><body>",
            f"<h1>ftprep preview: {html.escape(self.model)}</h1>",
            "<p>Trained tokens have a green background; masked tokens are grey. Shades "
            "alternate per token; hover a token for its id.</p>",
        ]
        for s in self.shown:
            parts.append(f"<h2>{html.escape(_header(s))}</h2>")
            for p, r, _, m in s.issues:
                parts.append(f"<p>warning: {html.escape(p or '/')}: {html.escape(m)} [{r}]</p>")
            parts.append("<pre>")
            if s.tokens:
                for k, (text, trained, tid) in enumerate(s.tokens):
                    cls = ("t" if trained else "m") + (" o" if k % 2 else "")
                    parts.append(f"<span class='{cls}' title='{tid}'>{html.escape(text)}</span>")
            for role, text, trained in s.messages:
                cls = "t" if trained else "m"
                parts.append(
                    f"<b>{html.escape(role)}</b>: <span class='{cls}'>{html.escape(text)}</span>\n"
                )
            parts.append("</pre>")
        for r in self.skipped:
            where = f"{r['source']}:{r['line']}: {r['message']}"
            parts.append(f"<p>skipped {html.escape(where)}</p>")
        parts.append("</body></html>\n")
        return "".join(parts)


def _header(s: Shown) -> str:
    reasoning = f", {s.n_reasoning:,} in reasoning traces" if s.n_reasoning else ""
    return f"{s.where}: {s.n_tokens:,} tokens, {s.n_trained:,} trained{reasoning}"


def _body(s: Shown, colour: bool) -> str:
    if s.messages:
        lines = []
        for role, text, trained in s.messages:
            mark = "trained" if trained else "not trained"
            body = (
                (_COLOURS[trained][0] + text + _RESET)
                if colour
                else (f"{OPEN}{text}{CLOSE}" if trained else text)
            )
            lines.append(f"[{role}, {mark}] {body}")
        return "\n".join(lines)
    out, inside = [], False
    for k, (text, trained, _) in enumerate(s.tokens):
        if colour:
            out.append(_COLOURS[trained][k % 2] + text + _RESET)
            continue
        if trained != inside:
            out.append(OPEN if trained else CLOSE)
            inside = trained
        out.append(text)
    if inside and not colour:
        out.append(CLOSE)
    return "".join(out)


def _examples(path: Path, n: int):
    """The first ``n`` Examples of a file (and the records that could not be converted)."""
    from pipeline.stages import convert, ingest

    options = ConvertOptions()
    sources = ingest.discover(path, str(path))
    if not sources:
        raise ingest.InputError(f"{path}: no JSONL, JSON, CSV or Parquet file found")
    got, skipped = [], []
    for src in sources:
        for batch in ingest.read_batches(src, max(n, 16)):
            items = ingest.batch_items(batch)
            parsed = [ingest.parse_item(src.name, item) for item in items]
            objs = [obj for ok, obj in parsed if ok]
            shape = convert.choose_file_shape(
                collections.Counter(convert.shape_of(o, options) for o in objs)
            )[0]
            for item, (ok, obj) in zip(items, parsed, strict=True):
                ex = convert.convert_record(obj, src.name, item[0], shape, options) if ok else obj
                (skipped if "stage" in ex else got).append(ex)
                if len(got) == n:
                    return got, skipped
    return got, skipped


def preview_file(
    path: Path, tokenizer: Path | None = None, model: str | None = None, n: int = 3
) -> Preview:
    from pipeline.stages.hf_tokens import HFCounter
    from pipeline.stages.template_checks import reasoning_tokens
    from pipeline.stages.tokens import TokenizerError

    if tokenizer is None and not model:
        from pipeline.stages.ingest import InputError

        raise InputError("give --tokenizer DIR (an open model) or --model M (an OpenAI model)")
    examples, skipped = _examples(path, n)
    if tokenizer is not None:
        counter: Any = HFCounter(tokenizer)
        preview = Preview(model or counter.name, skipped=skipped)
    else:
        from pipeline.profiles.models import model_info
        from pipeline.stages.tokens import Counter

        info = model_info(model)
        counter = Counter(info.encoding)
        preview = Preview(f"{info.name} ({info.encoding})", skipped=skipped)
    for ex in examples:
        where = f"{ex['source']}:{ex['line']}"
        try:
            n_tokens, n_trained = counter.example(ex)
        except TokenizerError as exc:
            preview.skipped.append(
                {
                    "source": ex["source"],
                    "line": ex["line"],
                    "rule": "count.template_error",
                    "message": str(exc),
                }
            )
            continue
        shown = Shown(where, n_tokens, n_trained, reasoning_tokens(counter, ex))
        shown.issues = list(getattr(counter, "last_issues", []))
        messages = _conversation(ex)
        if tokenizer is not None:
            if ex.get("text") is not None and not ex.get("messages"):
                ids = counter.tok.tokenizer.encode(ex["text"], add_special_tokens=False)
                shown.tokens = [
                    (ex["text"][a:b], True, i)
                    for (a, b), i in zip(ids.offsets, ids.ids, strict=True)
                ]
            else:
                done = counter.render(messages, ex.get("tools"), _first(ex))
                shown.tokens = _pieces(done)
        else:
            shown.messages = [
                (
                    m.get("role", "?"),
                    _message_text(m),
                    m.get("role") == "assistant" and m.get("weight", 1) != 0,
                )
                for m in messages
            ]
        preview.shown.append(shown)
    return preview


def _conversation(ex: dict) -> list:
    """The messages a template renders: the prompt and, for a pair, the chosen side."""
    side = ex.get("chosen") or ex.get("completion") or []
    return [m for m in (ex.get("messages") or []) + list(side) if isinstance(m, dict)]


def _first(ex: dict) -> int:
    return len(ex.get("messages") or []) if ex["kind"] != "sft" else 0


def _pieces(done: Any) -> list[tuple[str, bool, int]]:
    """Each token's text (from its offsets; the gaps between tokens go with the token before)."""
    out = []
    offsets = done.offsets
    for k, ((a, _), trained, tid) in enumerate(zip(offsets, done.trained, done.ids, strict=True)):
        a = 0 if k == 0 else a  # text before the first token goes with it
        end = offsets[k + 1][0] if k + 1 < len(offsets) else len(done.text)
        out.append((done.text[a:end], trained, tid))
    return out


def _message_text(m: dict) -> str:
    import json

    parts = []
    if isinstance(m.get("reasoning"), str):
        parts.append(f"(reasoning) {m['reasoning']}")
    content = m.get("content")
    if content is not None:
        parts.append(
            content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        )
    for call in m.get("tool_calls") or ():
        parts.append(f"(tool call) {json.dumps(call, ensure_ascii=False)}")
    return "\n".join(parts)
