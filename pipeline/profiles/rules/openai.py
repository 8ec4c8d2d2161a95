"""Rules for OpenAI's (and Azure OpenAI's) chat fine-tuning format, beyond its JSON Schema.

Facts and their status come from reference/providers.md §1 and §2: what the provider confirms is
an error, what it leaves unconfirmed (role alternation, the last role) is a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeline.findings import ERROR, WARNING, pointer, shown
from pipeline.profiles.rules.common import (
    IMAGE_DATA_URL,
    Issue,
    base64_issue,
    check_arguments,
    check_special_tokens,
    check_tool_calls,
    check_tools,
    count_images,
    image_too_large,
    images_of,
    message_texts,
    role_of,
    special_token_issues,
    text_of,
)
from pipeline.records import plain_message

ROLES = ("system", "user", "assistant", "tool", "function")
# The content part types each role takes in a fine-tuning example (S5 message schemas; S6: "Input
# messages may contain text or image content only", so no input_audio or file parts). An image in
# an assistant message is reported by the image rules, not as a part type.
PART_TYPES = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url"),
    "assistant": ("text", "refusal"),
    "tool": ("text",),
}
ANY_PART_TYPE = ("text", "image_url", "refusal")


def check_chat(obj: dict, max_images: int = 10, rule: str = "openai") -> Iterator[Issue]:
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return
    yield from check_messages(messages, ("messages",), max_images, rule, require_assistant=True)
    yield from check_tools(obj.get("tools"), rule)
    yield from check_tools(obj.get("functions"), rule, "functions")


# A tuple, not a set: ``in`` compares, so a role that is a list or an object (the schema reports
# it) cannot raise TypeError: unhashable here.
_PLAIN = ("user", "assistant", "system")


def check_messages(
    messages: list,
    prefix: tuple,
    max_images: int,
    rule: str,
    require_assistant: bool,
) -> list[Issue]:
    """Every issue of a message list. A plain ``{role, content}`` text message takes a short path
    (this is the hot loop of ``ftprep validate``); anything else gets every check."""
    issues: list[Issue] = []
    trained = 0
    n_images = 0
    previous = None
    has_user = has_assistant = False
    tooled = False
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        content = m.get("content")
        if plain_message(m) and role in _PLAIN and content:
            if role == "assistant":
                trained += 1
                has_assistant = True
            elif role == "user":
                has_user = True
            if "<|" in content:
                issues.extend(_special_tokens(content, prefix + (i, "content"), rule))
        else:
            where = prefix + (i,)
            role = role_of(m)
            has_user = has_user or role == "user"
            has_assistant = has_assistant or role == "assistant"
            tooled = tooled or "tool_calls" in m or role in ("tool", "function")
            if role == "developer":
                issues.append(
                    (
                        pointer(*where, "role"),
                        f"{rule}.role.developer",
                        WARNING,
                        "role 'developer' is documented for reinforcement fine-tuning only; "
                        "use 'system' for supervised examples",
                    )
                )
            elif role is not None and role not in ROLES:
                issues.append(
                    (
                        pointer(*where, "role"),
                        f"{rule}.role.unknown",
                        ERROR,
                        f"{shown(role)} is not a known role: use one of {', '.join(ROLES)}",
                    )
                )
            issues.extend(_check_weight(m, where, rule))
            issues.extend(_check_content(m, role, where, rule))
            issues.extend(_check_parts(content, role, where, rule))
            images = images_of(content)
            n_images += len(images)
            issues.extend(_check_images(images, role, where, rule))
            issues.extend(_check_calls(m, role, where, rule))
            if role == "assistant" and m.get("weight", 1) != 0:
                trained += 1
            text = text_of(content)
            if "<|" in text:
                issues.extend(_special_tokens(text, where + ("content",), rule))
            for path, what, field in message_texts(m):
                if "<|" in field:
                    issues.extend(_special_tokens(field, where + path, rule, what))
        if role == previous and role in ("user", "assistant"):
            issues.append(
                (
                    pointer(*prefix, i, "role"),
                    f"{rule}.role.repeated",
                    WARNING,
                    f"two {role} messages in a row; merge them unless the repetition is intended",
                )
            )
        previous = role
    if require_assistant and not has_user:
        issues.append(
            (
                pointer(*prefix),
                f"{rule}.user.missing",
                WARNING,
                "the example has no user message: the model learns replies without a question",
            )
        )
    if require_assistant and not has_assistant:
        issues.append(
            (
                pointer(*prefix),
                f"{rule}.assistant.missing",
                ERROR,
                "the example has no assistant message: add the reply the model should learn",
            )
        )
    elif require_assistant and trained == 0:
        issues.append(
            (
                pointer(*prefix),
                f"{rule}.weight.none_trained",
                WARNING,
                "every assistant message has weight 0, so the example trains nothing",
            )
        )
    if n_images > max_images:
        issues.append(
            (
                pointer(*prefix),
                f"{rule}.images.too_many",
                ERROR,
                f"{n_images} images in one example; at most {max_images} are allowed",
            )
        )
    if tooled:
        issues.extend(check_tool_calls(messages, prefix, rule))
    return issues


def _special_tokens(text: str, where: tuple, rule: str, what: str = "content") -> Iterator[Issue]:
    return special_token_issues(text, pointer(*where), f"{rule}.content.special_token", what)


def _check_weight(m: dict, where: tuple, rule: str) -> Iterator[Issue]:
    if "weight" not in m:
        return
    weight = m["weight"]
    if m.get("role") != "assistant":
        yield (
            pointer(*where, "weight"),
            f"{rule}.weight.role",
            WARNING,
            "weight only applies to assistant messages; remove it here",
        )
    elif isinstance(weight, bool) or weight not in (0, 1):
        yield (
            pointer(*where, "weight"),
            f"{rule}.weight.invalid",
            ERROR,
            f"{shown(weight)} is not 0 or 1",
        )


def _check_content(m: dict, role: Any, where: tuple, rule: str) -> Iterator[Issue]:
    content = m.get("content")
    has_call = bool(m.get("tool_calls")) or bool(m.get("function_call"))
    if role == "assistant":
        if (content is None or content == "") and not has_call:
            yield (
                pointer(*where, "content"),
                f"{rule}.content.empty",
                ERROR,
                "assistant message has no content and no tool_calls: write the reply or remove the message",
            )
    elif role in ("system", "user", "tool") and (content is None or content == ""):
        yield (
            pointer(*where, "content"),
            f"{rule}.content.empty",
            ERROR if content is None else WARNING,
            f"{role} message has {'no' if content is None else 'empty'} content",
        )


def _check_parts(content: Any, role: str | None, where: tuple, rule: str) -> Iterator[Issue]:
    """Each content part has a type this role takes, and the field that type reads."""
    if not isinstance(content, list):
        return
    accepted = PART_TYPES.get(role, ANY_PART_TYPE)  # role: a string or None, never unhashable
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str):
            continue  # not an object, or no string type: the schema reports it
        if kind == "image_url" and role == "assistant":
            continue  # the image rules report an image in an assistant message
        part_where = pointer(*where, "content", j)
        if kind not in accepted:
            whose = f"a {role} message" if role in PART_TYPES else "a message"
            why = (
                " (audio and file inputs are not supported for fine-tuning)"
                if kind in ("input_audio", "file")
                else ""
            )
            yield (
                part_where + "/type",
                f"{rule}.content.part_type",
                ERROR,
                f"content part type {shown(kind)} is not accepted in {whose}{why}: use "
                f"{' or '.join(map(repr, accepted))} parts",
            )
        elif kind == "text" and "text" not in part:
            yield (
                part_where + "/text",
                f"{rule}.content.part_missing",
                ERROR,
                "a text part needs its 'text' string: add the text or remove the part",
            )
        elif kind == "refusal" and not isinstance(part.get("refusal"), str):
            yield (
                part_where + "/refusal",
                f"{rule}.content.part_missing",
                ERROR,
                "a refusal part needs its 'refusal' string: add the refusal text or remove the part",
            )
        elif kind == "image_url" and "image_url" not in part:
            yield (
                part_where + "/image_url",
                f"{rule}.content.part_missing",
                ERROR,
                "an image_url part needs its 'image_url' object: add {\"url\": ...} or remove "
                "the part",
            )


def _check_calls(m: dict, role: str | None, where: tuple, rule: str) -> Iterator[Issue]:
    """A tool message names the call it answers; a legacy function call has JSON arguments; the
    tool calls of one message have distinct ids."""
    if role == "tool" and "tool_call_id" not in m:
        yield (
            pointer(*where, "tool_call_id"),
            f"{rule}.tool.call_id_missing",
            ERROR,
            "a tool message needs the 'tool_call_id' of the call it answers: add it",
        )
    fn = m.get("function_call")
    if isinstance(fn, dict):
        yield from check_arguments(
            fn.get("arguments"),
            pointer(*where, "function_call", "arguments"),
            f"{rule}.tool_call.arguments",
        )
    calls = m.get("tool_calls")
    if isinstance(calls, list) and len(calls) > 1:
        seen: set[str] = set()
        for j, call in enumerate(calls):
            cid = call.get("id") if isinstance(call, dict) else None
            if not isinstance(cid, str):
                continue  # the schema reports a missing or non-string id
            if cid in seen:
                yield (
                    pointer(*where, "tool_calls", j, "id"),
                    f"{rule}.tool_call.duplicate_id",
                    WARNING,
                    f"tool call id {cid!r} is used twice in this message, so the tool results "
                    "cannot be told apart (whether the provider rejects the line is "
                    "unconfirmed): give each call its own id",
                )
            seen.add(cid)


def _check_images(images: list, role: Any, where: tuple, rule: str) -> Iterator[Issue]:
    for j, part in images:
        part_where = pointer(*where, "content", j)
        if role == "assistant":
            yield (
                part_where,
                f"{rule}.images.assistant",
                ERROR,
                "images cannot be part of an assistant message: move the image to a user message",
            )
        url = (
            part.get("image_url", {}).get("url")
            if isinstance(part.get("image_url"), dict)
            else None
        )
        if not isinstance(url, str) or not url.startswith("data:"):
            continue
        match = IMAGE_DATA_URL.match(url)
        if not match:
            yield (
                part_where + "/image_url/url",
                f"{rule}.images.format",
                ERROR,
                "images must be JPEG, PNG or WEBP (data:image/jpeg|png|webp;base64,...)",
            )
            continue
        payload = url[match.end() :]
        problem = base64_issue(payload)
        if problem:
            yield (part_where + "/image_url/url", f"{rule}.images.base64", *problem)
        elif too_large := image_too_large(payload):
            # the service's skip reason "image too large" (S5)
            yield (
                part_where + "/image_url/url",
                f"{rule}.images.size",
                WARNING,
                too_large + "; the upload passes but training skips the image",
            )


def check_azure_chat(obj: dict) -> Iterator[Issue]:
    """Azure OpenAI: OpenAI's checks with Azure's limit of 64 images per example (S17)."""
    yield from check_chat(obj, max_images=64, rule="azure")


def check_dpo(obj: dict, rule: str = "openai") -> Iterator[Issue]:
    """OpenAI preference lines (S2, S5, S8): a text-only prompt ending before the answer, and one
    assistant message on each side."""
    for old, new in (
        ("preferred_completion", "preferred_output"),
        ("non_preferred_completion", "non_preferred_output"),
    ):
        if old in obj:
            yield (
                pointer(old),
                f"{rule}.dpo.key_name",
                WARNING,
                f"{old!r} is the name of an old spec draft; the API reads {new!r}: rename the key",
            )
    inp = obj.get("input")
    messages = inp.get("messages") if isinstance(inp, dict) else None
    if isinstance(messages, list):
        yield from check_messages(
            messages, ("input", "messages"), 10**9, rule, require_assistant=False
        )
        last = messages[-1] if messages else None
        if isinstance(last, dict) and last.get("role") == "assistant":
            yield (
                pointer("input", "messages", len(messages) - 1, "role"),
                f"{rule}.dpo.last_role",
                ERROR,
                "the prompt ends with an assistant message; the preferred and non-preferred "
                "outputs must be the last assistant message: end input.messages with a user turn",
            )
        yield from check_tools(inp.get("tools"), rule)
    sides = {}
    for key in ("preferred_output", "non_preferred_output"):
        out = obj.get(key)
        if not isinstance(out, list):
            continue
        sides[key] = out
        yield from _check_output(out, key, rule)
    if len(sides) == 2 and sides["preferred_output"] == sides["non_preferred_output"]:
        yield (
            pointer("non_preferred_output"),
            f"{rule}.dpo.identical",
            WARNING,
            "the preferred and non-preferred outputs are identical, so the pair teaches nothing",
        )


def _check_output(out: list, key: str, rule: str) -> Iterator[Issue]:
    for j, m in enumerate(out):
        if not isinstance(m, dict):
            continue
        where = (key, j)
        content = m.get("content")
        if m.get("role") == "assistant" and not content and not m.get("tool_calls"):
            yield (
                pointer(*where, "content"),
                f"{rule}.content.empty",
                ERROR,
                "the output has no content and no tool_calls: write the answer",
            )
        if images_of(content):
            yield (
                pointer(*where, "content"),
                f"{rule}.dpo.images",
                ERROR,
                "preference fine-tuning is text-only: remove the image",
            )
        role = role_of(m)
        yield from _check_parts(content, role, where, rule)
        yield from _check_calls(m, role, where, rule)
    if rule == "azure" and not any(
        isinstance(m, dict) and m.get("role") == "assistant" for m in out
    ):
        yield (
            pointer(key),
            f"{rule}.dpo.assistant_missing",
            ERROR,
            f"{key} must contain at least one assistant message",
        )
    yield from check_special_tokens(out, (key,), f"{rule}.content.special_token")
    yield from check_tool_calls(out, (key,), rule)


def check_dpo_images(obj: dict, rule: str) -> Iterator[Issue]:
    inp = obj.get("input")
    messages = inp.get("messages") if isinstance(inp, dict) else None
    if isinstance(messages, list) and count_images(messages):
        yield (
            pointer("input", "messages"),
            f"{rule}.dpo.images",
            ERROR,
            "preference fine-tuning is text-only (S2, S8): remove the images from the prompt",
        )


def check_openai_dpo(obj: dict) -> Iterator[Issue]:
    yield from check_dpo(obj, "openai")
    yield from check_dpo_images(obj, "openai")


def check_azure_dpo(obj: dict) -> Iterator[Issue]:
    yield from check_dpo(obj, "azure")
    yield from check_dpo_images(obj, "azure")


def check_completion(obj: dict, rule: str = "openai") -> Iterator[Issue]:
    """Legacy prompt/completion lines (S5, S11: the checks of openai tools fine_tunes.prepare_data)."""
    completion = obj.get("completion")
    if isinstance(completion, str) and not completion.strip():
        yield (
            pointer("completion"),
            f"{rule}.completion.empty",
            ERROR,
            "completion is empty: write the text the model should produce",
        )
    extra = [k for k in obj if k not in ("prompt", "completion")]
    if extra:
        yield (
            pointer(extra[0]),
            f"{rule}.completion.extra_key",
            WARNING,
            f"each line should hold exactly prompt and completion; remove {', '.join(map(repr, extra))}",
        )
    for key in ("prompt", "completion"):
        text = text_of(obj.get(key))
        if "<|" in text:
            yield from special_token_issues(
                text, pointer(key), f"{rule}.content.special_token", key
            )
