"""Repairs: defects a tool can mend without guessing, each of a named kind.

Safe kinds cannot change what a provider trains on, and ``ftprep run`` applies them while it
converts: ``role-alias`` (a role written in another tool's vocabulary, such as Gemini's ``model``
or ShareGPT's ``human`` and ``gpt`` inside ``role``, or in capitals), ``tool-arguments`` (a tool
call's ``arguments`` given as a JSON object instead of the JSON string providers take),
``double-encoded`` (arguments, or a ``tools`` list, encoded as JSON twice) and ``legacy-markers``
(the separator at the end of each prompt, the space at the start and the stop marker at the end
of each completion that OpenAI's old ``prepare_data`` asked for, removed only when every
prompt/completion record of a file follows them, and kept for the openai-completion profile,
whose format they belong to). Opt-in kinds change content, so they run only when asked for
(``--fix``): ``merge-turns`` (consecutive messages of one role joined) and
``strip-special-tokens`` (special-token strings such as ``<|endoftext|>`` removed from text).

Every function here is copy-on-write: it returns new lists and objects where it changes
something and never mutates what it was given, so the raw record a rejection keeps is the one
that was read. Each change is ``(kind, pointer)``, the pointer relative to what was repaired.
``repair_line`` mends one line of a provider's format (``ftprep fix``), ``repair_example`` a
canonical Example (``ftprep run``), and ``fix_hints`` names the kind that would clear a finding.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterable
from typing import Any

import orjson

SAFE_KINDS = ("role-alias", "tool-arguments", "double-encoded", "legacy-markers")
OPT_IN_KINDS = ("merge-turns", "strip-special-tokens")
KINDS = SAFE_KINDS + OPT_IN_KINDS
WHAT = {
    "role-alias": "role names of other tools mapped to the provider's",
    "tool-arguments": "tool-call arguments given as objects written as JSON strings",
    "double-encoded": "values encoded as JSON twice decoded once",
    "legacy-markers": "prepare_data's prompt separator and completion stop marker removed",
    "merge-turns": "consecutive messages of one role merged",
    "strip-special-tokens": "special-token strings removed from text",
}
# Profiles whose own format is the legacy prompt/completion convention: the markers stay.
KEEPS_LEGACY_MARKERS = frozenset({"openai-completion"})

Change = tuple[str, str]  # (kind, pointer)

# Roles other tools write, and the canonical role each stands for. Canonical names written in
# capitals or with spaces around them are aliases too.
ROLE_ALIASES = {
    "human": "user",
    "gpt": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "chatgpt": "assistant",
    "ai": "assistant",
}
CANONICAL_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_RIGHT = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
SPECIAL_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>")


def check_kinds(kinds: Iterable[str], what: str = "--fix") -> list[str]:
    """The kinds named, checked: a ValueError names an unknown one and lists the known."""
    named = [k.strip() for k in kinds if k.strip()]
    unknown = [k for k in named if k not in KINDS]
    if unknown:
        raise ValueError(f"{what}: unknown repair kind {unknown[0]!r}; known: {', '.join(KINDS)}")
    return named


def assistant_role(profile: str) -> str:
    """The name a profile's line format gives the assistant role."""
    return "model" if profile == "vertex-gemini" else "assistant"


def aliased_role(role: Any, assistant: str = "assistant") -> str | None:
    """The role an alias stands for in a format whose assistant role is ``assistant``, or None
    when ``role`` is no alias (already right, or unknown: validation reports those)."""
    if not isinstance(role, str):
        return None  # a list or an object: validation reports it
    if role in _RIGHT and (role != "assistant" or assistant == "assistant"):
        return None  # the common case, at no cost
    low = role.strip().lower()
    target = ROLE_ALIASES.get(low, low if low in CANONICAL_ROLES else None)
    if target == "assistant":
        target = assistant
    return target if target is not None and target != role else None


# --------------------------------------------------------------------------- messages


def _arguments(args: Any, kinds: frozenset) -> str | None:
    """The arguments string a call should hold, or None when it is right as it is."""
    if isinstance(args, (dict, list)) and "tool-arguments" in kinds:
        return json.dumps(args, ensure_ascii=False)
    if isinstance(args, str) and "double-encoded" in kinds and args[:1] == '"':
        try:
            inner = orjson.loads(args)
            if isinstance(inner, str) and isinstance(orjson.loads(inner), (dict, list)):
                return inner
        except orjson.JSONDecodeError:
            return None
    return None


