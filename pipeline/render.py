"""Writing is the inverse of converting: a canonical Example -> one line of the target format.

A renderer returns the line as a dict, or raises ``Unrenderable`` with the rule and message that
explain why this Example has no form in the target (a preference pair for a supervised profile).
"""

from __future__ import annotations

from typing import Any


class Unrenderable(ValueError):
    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


def clean_message(m: dict) -> dict:
    """A message without the keys that are unset (None), in a stable key order."""
    return {k: v for k, v in m.items() if v is not None or k == "content"}


def render_openai_chat(ex: dict[str, Any]) -> dict[str, Any]:
    if ex["kind"] != "sft":
        raise Unrenderable(
            "profile.kind.unsupported",
            f"a {ex['kind']} record has no supervised chat form: use --profile openai-dpo "
            "for preference pairs, or trl-kto for labelled completions",
        )
    if not ex["messages"]:
        raise Unrenderable(
            "profile.kind.unsupported",
            "a plain-text record has no chat messages: use --profile trl-sft, or map its "
            "columns to prompt/completion in the config",
        )
    line: dict[str, Any] = {"messages": [clean_message(m) for m in ex["messages"]]}
    if ex.get("tools"):
        line["tools"] = ex["tools"]
    if ex.get("parallel_tool_calls") is not None:
        line["parallel_tool_calls"] = ex["parallel_tool_calls"]
    return line
