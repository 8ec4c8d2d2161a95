"""Checks of the canonical Example that hold for every profile, run before its line is rendered.

The gate checks a few properties of every kept row whatever the profile (``pipeline.gate``:
``assistant.content_not_empty``); a row-level property the gate checks is a rule here, so
``ftprep run`` never keeps a row the gate would fail. Each check returns the finding as
``(pointer, rule, message)`` with a pointer into the Example, or None.
"""

from __future__ import annotations

from typing import Any

from pipeline.findings import pointer
from pipeline.profiles.rules.common import text_of

EMPTY_REPLY = "example.assistant.empty"
SIDES = ("messages", "chosen", "rejected", "completion")


def empty_reply(ex: dict[str, Any]) -> tuple[str, str, str] | None:
    """The first assistant message (in the conversation or either answer of a pair) that has
    neither text nor tool calls: an empty or blank reply trains the model to say nothing."""
    for side in SIDES:
        messages = ex.get(side)
        for i, m in enumerate(messages if isinstance(messages, list) else ()):
            if not isinstance(m, dict) or m.get("role") != "assistant":
                continue
            if m.get("tool_calls") or m.get("function_call") or m.get("refusal"):
                continue
            if not text_of(m.get("content")).strip():
                what = {"messages": "an assistant reply", "chosen": "the chosen reply"}.get(
                    side, f"the {side} reply"
                )
                return (
                    pointer(side, i, "content"),
                    EMPTY_REPLY,
                    f"{what} is empty or only whitespace: write the reply, or drop the example",
                )
    return None