def _function(fn: Any, where: str, kinds: frozenset) -> tuple[Any, list[Change]]:
    """A call's function object (``{name, arguments}``) with its arguments mended."""
    if not isinstance(fn, dict):
        return fn, []
    fixed = _arguments(fn.get("arguments"), kinds)
    if fixed is None:
        return fn, []
    kind = "double-encoded" if isinstance(fn.get("arguments"), str) else "tool-arguments"
    return {**fn, "arguments": fixed}, [(kind, f"{where}/arguments")]


def _stripped(text: Any) -> Any:
    return SPECIAL_TOKEN.sub("", text) if isinstance(text, str) and "<|" in text else text


def _strip_parts(parts: list, where: str) -> tuple[list, list[Change]]:
    out, changes = parts, []
    for j, part in enumerate(parts):
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            text = _stripped(part["text"])
            if text != part["text"]:
                out = list(out) if out is parts else out
                out[j] = {**part, "text": text}
                changes.append(("strip-special-tokens", f"{where}/{j}/text"))
    return out, changes


def repair_message(m: dict, where: str, kinds: frozenset, assistant: str) -> tuple[dict, list]:
    """One message repaired (a new object when anything changed) and its changes."""
    out, changes = m, []

    def put(key: str, value: Any) -> None:
        nonlocal out
        out = dict(out) if out is m else out
        out[key] = value

    if "role-alias" in kinds:
        role = aliased_role(m.get("role"), assistant)
        if role is not None:
            put("role", role)
            changes.append(("role-alias", f"{where}/role"))
    calls = m.get("tool_calls")
    if isinstance(calls, list) and kinds & {"tool-arguments", "double-encoded"}:
        fixed = list(calls)
        for j, call in enumerate(calls):
            if isinstance(call, dict):
                fn, found = _function(
                    call.get("function"), f"{where}/tool_calls/{j}/function", kinds
                )
                if found:
                    fixed[j] = {**call, "function": fn}
                    changes += found
        if fixed != calls:
            put("tool_calls", fixed)
    if kinds & {"tool-arguments", "double-encoded"}:
        fn, found = _function(m.get("function_call"), f"{where}/function_call", kinds)
        if found:
            put("function_call", fn)
            changes += found
    if "strip-special-tokens" in kinds:
        for key in ("content", "parts"):
            value = m.get(key)
            if isinstance(value, str) and _stripped(value) != value:
                put(key, _stripped(value))
                changes.append(("strip-special-tokens", f"{where}/{key}"))
            elif isinstance(value, list):
                parts, found = _strip_parts(value, f"{where}/{key}")
                if found:
                    put(key, parts)
                    changes += found
    return out, changes


_MERGEABLE_KEYS = frozenset({"role", "content", "weight", "name"})


def _mergeable(a: Any, b: Any) -> bool:
    return (
        isinstance(a, dict)
        and isinstance(b, dict)
        and a.get("role") == b.get("role")
        and a.get("role") in ("system", "user", "assistant")
        and isinstance(a.get("content"), str)
        and isinstance(b.get("content"), str)
        and set(a) <= _MERGEABLE_KEYS
        and set(b) <= _MERGEABLE_KEYS
        and a.get("weight") == b.get("weight")
        and a.get("name") == b.get("name")
    )


def merge_turns(messages: list, where: str) -> tuple[list, list[Change]]:
    """Consecutive text messages of one role (system, user or assistant, same name and weight)
    joined into one, their texts separated by a blank line."""
    out: list = []
    changes: list[Change] = []
    for i, m in enumerate(messages):
        if out and _mergeable(out[-1], m):
            out[-1] = {**out[-1], "content": out[-1]["content"] + "\n\n" + m["content"]}
            changes.append(("merge-turns", f"{where}/{i}"))
        else:
            out.append(m)
    return (out, changes) if changes else (messages, [])


def repair_messages(
    messages: list, where: str, kinds: frozenset, assistant: str = "assistant"
) -> tuple[list, list[Change]]:
    """A message list repaired (a new list when anything changed) and its changes."""
    out, changes = messages, []
    for i, m in enumerate(messages):
        if isinstance(m, dict):
            fixed, found = repair_message(m, f"{where}/{i}", kinds, assistant)
            if found:
                out = list(out) if out is messages else out
                out[i] = fixed
                changes += found
    if "merge-turns" in kinds:
        out, found = merge_turns(out, where)
        changes += found
    return out, changes


