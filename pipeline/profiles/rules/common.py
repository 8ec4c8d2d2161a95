"""Checks shared by several providers' chat formats: roles, tool calls, names, special tokens, images."""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from pipeline.findings import ERROR, WARNING, pointer, shown

Issue = tuple[str, str, str, str]  # pointer, rule, severity, message

FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|endofprompt|>",
)
IMAGE_DATA_URL = re.compile(r"^data:image/(jpeg|jpg|png|webp);base64,", re.IGNORECASE)
IMAGE_MAX_BYTES = 10 * 1024 * 1024  # "Each image can be at most 10 MB" (OpenAI, Azure, Together)


def text_of(content: Any) -> str:
    """The text of a message content: the string, or the text parts of a list joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def images_of(content: Any) -> list[tuple[int, dict]]:
    if not isinstance(content, list):
        return []
    return [
        (i, p)
        for i, p in enumerate(content)
        if isinstance(p, dict) and p.get("type") == "image_url"
    ]


def role_of(m: Any) -> str | None:
    """A message's role when it is a string; None when it is missing or of another type (a list,
    an object, a number, null), or the message is not an object: the schema reports those, and
    the rules skip them."""
    role = m.get("role") if isinstance(m, dict) else None
    return role if isinstance(role, str) else None


def special_token_issues(
    text: str, where: str, rule: str, what: str = "content", severity: str = ERROR, note: str = ""
) -> Iterator[Issue]:
    """One issue per special token in ``text`` (the caller tests ``"<|" in text`` first)."""
    for token in SPECIAL_TOKENS:
        if token in text:
            yield (
                where,
                rule,
                severity,
                f"{what} contains the special token {token}, which the provider rejects"
                f"{note}: remove it or break it up (e.g. '<| endoftext |>')",
            )


_CALL_FIELD = {"name": "the function name", "arguments": "the arguments string"}


def message_texts(m: dict) -> Iterator[tuple[tuple, str, str]]:
    """The strings of a message besides its content text that are tokenized with it, as
    ``(path in the message, what, text)``: its name, its refusal (field or content part), and the
    names and arguments of its tool calls and legacy function call. Values of another type are the
    schema's to report and are skipped."""
    name = m.get("name")
    if isinstance(name, str):
        yield ("name",), "name", name
    refusal = m.get("refusal")
    if isinstance(refusal, str):
        yield ("refusal",), "refusal", refusal
    content = m.get("content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            if isinstance(part, dict) and isinstance(part.get("refusal"), str):
                yield ("content", j, "refusal"), "refusal", part["refusal"]
    calls = m.get("tool_calls")
    if isinstance(calls, list):
        for j, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                for key in ("name", "arguments"):
                    if isinstance(fn.get(key), str):
                        yield ("tool_calls", j, "function", key), _CALL_FIELD[key], fn[key]
    fn = m.get("function_call")
    if isinstance(fn, dict):
        for key in ("name", "arguments"):
            if isinstance(fn.get(key), str):
                yield ("function_call", key), _CALL_FIELD[key], fn[key]


def check_special_tokens(messages: list, prefix: tuple, rule: str) -> Iterator[Issue]:
    """Special tokens in each message's content text, name, refusal and call names/arguments."""
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        text = text_of(m.get("content"))
        if "<|" in text:
            yield from special_token_issues(text, pointer(*prefix, i, "content"), rule)
        for path, what, text in message_texts(m):
            if "<|" in text:
                yield from special_token_issues(text, pointer(*prefix, i, *path), rule, what)


def check_function_name(name: Any, where: str, rule: str) -> Iterator[Issue]:
    if isinstance(name, str) and not FUNCTION_NAME.match(name):
        yield (
            where,
            rule,
            ERROR,
            f"function name {name!r} must be 1 to 64 characters of a-z, A-Z, 0-9, _ or -",
        )


def check_tools(tools: Any, rule_prefix: str, key: str = "tools") -> Iterator[Issue]:
    """Tool definitions (``tools``: ``{type, function}``; legacy ``functions``: the function
    objects themselves): valid function names (``tools`` only), and no special tokens in the
    descriptions (a warning: the provider's rejection is confirmed for message text only, S33)."""
    if not isinstance(tools, list):
        return
    for i, tool in enumerate(tools):
        if key == "tools":
            fn = tool.get("function") if isinstance(tool, dict) else None
            where: tuple = (key, i, "function")
        else:
            fn, where = tool, (key, i)
        if not isinstance(fn, dict):
            continue
        if key == "tools":
            yield from check_function_name(
                fn.get("name"), pointer(*where, "name"), f"{rule_prefix}.function.name"
            )
        description = fn.get("description")
        if isinstance(description, str) and "<|" in description:
            yield from special_token_issues(
                description,
                pointer(*where, "description"),
                f"{rule_prefix}.tools.special_token",
                "the tool description",
                WARNING,
                " in message text (S33); whether it also rejects it in tool definitions is "
                "unconfirmed",
            )


def check_arguments(args: Any, where: str, rule: str) -> Iterator[Issue]:
    """A call's ``arguments``: a string holding JSON, encoded once (non-strings: the schema's)."""
    if not isinstance(args, str):
        return
    try:
        parsed = orjson.loads(args)
    except orjson.JSONDecodeError:
        yield (
            where,
            rule,
            ERROR,
            'arguments must be a string holding valid JSON (e.g. \'{"city": "Oslo"}\')',
        )
    else:
        if isinstance(parsed, str):
            yield (
                where,
                rule,
                WARNING,
                "arguments is JSON encoded twice (a string holding a JSON string): "
                "encode the arguments object once",
            )


def check_tool_calls(messages: list, prefix: tuple, rule_prefix: str) -> Iterator[Issue]:
    """Tool calls have JSON-string arguments and valid names; tool messages answer a call made before."""
    open_calls: dict[str, int] = {}
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        calls = m.get("tool_calls")
        if isinstance(calls, list):
            for j, call in enumerate(calls):
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict):
                    continue
                where = pointer(*prefix, i, "tool_calls", j, "function")
                yield from check_function_name(
                    fn.get("name"), where + "/name", f"{rule_prefix}.function.name"
                )
                yield from check_arguments(
                    fn.get("arguments"), where + "/arguments", f"{rule_prefix}.tool_call.arguments"
                )
                if isinstance(call, dict) and isinstance(call.get("id"), str):
                    open_calls[call["id"]] = i
        if m.get("role") == "tool":
            call_id = m.get("tool_call_id")
            if isinstance(call_id, str) and call_id not in open_calls:
                yield (
                    pointer(*prefix, i, "tool_call_id"),
                    f"{rule_prefix}.tool.unmatched",
                    ERROR,
                    f"tool message answers call id {call_id!r}, but no earlier assistant "
                    "message made a tool call with that id",
                )


