"""Rules for AutoTrain Advanced LLM data (reference/providers.md §4: llm_finetuning.mdx, the
column mappings and the text preprocessor; S22 to S27)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeline.findings import ERROR, WARNING, pointer, shown
from pipeline.profiles.rules.common import Issue, role_of

RESERVED = (
    "autotrain_text",
    "autotrain_label",
    "autotrain_question",
    "autotrain_answer",
    "autotrain_prompt",
    "autotrain_context",
    "autotrain_rejected_text",
    "autotrain_prompt_start",
)
ROLES = ("system", "user", "assistant")


def _reserved(obj: dict) -> Iterator[Issue]:
    for key in obj:
        if key in RESERVED:
            yield (
                pointer(key),
                "autotrain.column.reserved",
                ERROR,
                f"{key} is a reserved column name: rename the column",
            )


def _chat(value: Any, key: str, last_assistant: bool) -> Iterator[Issue]:
    if isinstance(value, str):
        if not value.strip():
            yield (pointer(key), "autotrain.text.empty", ERROR, f"{key} is empty")
        return
    if not isinstance(value, list):
        return
    for i, m in enumerate(value):
        role = role_of(m)
        if role is not None and role not in ROLES:
            yield (
                pointer(key, i, "role"),
                "autotrain.role.unknown",
                ERROR,
                f"role {shown(role)} is not one of {', '.join(ROLES)}",
            )
    if last_assistant and value:
        role = role_of(value[-1])
        if role is not None and role != "assistant":
            yield (
                pointer(key, len(value) - 1, "role"),
                "autotrain.dpo.last_role",
                ERROR,
                f"{key} must end with the assistant answer: the DPO task takes the prompt from "
                "all messages but the last, and the answer from the last",
            )


def check_sft(obj: dict) -> Iterator[Issue]:
    yield from _reserved(obj)
    yield from _chat(obj.get("text"), "text", last_assistant=False)


def check_dpo(obj: dict) -> Iterator[Issue]:
    yield from _reserved(obj)
    for key in ("prompt", "text", "rejected_text"):
        yield from _chat(obj.get(key), key, last_assistant=key != "prompt")
    text, rejected = obj.get("text"), obj.get("rejected_text")
    if text is not None and text == rejected:
        yield (
            pointer("rejected_text"),
            "autotrain.dpo.identical",
            WARNING,
            "text (chosen) and rejected_text are identical, so the pair teaches nothing",
        )
    if isinstance(text, list) and isinstance(rejected, list) and text[:-1] != rejected[:-1]:
        yield (
            pointer("rejected_text"),
            "autotrain.dpo.prompt_mismatch",
            ERROR,
            "text and rejected_text must share every message but the last (the prompt): "
            "AutoTrain takes the prompt from text",
        )