def _tools_list(value: Any) -> Any:
    """A ``tools`` value given as a JSON string that holds a list: the list (else None)."""
    if isinstance(value, str) and value.lstrip()[:1] == "[":
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        return decoded if isinstance(decoded, list) else None
    return None


# --------------------------------------------------------------------------- lines and Examples

# Where a provider's line holds message lists, and the top-level strings it trains on.
_LISTS = (
    ("messages",),
    ("input", "messages"),
    ("preferred_output",),
    ("non_preferred_output",),
    ("chosen",),
    ("rejected",),
    ("prompt",),
    ("completion",),
    ("contents",),
)
_STRINGS = ("prompt", "completion", "text", "chosen", "rejected")


def repair_line(obj: dict, kinds: frozenset, assistant: str = "assistant") -> tuple[dict, list]:
    """One line of a provider's format repaired: its message lists, a ``tools`` list encoded as
    a string, and (strip-special-tokens) its top-level texts. Returns the line (a new object
    when anything changed) and the changes."""
    out, changes = obj, []

    def put(path: tuple, value: Any) -> None:
        nonlocal out
        out = dict(out) if out is obj else out
        if len(path) == 1:
            out[path[0]] = value
        else:
            out[path[0]] = {**out[path[0]], path[1]: value}

    for path in _LISTS:
        holder = obj if len(path) == 1 else obj.get(path[0])
        value = holder.get(path[-1]) if isinstance(holder, dict) else None
        if isinstance(value, list):
            fixed, found = repair_messages(value, "/" + "/".join(path), kinds, assistant)
            if found:
                put(path, fixed)
                changes += found
    if "double-encoded" in kinds:
        for path in (("tools",), ("input", "tools")):
            holder = obj if len(path) == 1 else obj.get(path[0])
            tools = _tools_list(holder.get(path[-1])) if isinstance(holder, dict) else None
            if tools is not None:
                put(path, tools)
                changes.append(("double-encoded", "/" + "/".join(path)))
    if "strip-special-tokens" in kinds:
        for key in _STRINGS:
            value = obj.get(key)
            if isinstance(value, str) and _stripped(value) != value:
                put((key,), _stripped(value))
                changes.append(("strip-special-tokens", f"/{key}"))
    return out, changes


def repair_example(ex: dict, kinds: frozenset) -> list[str]:
    """A canonical Example repaired in place (its message lists are replaced, never mutated);
    returns the kinds of repair it took, in the order of ``KINDS``."""
    changes: list[Change] = []
    for key in ("messages", "chosen", "rejected", "completion"):
        value = ex.get(key)
        if isinstance(value, list) and value:
            ex[key], found = repair_messages(value, f"/{key}", kinds)
            changes += found
    if "double-encoded" in kinds and _tools_list(ex.get("tools")) is not None:
        ex["tools"] = _tools_list(ex["tools"])
        changes.append(("double-encoded", "/tools"))
    return [k for k in KINDS if any(kind == k for kind, _ in changes)]


# --------------------------------------------------------------------------- legacy markers

# What OpenAI's prepare_data offered (and people copied): separators at the end of a prompt,
# endings of a completion. Longest first, so a record takes the longest one it ends with.
PROMPT_SEPARATORS = tuple(
    sorted(
        (" ->", "->", " =>", "\n\n###\n\n", "\n\n### =>\n\n", "\n\n===\n\n", "\n\n---\n\n",
         "\n\n===>\n\n", "\n\n--->\n\n", "\n###\n", "###"),
        key=len,
        reverse=True,
    )
)  # fmt: skip
STOP_MARKERS = tuple(
    sorted(
        (" END", " [END]", "[END]", "***", "+++", "&&&", "$$$", "@@@", "%%%", "\n\n###\n\n",
         "###", "<|endoftext|>", "</s>"),
        key=len,
        reverse=True,
    )
)  # fmt: skip
LEGACY = "+legacy"  # joins a file's shape and its convention: prompt_completion+legacy[...]


