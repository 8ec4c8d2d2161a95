"""Checks shared by several providers' chat formats: roles, tool calls, names, special tokens, images."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from pipeline.findings import ERROR, WARNING, pointer

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


def check_special_tokens(messages: list, prefix: tuple, rule: str) -> Iterator[Issue]:
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        text = text_of(m.get("content"))
        if "<|" not in text:
            continue
        for token in SPECIAL_TOKENS:
            if token in text:
                yield (
                    pointer(*prefix, i, "content"),
                    rule,
                    ERROR,
                    f"content contains the special token {token}, which the provider rejects: "
                    "remove it or break it up (e.g. '<| endoftext |>')",
                )


def check_function_name(name: Any, where: str, rule: str) -> Iterator[Issue]:
    if isinstance(name, str) and not FUNCTION_NAME.match(name):
        yield (
            where,
            rule,
            ERROR,
            f"function name {name!r} must be 1 to 64 characters of a-z, A-Z, 0-9, _ or -",
        )


def check_tools(tools: Any, rule_prefix: str) -> Iterator[Issue]:
    if not isinstance(tools, list):
        return
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict):
            yield from check_function_name(
                fn.get("name"),
                pointer("tools", i, "function", "name"),
                f"{rule_prefix}.function.name",
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
                args = fn.get("arguments")
                if isinstance(args, str):
                    try:
                        parsed = orjson.loads(args)
                    except orjson.JSONDecodeError:
                        yield (
                            where + "/arguments",
                            f"{rule_prefix}.tool_call.arguments",
                            ERROR,
                            'arguments must be a string holding valid JSON (e.g. \'{"city": "Oslo"}\')',
                        )
                    else:
                        if isinstance(parsed, str):
                            yield (
                                where + "/arguments",
                                f"{rule_prefix}.tool_call.arguments",
                                WARNING,
                                "arguments is JSON encoded twice (a string holding a JSON string): "
                                "encode the arguments object once",
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


def count_images(messages: Iterable) -> int:
    return sum(len(images_of(m.get("content"))) for m in messages if isinstance(m, dict))
