"""Rules for Amazon Bedrock's conversation format (bedrock-conversation-2024; Nova, distillation,
Claude 3 Haiku; reference/providers.md §8.2, S42 and S44)."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.findings import ERROR, WARNING, pointer, shown
from pipeline.profiles.rules.common import Issue, role_of

SCHEMA_VERSION = "bedrock-conversation-2024"
KEYS = ("schemaVersion", "system", "messages")
BLOCKS = ("text", "image", "video", "toolUse", "toolResult", "document", "reasoningContent")


def check(obj: dict) -> Iterator[Issue]:
    version = obj.get("schemaVersion")
    if "schemaVersion" not in obj:
        yield (
            pointer("schemaVersion"),
            "bedrock.schema_version.missing",
            WARNING,
            f'add "schemaVersion": "{SCHEMA_VERSION}" (every documented example has it)',
        )
    elif version != SCHEMA_VERSION:
        yield (
            pointer("schemaVersion"),
            "bedrock.schema_version.unknown",
            WARNING,
            f"schemaVersion {shown(version)} is not the documented {SCHEMA_VERSION!r}",
        )
    for key in obj:
        if key not in KEYS:
            yield (
                pointer(key),
                "bedrock.key.extra",
                WARNING,
                f"extra key {key!r}: no extraneous keys are allowed (Claude); keep {', '.join(KEYS)}",
            )
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return
    roles = [role_of(m) for m in messages]
    if len(messages) < 2:
        yield (
            pointer("messages"),
            "bedrock.messages.too_few",
            ERROR,
            "there must be at least two messages: a user turn and the assistant reply",
        )
    for i, (m, role) in enumerate(zip(messages, roles, strict=True)):
        if not isinstance(m, dict):
            continue
        if role is None:
            pass  # the schema reports a missing or non-string role
        elif role not in ("user", "assistant"):
            yield (
                pointer("messages", i, "role"),
                "bedrock.role.unknown",
                ERROR,
                f"{shown(role)} is not a message role: use user or assistant"
                + ("; put the system prompt in the top-level 'system'" if role == "system" else ""),
            )
        elif i == 0 and role != "user":
            yield (
                pointer("messages", 0, "role"),
                "bedrock.role.first",
                ERROR,
                'the first message must be from the "user"',
            )
        elif i and role == roles[i - 1]:
            yield (
                pointer("messages", i, "role"),
                "bedrock.role.alternation",
                ERROR,
                f"user and assistant messages must alternate: merge the two {role} messages",
            )
        yield from _check_blocks(m.get("content"), ("messages", i, "content"))
    if roles and roles[-1] != "assistant" and roles[-1] in ("user", "assistant"):
        yield (
            pointer("messages", len(roles) - 1, "role"),
            "bedrock.role.last",
            ERROR,
            'the last message must be from the "assistant"',
        )
    if len(messages) > 2:
        yield (
            pointer("messages"),
            "bedrock.multiturn",
            WARNING,
            f"{len(messages)} messages: Anthropic and Llama models take single-turn examples only "
            "(Nova takes multi-turn)",
        )


def _check_blocks(content: object, prefix: tuple) -> Iterator[Issue]:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        return
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        kinds = [k for k in block if k in BLOCKS]
        if len(kinds) != 1:
            yield (
                pointer(*prefix, j),
                "bedrock.block.kind",
                ERROR,
                "a content block holds exactly one of text, image, video, document, toolUse, toolResult, reasoningContent",
            )
        text = block.get("text")
        if isinstance(text, str) and not text.strip():
            yield (
                pointer(*prefix, j, "text"),
                "bedrock.content.empty",
                ERROR,
                "the text block is empty: write the text or remove the block",
            )
