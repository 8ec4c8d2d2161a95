"""Reasoning traces as data: part of the convert stage.

The canonical Example holds an assistant message's reasoning (its chain of thought, what the
model writes before the answer) in one place: ``reasoning``, a string on the message. Sources
name it in several ways; ``lift_reasoning`` takes an Example fresh from its shape's converter and
moves each into that field:

* a ``reasoning_content`` key (DeepSeek's API, vLLM, transformers' chat templates), ``reasoning``
  (Together's fine-tuning format, OpenRouter) or ``thinking`` (some chat templates);
* a content string that opens with ``<think>...</think>`` (DeepSeek-R1 and Qwen3 outputs): the
  block becomes the reasoning and the rest, leading whitespace removed, the content.

Bedrock Nova 2.0's ``{"reasoningContent": {"reasoningText": {"text": ...}}}`` content block is
read by the Bedrock converter itself (``shapes.from_bedrock``), into the same field.

It raises ``Reject`` (``convert.reasoning``) for what it cannot decide: a reasoning that is not a
string, reasoning on a message that is not the assistant's, or two differing traces on one message.
"""

from __future__ import annotations

from typing import Any

from pipeline.stages.shapes import Reject, type_name

KEYS = ("reasoning", "reasoning_content", "thinking")
RULE = "convert.reasoning"
OPEN, CLOSE = "<think>", "</think>"
_SIDES = ("messages", "chosen", "rejected", "completion")


def _inline(content: Any) -> tuple[str | None, Any]:
    """(reasoning, content) of a content string that opens with a think block."""
    if not isinstance(content, str):
        return None, content
    body = content.lstrip()
    if not body.startswith(OPEN):
        return None, content
    end = body.find(CLOSE)
    if end < 0:
        return None, content
    return body[len(OPEN) : end].strip(), body[end + len(CLOSE) :].lstrip()


def _lift(m: dict, pointer: str) -> None:
    found = {k: m.pop(k) for k in KEYS if k in m}
    found = {k: v for k, v in found.items() if v is not None}
    for key, value in found.items():
        if not isinstance(value, str):
            raise Reject(
                RULE,
                f"{pointer}/{key}",
                f"{key} must be a string, not {type_name(value)}: write the reasoning trace as one "
                "string",
            )
    inline, content = _inline(m.get("content"))
    if inline is not None:
        found["<think> in content"] = inline
        m["content"] = content
    if not found:
        return
    if m.get("role") != "assistant":
        raise Reject(
            RULE,
            f"{pointer}/{next(iter(found))}",
            f"only an assistant message carries reasoning, not a {m.get('role')!r} message: "
            "move the reasoning to the assistant's reply or remove it",
        )
    if len({v.strip() for v in found.values()}) > 1:
        raise Reject(
            RULE,
            pointer,
            f"the message holds two different reasoning traces ({' and '.join(found)}): keep one",
        )
    m["reasoning"] = next(iter(found.values()))


def lift_reasoning(ex: dict) -> None:
    """Move every assistant message's reasoning into its ``reasoning`` field (in place)."""
    for side in _SIDES:
        for i, m in enumerate(ex.get(side) or ()):
            if type(m) is dict and (len(m) > 2 or _opens_think(m.get("content"))):
                _lift(m, f"/{side}/{i}")


def _opens_think(content: Any) -> bool:
    return isinstance(content, str) and content.lstrip()[: len(OPEN)] == OPEN
