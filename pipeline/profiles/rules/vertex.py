"""Rules for Vertex AI Gemini supervised tuning (reference/providers.md §8.1, S41).

The current format is ``contents`` of ``{role: user|model, parts}``; the older gemini-1.0-pro
format is ``messages`` of ``{role: system|user|model, content}``. A file holds one of the two.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.findings import ERROR, WARNING, pointer, shown
from pipeline.profiles.rules.common import FormatTracker, Issue, role_of

DATA_FIELDS = ("text", "fileData", "inlineData", "functionCall", "functionResponse")
CONTENT_ROLES = ("user", "model")
MESSAGE_ROLES = ("system", "user", "model")
_ROLE_HINT = {"assistant": "model", "bot": "model", "human": "user"}


def format_of(obj: dict) -> str | None:
    if "contents" in obj:
        return "contents"
    if "messages" in obj:
        return "messages"
    return None


def check(obj: dict) -> Iterator[Issue]:
    fmt = format_of(obj)
    if fmt is None:
        yield (
            pointer("contents"),
            "vertex.contents.missing",
            ERROR,
            "the line has no 'contents': put the conversation in contents "
            '[{"role": "user", "parts": [{"text": ...}]}, {"role": "model", ...}]',
        )
        return
    if "contents" in obj and "messages" in obj:
        yield (
            pointer("messages"),
            "vertex.format.both",
            ERROR,
            "the line has both 'contents' and the older 'messages': keep only contents",
        )
    if fmt == "contents":
        yield from _check_contents(obj)
    else:
        yield from _check_messages(obj["messages"])


def _role_issue(role: object, where: str, allowed: tuple[str, ...]) -> Iterator[Issue]:
    hint = f" (use {_ROLE_HINT[role]!r})" if isinstance(role, str) and role in _ROLE_HINT else ""
    yield (
        where,
        "vertex.role.unknown",
        ERROR,
        f"{shown(role)} is not a valid role: use {' or '.join(allowed)}{hint}",
    )


def _check_parts(parts: object, prefix: tuple) -> Iterator[Issue]:
    if not isinstance(parts, list):
        return
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            continue
        present = [k for k in DATA_FIELDS if k in part]
        if len(present) != 1:
            yield (
                pointer(*prefix, j),
                "vertex.part.union",
                ERROR,
                (
                    f"a part holds {' and '.join(present)}; the data of a part can be only one "
                    "of text, fileData, inlineData, functionCall, functionResponse: split it"
                )
                if present
                else "a part needs one of text, fileData, inlineData, functionCall, functionResponse",
            )


def _check_contents(obj: dict) -> Iterator[Issue]:
    system = obj.get("systemInstruction")
    if isinstance(system, dict):
        yield from _check_parts(system.get("parts"), ("systemInstruction", "parts"))
    contents = obj.get("contents")
    if not isinstance(contents, list):
        return
    roles = []
    previous = None
    last = 0  # the index of the last turn object (a non-object turn has no role to point at)
    for i, turn in enumerate(contents):
        if not isinstance(turn, dict):
            continue
        last = i
        role = role_of(turn)
        roles.append(role)
        if role is not None and role not in CONTENT_ROLES:
            if role == "system":
                yield (
                    pointer("contents", i, "role"),
                    "vertex.role.system",
                    ERROR,
                    "contents cannot hold a system turn: move it to systemInstruction",
                )
            else:
                yield from _role_issue(role, pointer("contents", i, "role"), CONTENT_ROLES)
        yield from _check_parts(turn.get("parts"), ("contents", i, "parts"))
        # previous, not roles[-2]: after a leading turn that is not an object there is none
        if role == previous and role in CONTENT_ROLES:
            yield (
                pointer("contents", i, "role"),
                "vertex.role.alternation",
                WARNING,
                f"two {role} turns in a row; the documented examples alternate user and model",
            )
        previous = role
    if "model" not in roles:
        yield (
            pointer("contents"),
            "vertex.model.missing",
            ERROR,
            "the example has no model turn: add the response the model should learn",
        )
    elif roles[-1] is not None and roles[-1] != "model":
        yield (
            pointer("contents", last, "role"),
            "vertex.role.last",
            WARNING,
            "the last turn is not from the model; the documented examples end with the model",
        )


def _check_messages(messages: object) -> Iterator[Issue]:
    if not isinstance(messages, list):
        return
    roles = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        role = role_of(m)
        roles.append(role)
        if role is not None and role not in MESSAGE_ROLES:
            yield from _role_issue(role, pointer("messages", i, "role"), MESSAGE_ROLES)
        if role == "system" and i > 0:
            yield (
                pointer("messages", i, "role"),
                "vertex.system.position",
                ERROR,
                "the system role is optional and can only occur at the first message",
            )
    if "model" not in roles:
        yield (
            pointer("messages"),
            "vertex.model.missing",
            ERROR,
            "the example has no model message: add the response the model should learn",
        )


def file_rules() -> FormatTracker:
    return FormatTracker("vertex.format.mixed", format_of, "format")
