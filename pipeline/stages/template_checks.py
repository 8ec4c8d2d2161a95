"""What an open model's chat template does to a row, as findings: part of the count stage.

Takes a conversation rendered through the template (``hf_tokens.Rendering``) and yields issues
``(pointer, rule, severity, message)`` for what the template silently changes, with what to do:

* ``template.system_dropped``, ``template.tool_dropped`` (warning): a system or tool message whose
  text is not in the rendering (Phi-3's first template drops every system prompt; Mistral NeMo's
  drops it on rows that end with the assistant).
* ``template.reasoning_dropped_last`` (warning): the last assistant turn's reasoning is not in the
  rendering, so the row teaches no reasoning (DeepSeek-R1-Distill's template strips it);
  ``template.reasoning_dropped`` (warning): an earlier turn's reasoning is not rendered (Qwen3's
  template keeps reasoning only after the last user message, by design).
* ``template.bos_twice`` (warning): the rendered row holds the BOS token more than once, or a
  text row starts with it while the tokenizer adds one of its own.

A template that renders no trained token for a plain conversation would train on nothing: that
is a usage error (exit 2) found when it is loaded (``hf_tokens.ChatTokenizer``), not a row's
problem. A row with no trained token is rejected (``count.no_trained_tokens``: ``no_trained_issue``,
for every tokenizer).
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.findings import ERROR, WARNING

NO_TRAINED = "count.no_trained_tokens"
CONTEXT_ROLES = {"system": "system", "developer": "system", "tool": "tool", "ipython": "tool"}


def no_trained_issue(ex: dict) -> tuple[str, str, str, str] | None:
    """The rejection of a conversation with 0 trained tokens (any tokenizer), or None."""
    if ex.get("n_trained_tokens") != 0 or not ex.get("messages") or ex.get("text") is not None:
        return None
    return (
        "",
        NO_TRAINED,
        ERROR,
        "0 trained tokens: the chat template renders no assistant text for this row, or every "
        "assistant message has weight 0, so it teaches the model nothing; give it an assistant "
        "reply with weight 1, or use a template that renders assistant turns",
    )


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
    return []


def _shown(text: str, rendered: str) -> bool:
    """Whether a message's text is in the rendering (as it is, or JSON-escaped as some
    templates write tool results)."""
    text = text.strip()
    if not text or text in rendered:
        return True
    return any(json.dumps(text, ensure_ascii=a)[1:-1] in rendered for a in (False, True))


def _pointer(i: int, first: int, side: str, key: str) -> str:
    return (
        f"/messages/{i}/{key}" if i < first or side == "messages" else f"/{side}/{i - first}/{key}"
    )


def row_issues(
    tok: Any, messages: list[dict], done: Any, first: int = 0, side: str = "messages"
) -> list:
    """Issues of one conversation (``messages`` as the template saw them) and its rendering;
    ``first`` and ``side`` place the answer messages of a preference or unpaired record."""
    issues = []
    text = done.text
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    for i, m in enumerate(messages):
        role = m.get("role")
        kind = CONTEXT_ROLES.get(role) if isinstance(role, str) else None
        if kind and not all(_shown(t, text) for t in _texts(m.get("content"))):
            where = "system prompt" if kind == "system" else "tool result"
            fix = (
                "use a template that renders system prompts (Phi-3's later revision, "
                "mistral_common's), or put the instructions in the first user message"
                if kind == "system"
                else "use a template that renders tool messages, or leave the tool turns out"
            )
            issues.append(
                (
                    _pointer(i, first, side, "content"),
                    f"template.{kind}_dropped",
                    WARNING,
                    f"the chat template drops this {where}: its text is not in the rendered "
                    f"conversation, so the model never sees it in training; {fix}",
                )
            )
        reasoning = m.get("reasoning_content")
        if role == "assistant" and isinstance(reasoning, str) and not _shown(reasoning, text):
            if i == last:
                issues.append(
                    (
                        _pointer(i, first, side, "reasoning"),
                        "template.reasoning_dropped_last",
                        WARNING,
                        "the chat template drops the reasoning of the last assistant turn, so "
                        "the row teaches no reasoning: use a template that renders it (Qwen3's "
                        "renders reasoning_content; TRL's deepseek_r1_distill_training keeps an "
                        "inline <think>...</think> block in the content)",
                    )
                )
            else:
                issues.append(
                    (
                        _pointer(i, first, side, "reasoning"),
                        "template.reasoning_dropped",
                        WARNING,
                        "the chat template drops the reasoning of this earlier assistant turn "
                        "(Qwen3's keeps only the turns after the last user message): only the "
                        "last turn's reasoning is trained; split the conversation to train the "
                        "others",
                    )
                )
    bos = tok.bos_id
    if bos is not None and done.ids.count(bos) > 1:
        issues.append(
            (
                "",
                "template.bos_twice",
                WARNING,
                f"the rendered row holds the BOS token {tok.special['bos_token']!r} "
                f"{done.ids.count(bos)} times: the template writes it, so remove the literal "
                f"{tok.special['bos_token']!r} from the messages",
            )
        )
    return issues


def text_issues(tok: Any, text: str) -> list:
    """A plain-text row: a BOS written into the text and added again by the tokenizer."""
    bos = tok.special.get("bos_token")
    if bos and tok.adds_bos and text.startswith(bos):
        return [
            (
                "/text",
                "template.bos_twice",
                WARNING,
                f"the text starts with the BOS token {bos!r} and the tokenizer adds another when "
                "it tokenizes text (as trainers do for text rows): remove it from the text",
            )
        ]
    return []


def reasoning_tokens(counter: Any, ex: dict) -> int:
    """Tokens of the reasoning of an Example's assistant messages (the text alone)."""
    total = 0
    for key in ("messages", "chosen", "rejected", "completion"):
        for m in ex.get(key) or ():
            if isinstance(m, dict) and isinstance(m.get("reasoning"), str):
                total += counter.n(m["reasoning"])
    return total


def line_findings(counter: Any, obj: Any, source: str, line: int) -> list:
    """``validate --tokenizer``: what an open model's template does to one line of a file, as
    findings (pointer, rule, severity, message): the ``template.*`` warnings, a row that trains
    on nothing (``count.no_trained_tokens``) and a row the template refuses
    (``count.template_error``). A line that is not a conversation has none."""
    from pipeline.config import ConvertOptions
    from pipeline.stages.convert import convert_record
    from pipeline.stages.tokens import TokenizerError

    ex = convert_record(obj, source, line, None, ConvertOptions())
    if "stage" in ex:  # not a record ftprep can read as an example: the schema says why
        return []
    try:
        ex["n_tokens"], ex["n_trained_tokens"] = counter.example(ex)
    except TokenizerError as exc:
        return [("", "count.template_error", ERROR, str(exc))]
    found = list(counter.last_issues)
    problem = no_trained_issue(ex)
    return found + ([problem] if problem else [])