def legacy_keys(prompt: Any, completion: Any) -> list[str]:
    """The counting keys of one prompt/completion record's markers (strings only): its prompt
    separator, its completion's stop marker and whether it starts with a space."""
    if not (isinstance(prompt, str) and isinstance(completion, str)):
        return []
    sep = next((s for s in PROMPT_SEPARATORS if prompt.endswith(s)), "")
    stop = next((s for s in STOP_MARKERS if completion.endswith(s)), "")
    return [f"~sep:{sep}", f"~stop:{stop}", f"~space:{int(completion.startswith(' '))}"]


def legacy_convention(counts: collections.Counter, records: int) -> tuple | None:
    """(separator, stop marker, leading space) when all ``records`` prompt/completion records
    follow one separator or one stop marker; None otherwise."""

    def common(prefix: str) -> str:
        found = [k[len(prefix) :] for k, n in counts.items() if k.startswith(prefix) and n]
        return found[0] if len(found) == 1 and counts[prefix + found[0]] == records else ""

    sep, stop = common("~sep:"), common("~stop:")
    if records <= 0 or not (sep or stop):
        return None
    return sep, stop, counts["~space:1"] == records


def with_convention(shape: str, convention: tuple | None) -> str:
    return shape if convention is None else shape + LEGACY + orjson.dumps(convention).decode()


def split_shape(file_shape: str | None) -> tuple[str | None, tuple | None]:
    """A file shape and its legacy convention, from ``with_convention``'s string."""
    if file_shape is None or LEGACY not in file_shape:
        return file_shape, None
    shape, _, encoded = file_shape.partition(LEGACY)
    return shape, tuple(orjson.loads(encoded))


def describe_convention(convention: tuple, records: int) -> str:
    sep, stop, space = convention
    parts = [f"the separator {sep!r} at the end of each prompt"] if sep else []
    ending = [f"the stop marker {stop!r} at the end"] if stop else []
    ending += ["the space at the start"] if space else []
    if ending:
        parts.append(" and ".join(ending) + " of each completion")
    return (
        f"legacy prompt/completion convention of OpenAI's prepare_data ({records:,} records follow it): "
        + "; ".join(parts)
    )


def strip_legacy(prompt: str, completion: str, convention: tuple) -> tuple[str, str, bool]:
    """A prompt and completion without the file's legacy markers (where they carry them)."""
    sep, stop, space = convention
    new_prompt = prompt[: -len(sep)] if sep and prompt.endswith(sep) else prompt
    new_completion = completion[: -len(stop)] if stop and completion.endswith(stop) else completion
    if space and new_completion.startswith(" "):
        new_completion = new_completion[1:]
    return new_prompt, new_completion, (new_prompt, new_completion) != (prompt, completion)


# --------------------------------------------------------------------------- hints


def _related(a: str, b: str) -> bool:
    return bool(b) and (a == b or a.startswith(b + "/") or b.startswith(a + "/"))


def fix_hints(profile: Any, obj: Any, issues: list, kinds: Iterable[str] = KINDS) -> dict[int, str]:
    """Which repair kind clears each of a line's findings (by index), where one does: a kind
    whose change touches the finding's place and whose repair leaves fewer findings of that
    rule. ``legacy-markers`` needs the whole file and is never named here."""
    from pipeline.stages.validate import validate_record

    if not isinstance(obj, dict) or not issues:
        return {}
    assistant = assistant_role(profile.name)
    hints: dict[int, str] = {}
    for kind in kinds:
        if kind == "legacy-markers":
            continue
        fixed, changes = repair_line(obj, frozenset({kind}), assistant)
        if not changes:
            continue
        before = collections.Counter(rule for _, rule, _, _ in issues)
        after = collections.Counter(rule for _, rule, _, _ in validate_record(profile, fixed))
        for k, (where, rule, _, _) in enumerate(issues):
            if k in hints or after[rule] >= before[rule]:
                continue
            if any(_related(pointer, where) for _, pointer in changes):
                hints[k] = kind
    return hints


def hinted(issues: list, hints: dict[int, str], how: str = "fix") -> list:
    """The issues with the repair named at the end of each message that has one: ``ftprep fix
    --only KIND`` (``how`` fix) or ``--fix KIND`` (``how`` run)."""
    if not hints:
        return issues
    out = list(issues)
    for k, kind in hints.items():
        where, rule, severity, message = out[k]
        tool = f"`ftprep fix --only {kind}`" if how == "fix" else f"`--fix {kind}`"
        out[k] = (where, rule, severity, f"{message}; {tool} repairs it")
    return out