def base64_issue(payload: str) -> tuple[str, str] | None:
    """``(severity, message)`` when the payload of a ``data:...;base64,`` URL is empty or does not
    decode as standard base64; None when it decodes. A payload that decodes only loosely (line
    breaks, missing ``=`` padding, the URL-safe alphabet) is a warning: whether the provider's
    decoder accepts it is unconfirmed."""
    if not payload:
        return (
            ERROR,
            "the image data URL has nothing after 'base64,': put the base64-encoded image there",
        )
    try:
        binascii.a2b_base64(payload, strict_mode=True)
        return None
    except ValueError:  # binascii.Error, or a non-ASCII character
        pass
    loose = "".join(payload.split()).replace("-", "+").replace("_", "/")
    loose += "=" * (-len(loose) % 4)
    try:
        if binascii.a2b_base64(loose, strict_mode=True):
            return (
                WARNING,
                "the image data is not standard base64 (line breaks, missing '=' padding or the "
                "URL-safe alphabet); whether the provider decodes it is unconfirmed: re-encode "
                "it with standard base64",
            )
    except ValueError:
        pass
    return (
        ERROR,
        "the image data URL says base64 but its data does not decode as base64: re-encode the "
        "image with standard base64",
    )


def decoded_size(payload: str) -> int:
    """The bytes a standard base64 payload decodes to, without decoding it."""
    return len(payload) * 3 // 4 - payload[-2:].count("=")


def image_too_large(payload: str) -> str | None:
    """A message when the image of a base64 payload is over ``IMAGE_MAX_BYTES``, else None."""
    size = decoded_size(payload)
    if size <= IMAGE_MAX_BYTES:
        return None
    return (
        f"the image is {size:,} bytes, over the {IMAGE_MAX_BYTES:,} (10 MiB) an image may have: "
        "resize or recompress it"
    )


def count_images(messages: Iterable) -> int:
    return sum(len(images_of(m.get("content"))) for m in messages if isinstance(m, dict))


def message_list(messages: Any) -> list[dict]:
    """The message objects of a list (non-objects are the schema's business)."""
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def check_weight_01(m: dict, where: tuple, rule: str, any_role: bool = False) -> Iterator[Issue]:
    """``weight`` is 0 or 1 (an int; not a bool); on other roles than assistant only a warning."""
    if "weight" not in m:
        return
    weight = m["weight"]
    if isinstance(weight, bool) or weight not in (0, 1):
        yield (
            pointer(*where, "weight"),
            f"{rule}.weight.invalid",
            ERROR,
            f"{shown(weight)} is not 0 or 1",
        )
    elif not any_role and m.get("role") != "assistant":
        yield (
            pointer(*where, "weight"),
            f"{rule}.weight.role",
            WARNING,
            "weight only applies to assistant messages; remove it here",
        )


class FormatTracker:
    """Whole-file rule: one format per file.

    Each line's format is recorded; at the end, lines whose format differs from the file's most
    common one (ties: the alphabetically first) are reported. The decision does not depend on line
    order, so shuffling a file changes only the line numbers of the findings. At most ``cap`` line
    numbers are kept per format (bounded memory); further lines are counted in one finding.
    """

    def __init__(
        self,
        rule: str,
        detect: Callable[[dict], str | None],
        what: str = "format",
        cap: int = 10_000,
    ) -> None:
        self.rule = rule
        self.detect = detect
        self.what = what
        self.cap = cap
        self.lines: dict[str, list[int]] = {}
        self.counts: dict[str, int] = {}

    def see(self, line: int, obj: dict) -> None:
        fmt = self.detect(obj)
        if fmt is None:
            return
        self.counts[fmt] = self.counts.get(fmt, 0) + 1
        kept = self.lines.setdefault(fmt, [])
        if len(kept) < self.cap:
            kept.append(line)

    def finish(self) -> Iterator[tuple[int, Issue]]:
        if len(self.counts) < 2:
            return
        main = min(self.counts, key=lambda f: (-self.counts[f], f))
        for fmt, lines in sorted(self.lines.items()):
            if fmt == main:
                continue
            message = (
                f"this line is in {fmt} {self.what} but most of the file ({self.counts[main]:,} "
                f"lines) is in {main} {self.what}: all lines of a file must share one {self.what}"
            )
            for line in lines:
                yield line, ("", self.rule, ERROR, message)
            rest = self.counts[fmt] - len(lines)
            if rest:
                yield 0, ("", self.rule, ERROR, f"{rest:,} more lines are in {fmt} {self.what}")
