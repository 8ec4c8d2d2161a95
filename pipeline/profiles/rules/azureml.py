"""Rules for Phi-3 / Phi-3.5 chat-completion fine-tuning on Azure AI Foundry and Azure ML
(reference/providers.md §5, S28 and S29). Only the format is documented; ordering and limits are
not, so those checks are warnings."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.findings import ERROR, WARNING, pointer, shown
from pipeline.profiles.rules.common import Issue, role_of

ROLES = ("system", "user", "assistant")


def check(obj: dict) -> Iterator[Issue]:
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return
    previous = None
    roles = []
    last = 0  # the index of the last message object
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        last = i
        role = role_of(m)
        roles.append(role)
        if role is not None and role not in ROLES:
            yield (
                pointer("messages", i, "role"),
                "azureml.role.unknown",
                ERROR,
                f"{shown(role)} is not a chat-completion role for Phi-3 fine-tuning: use system, user or assistant",
            )
        content = m.get("content")
        if isinstance(content, list):
            yield (
                pointer("messages", i, "content"),
                "azureml.content.parts",
                WARNING,
                "content parts (lists) are not documented for Phi-3 fine-tuning: use a string",
            )
        elif isinstance(content, str) and not content.strip() and role == "assistant":
            yield (
                pointer("messages", i, "content"),
                "azureml.content.empty",
                ERROR,
                "the assistant message is empty: write the reply",
            )
        if role == "system" and i > 0:
            yield (
                pointer("messages", i, "role"),
                "azureml.system.position",
                WARNING,
                "a system message after the first message: put it first",
            )
        if previous is not None and role == previous and role in ("user", "assistant"):
            yield (
                pointer("messages", i, "role"),
                "azureml.role.alternation",
                WARNING,
                f"two {role} messages in a row; the documented examples alternate user and assistant",
            )
        previous = role
    if "assistant" not in roles:
        yield (
            pointer("messages"),
            "azureml.assistant.missing",
            ERROR,
            "the example has no assistant message: add the reply the model should learn",
        )
    elif roles[-1] is not None and roles[-1] != "assistant":
        yield (
            pointer("messages", last, "role"),
            "azureml.role.last",
            WARNING,
            "the last message is not from the assistant, so it is not trained on",
        )
