"""Rules for Together AI's fine-tuning files: the checks of ``together files check``
(together-python utils/files.py, reference/providers.md §7, S39)."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.findings import ERROR, pointer
from pipeline.profiles.rules.common import (
    IMAGE_DATA_URL,
    FormatTracker,
    Issue,
    check_weight_01,
    image_too_large,
    role_of,
)

FORMATS = {
    "general": ("text",),
    "conversation": ("messages",),
    "instruction": ("prompt", "completion"),
    "preference_openai": ("input", "preferred_output", "non_preferred_output"),
}
ROLES = ("system", "user", "assistant")
MAX_IMAGES = 10


def formats_of(obj: dict) -> list[str]:
    return [name for name, keys in FORMATS.items() if all(k in obj for k in keys)]


def format_of(obj: dict) -> str | None:
    found = formats_of(obj)
    return found[0] if len(found) == 1 else None


def check(obj: dict) -> Iterator[Issue]:
    found = formats_of(obj)
    if not found:
        yield (
            "",
            "together.format.unknown",
            ERROR,
            f"could not detect a format for the line with the columns {', '.join(map(repr, obj)) or 'none'}: "
            "use text, messages, prompt+completion or input+preferred_output+non_preferred_output",
        )
        return
    if len(found) > 1:
        yield (
            "",
            "together.format.multiple",
            ERROR,
            f"the line matches several formats ({' and '.join(found)}): keep the keys of one",
        )
        return
    fmt = found[0]
    for key in obj:
        if key not in FORMATS[fmt]:
            yield (
                pointer(key),
                "together.key.extra",
                ERROR,
                f"extra column {key!r}: a {fmt} line may hold only {', '.join(FORMATS[fmt])}; remove it",
            )
    if fmt == "conversation" and isinstance(obj["messages"], list):
        yield from _check_conversation(obj["messages"], ("messages",), require_assistant=True)
    elif fmt == "preference_openai":
        yield from _check_preference(obj)


def _check_conversation(messages: list, prefix: tuple, require_assistant: bool) -> Iterator[Issue]:
    previous = None
    images = 0
    multimodal = set()
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        where = prefix + (i,)
        role = role_of(m)
        if role is not None and role not in ROLES:
            yield (
                pointer(*where, "role"),
                "together.role.unknown",
                ERROR,
                f"invalid role {role!r}: possible roles are system, user, assistant",
            )
        if i == 0 and role is not None and role not in ("system", "user"):
            yield (
                pointer(*where, "role"),
                "together.role.first",
                ERROR,
                "the conversation must start with system or user",
            )
        if previous is not None and role == previous:
            yield (
                pointer(*where, "role"),
                "together.role.alternation",
                ERROR,
                "after the optional system message, roles must alternate user/assistant: "
                f"merge the two {role} messages",
            )
        previous = role
        yield from check_weight_01(m, where, "together", any_role=True)
        content = m.get("content")
        multimodal.add(isinstance(content, list))
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict):
                    continue
                kind = part.get("type")
                if kind not in ("text", "image_url"):
                    yield (
                        pointer(*where, "content", j, "type"),
                        "together.content.type",
                        ERROR,
                        f"the type field must be 'text' or 'image_url', got {kind!r}",
                    )
                if kind != "image_url":
                    continue
                images += 1
                if role != "user":
                    yield (
                        pointer(*where, "content", j),
                        "together.images.role",
                        ERROR,
                        "only user messages can contain images: move the image to a user message",
                    )
                url = (
                    part.get("image_url", {}).get("url")
                    if isinstance(part.get("image_url"), dict)
                    else None
                )
                match = IMAGE_DATA_URL.match(url) if isinstance(url, str) else None
                if isinstance(url, str) and not match:
                    yield (
                        pointer(*where, "content", j, "image_url", "url"),
                        "together.images.format",
                        ERROR,
                        "the url must be a base64 JPEG, PNG or WEBP data URL "
                        "('data:image/<format>;base64,...'); web URLs are not accepted",
                    )
                elif match and (too_large := image_too_large(url[match.end() :])):
                    yield (
                        pointer(*where, "content", j, "image_url", "url"),
                        "together.images.size",
                        ERROR,
                        too_large,
                    )
                if m.get("weight", 0) not in (0, None):
                    yield (
                        pointer(*where, "weight"),
                        "together.images.weight",
                        ERROR,
                        "messages with images cannot have non-zero weights: set weight to 0",
                    )
    if len(multimodal) > 1:
        yield (
            pointer(*prefix),
            "together.content.mixed",
            ERROR,
            "messages must be either all multimodal (lists of parts) or all text-only (strings)",
        )
    if images > MAX_IMAGES:
        yield (
            pointer(*prefix),
            "together.images.too_many",
            ERROR,
            f"{images} images; the messages may contain at most {MAX_IMAGES}",
        )
    if require_assistant and not any(
        isinstance(m, dict) and m.get("role") == "assistant" for m in messages
    ):
        yield (
            pointer(*prefix),
            "together.assistant.missing",
            ERROR,
            "at least one message with the assistant role must be present in the example",
        )


def _check_preference(obj: dict) -> Iterator[Issue]:
    inp = obj["input"]
    if not isinstance(inp, dict):
        return
    messages = inp.get("messages")
    if isinstance(messages, list):
        yield from _check_conversation(messages, ("input", "messages"), require_assistant=False)
        if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
            yield (
                pointer("input", "messages", len(messages) - 1, "role"),
                "together.preference.last_role",
                ERROR,
                "the last message in the input conversation must not be from the assistant",
            )
    for key in ("preferred_output", "non_preferred_output"):
        out = obj[key]
        if isinstance(out, list) and out:
            role = role_of(out[0])
            if role is not None and role != "assistant":
                yield (
                    pointer(key, 0, "role"),
                    "together.preference.output_role",
                    ERROR,
                    f"the {key} message must have the assistant role",
                )


def file_rules() -> FormatTracker:
    return FormatTracker("together.format.mixed", format_of, "dataset format")
