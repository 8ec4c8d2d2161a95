"""Rules for Mistral's fine-tuning format (mistral-finetune's validate_data and mistral_common's
finetuning validator, reference/providers.md §6, S36 and S38).

Whether La Plateforme runs exactly these checks server-side is unconfirmed; the checks themselves
are the ones Mistral's own validator runs, so they are errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pipeline.findings import ERROR, pointer, shown
from pipeline.profiles.rules.common import (
    Issue,
    check_function_name,
    check_tool_calls,
    check_weight_01,
    role_of,
)

ROLES = ("system", "user", "assistant", "tool")
TOOL_CALL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
# mistral_common HEAD: which role may follow which (S38). v1.3.1 did not allow tool -> user.
NEXT = {
    "system": ("user", "assistant", "system"),
    "user": ("assistant", "system", "user"),
    "assistant": ("assistant", "user", "tool"),
    "tool": ("assistant", "tool", "user"),
}


def check(obj: dict) -> Iterator[Issue]:
    if "messages" in obj and "interactions" in obj:
        yield (
            "",
            "mistral.conversation.both_keys",
            ERROR,
            "the conversation has both 'messages' and 'interactions': keep only one of the two",
        )
    key = "messages" if "messages" in obj else "interactions" if "interactions" in obj else None
    if key is None:
        yield (
            pointer("messages"),
            "mistral.conversation.missing",
            ERROR,
            f"the line has no 'messages' (or 'interactions') key, only {', '.join(map(repr, obj)) or 'none'}: "
            "put the conversation in 'messages'",
        )
        return
    if "tools" in obj and "available_tools" in obj:
        yield (
            "",
            "mistral.tools.both_keys",
            ERROR,
            "the line has both 'available_tools' and 'tools': keep only one",
        )
    for tkey in ("tools", "available_tools"):
        tools = obj.get(tkey)
        for i, tool in enumerate(tools if isinstance(tools, list) else []):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(fn, dict):
                yield from check_function_name(
                    fn.get("name"), pointer(tkey, i, "function", "name"), "mistral.function.name"
                )
    messages = obj.get(key)
    if isinstance(messages, list):
        yield from _check_messages(messages, key)


def _check_messages(messages: list, key: str) -> Iterator[Issue]:
    previous = None
    systems = 0
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        where = (key, i)
        role = role_of(m)
        if role not in ROLES:
            if role is not None:
                yield (
                    pointer(*where, "role"),
                    "mistral.role.unknown",
                    ERROR,
                    f"{shown(role)} is not a known role: use one of {', '.join(ROLES)}",
                )
            continue
        yield from _check_content(m, role, where)
        yield from check_weight_01(m, where, "mistral")
        if role == "system":
            systems += 1
            if systems == 2:
                yield (
                    pointer(*where),
                    "mistral.system.multiple",
                    ERROR,
                    "multiple messages with role 'system': only one is allowed; merge them",
                )
        if previous is not None and role not in NEXT[previous]:
            yield (
                pointer(*where, "role"),
                "mistral.role.order",
                ERROR,
                f"unexpected role {shown(role)} after role {previous!r}: after {previous} comes "
                f"{' or '.join(NEXT[previous])}",
            )
        previous = role
        tool_calls = m.get("tool_calls")
        if isinstance(tool_calls, list):
            for j, call in enumerate(tool_calls):
                cid = call.get("id") if isinstance(call, dict) else None
                if isinstance(cid, str) and not TOOL_CALL_ID.match(cid):
                    yield (
                        pointer(*where, "tool_calls", j, "id"),
                        "mistral.tool_call.id",
                        ERROR,
                        f"tool call id {cid!r} must be exactly 9 characters of a-z, A-Z, 0-9",
                    )
        if role == "tool":
            cid = m.get("tool_call_id")
            if cid is None:
                yield (
                    pointer(*where, "tool_call_id"),
                    "mistral.tool.call_id_missing",
                    ERROR,
                    "a tool message needs the 'tool_call_id' of the call it answers",
                )
            elif isinstance(cid, str) and not TOOL_CALL_ID.match(cid):
                yield (
                    pointer(*where, "tool_call_id"),
                    "mistral.tool_call.id",
                    ERROR,
                    f"tool call id {cid!r} must be exactly 9 characters of a-z, A-Z, 0-9",
                )
    # the message objects' indices and roles
    objects = [(i, role_of(m)) for i, m in enumerate(messages) if isinstance(m, dict)]
    roles = [role for _, role in objects]
    # mistral-finetune lifts system messages into the system prompt, then validates the rest
    # (S36 tokenize.py build_instruct_sample; S38 "Conversation must start with a user message
    # or system message" for a single message)
    rest = [(i, role) for i, role in objects if role != "system"]
    if len(rest) == 1 and rest[0][1] is not None and rest[0][1] != "user":
        yield (
            pointer(key, rest[0][0], "role"),
            "mistral.role.first",
            ERROR,
            f"apart from the system message the conversation holds one {rest[0][1]} message; "
            "Mistral lifts the system message out and then needs the conversation to start with "
            "a user message: add the user turn before it",
        )
    if roles and roles[-1] is not None and roles[-1] != "assistant":
        yield (
            pointer(key, objects[-1][0], "role"),
            "mistral.role.last",
            ERROR,
            f"expected last role assistant for fine-tuning but got {roles[-1]!r}: "
            "end the conversation with the assistant reply",
        )
    yield from _check_call_counts(messages, key)
    yield from (
        issue
        for issue in check_tool_calls(messages, (key,), "mistral")
        if issue[1] != "mistral.tool.unmatched"  # the v3 validator does not match ids (S38)
    )


def _check_call_counts(messages: list, key: str) -> Iterator[Issue]:
    """Tool responses against calls, as mistral_common counts them in fine-tuning mode (S38
    ``_validate_tool_calls_followed_by_tool_messages``, the system messages lifted out as
    mistral-finetune does): an assistant message may come only once the previous calls are all
    answered; at the end, calls left unanswered are tolerated, extra responses are not."""
    rest = [
        (i, m) for i, m in enumerate(messages) if isinstance(m, dict) and role_of(m) != "system"
    ]
    pending = 0
    for n, (i, m) in enumerate(rest):
        role = role_of(m)
        if n == 0:
            continue
        if role == "tool":
            pending -= 1
        elif role == "assistant":
            if pending:
                what = "unanswered" if pending > 0 else "extra"
                yield (
                    pointer(key, i),
                    "mistral.tool_call.count",
                    ERROR,
                    f"{abs(pending)} {what} tool call response(s) before this assistant message: "
                    "answer each tool call with exactly one tool message before the assistant "
                    "speaks again",
                )
            calls = m.get("tool_calls")
            pending = len(calls) if isinstance(calls, list) else 0
    if pending < 0:
        yield (
            pointer(key),
            "mistral.tool_call.count",
            ERROR,
            f"{-pending} more tool response(s) than tool calls: remove the extra tool messages or "
            "add the calls they answer",
        )


def _check_content(m: dict, role: str, where: tuple) -> Iterator[Issue]:
    has_content = "content" in m and m["content"] is not None
    if "content" in m and "text" in m:
        yield (
            pointer(*where),
            "mistral.message.content_and_text",
            ERROR,
            f"a {role} message has both 'text' and 'content': keep only one of the two",
        )
    if m.get("tool_calls"):
        if m.get("content") or m.get("text"):
            yield (
                pointer(*where, "content"),
                "mistral.assistant.content_and_tool_calls",
                ERROR,
                "an assistant message has both content and tool_calls; mistral-finetune checks "
                "with the v3 validator, which takes one or the other (S36, S38): move the text "
                "to an assistant message of its own",
            )
        return
    if not has_content and "text" not in m:
        yield (
            pointer(*where, "content"),
            "mistral.message.content_missing",
            ERROR,
            f"a {role} message has no 'content': write it, or give the assistant tool_calls",
        )
    elif role == "assistant" and not (m.get("content") or m.get("text")):
        yield (
            pointer(*where, "content"),
            "mistral.assistant.content_empty",
            ERROR,
            "the assistant reply is empty; mistral_common refuses an assistant message with "
            "neither content nor tool_calls (S38): write the reply or drop the example",
        )
