"""Convert stage: raw records -> canonical Examples.

Takes one raw record at a time (a parsed JSON value; CSV rows arrive as dicts of strings) plus the
shape chosen for its whole file, and yields an Example (``records.new_example`` filled in;
``id``, token counts, ``cluster`` and ``split`` left None; a ``text`` key added for plain-text
records) or a ``records.rejection`` with stage ``convert``. It drops records of no known shape
(``convert.unknown_shape``), JSON values that are neither objects nor lists of messages
(``convert.not_object``), records that lack keys the rest of their file has
(``convert.missing_field``) and records whose fields break their shape (``convert.invalid_field``,
``convert.unknown_role``, ``convert.no_prompt``), each with an RFC 6901 pointer into the raw record
and a message that says what to change. The engine counts ``shape_of`` over a whole file, calls
``choose_file_shape`` once, then calls ``convert_record`` per record. Content strings are copied
byte for byte, keys it does not understand go to ``meta`` or stay on their message, and nothing
here does I/O or raises on any JSON input.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.records import new_example, rejection

STAGE = "convert"

# Shape -> the keys that identify it. Used for detection and for the subset rule: a record whose
# shape's keys are a strict subset of the file shape's keys is missing a field.
SIGNATURES: dict[str, frozenset[str]] = {
    "openai_messages": frozenset({"messages"}),
    "prompt_completion": frozenset({"prompt", "completion"}),
    "alpaca": frozenset({"instruction", "output"}),
    "sharegpt": frozenset({"conversations"}),
    "sharegpt_preference": frozenset({"conversations", "chosen", "rejected"}),
    "dolly": frozenset({"instruction", "response"}),
    "question_answer": frozenset({"question", "answer"}),
    "preference": frozenset({"prompt", "chosen", "rejected"}),
    "preference_implicit": frozenset({"chosen", "rejected"}),
    "openai_dpo": frozenset({"input", "preferred_output", "non_preferred_output"}),
    "kto": frozenset({"prompt", "completion", "label"}),
    "kto_messages": frozenset({"messages", "label"}),
    "text": frozenset({"text"}),
    "bedrock_conversation": frozenset({"messages"}),
    "vertex_gemini": frozenset({"contents"}),
}
SHAPES: tuple[str, ...] = tuple(SIGNATURES)
CANONICAL_FIELDS = (
    "messages", "conversations", "prompt", "completion", "instruction", "input", "output",
    "system", "history", "context", "response", "question", "answer", "chosen", "rejected",
    "label", "text", "tools",
)  # fmt: skip

ROLE_ALIASES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "chatgpt": "assistant",
    "system": "system",
    "function_call": "function_call",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}
_JSON_CELLS = ("messages", "conversations", "chosen", "rejected")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(frozen=True)
class ConvertOptions:
    """How to read columns: ``mapping`` canonical field -> input column, ``roles`` extra role
    aliases (alias -> canonical role), ``system_prompt`` added where an example has none."""

    mapping: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    system_prompt: str | None = None


class _Reject(Exception):
    def __init__(self, rule: str, pointer: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.pointer, self.message = rule, pointer, message


def _esc(token: Any) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _ptr(*tokens: Any) -> str:
    return "".join("/" + _esc(t) for t in tokens)


def _invalid(pointer: str, message: str) -> _Reject:
    return _Reject("convert.invalid_field", pointer, message)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


# --- normalising the raw record -------------------------------------------------------------


def _renamed(obj: dict, options: ConvertOptions) -> tuple[dict, dict[str, str]]:
    """Apply the column mapping; return the record and canonical name -> original column."""
    if not options.mapping:
        return obj, {}
    sources = {col: canon for canon, col in options.mapping.items() if col in obj}
    if not sources:
        return obj, {}
    out = {k: v for k, v in obj.items() if k not in sources}
    for col, canon in sources.items():
        out[canon] = obj[col]
    return out, {canon: col for col, canon in sources.items()}


def _parse_json_cells(obj: dict) -> dict:
    """CSV cells holding JSON for message-list fields become the parsed value."""
    parsed = None
    for key in _JSON_CELLS:
        value = obj.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                decoded = orjson.loads(value)
            except ValueError:
                continue
            if isinstance(decoded, dict) or (
                isinstance(decoded, list) and all(isinstance(m, dict) for m in decoded)
            ):
                if parsed is None:
                    parsed = dict(obj)
                parsed[key] = decoded
    return obj if parsed is None else parsed


def _normalised(obj: Any, options: ConvertOptions) -> tuple[Any, dict[str, str]]:
    if isinstance(obj, list):
        if obj and all(isinstance(m, dict) for m in obj):
            return {"messages": obj}, {"messages": ""}
        return obj, {}
    if not isinstance(obj, dict):
        return obj, {}
    renamed, names = _renamed(obj, options)
    return _parse_json_cells(renamed), names


def _looks_bedrock(obj: dict) -> bool:
    if "schemaVersion" in obj or isinstance(obj.get("system"), list):
        return True
    messages = obj.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        content = messages[0].get("content")
        if isinstance(content, list) and content and isinstance(content[0], dict):
            return "text" in content[0] and "type" not in content[0]
    return False


def _detect(obj: Any) -> str:
    if not isinstance(obj, dict):
        return "not_object"
    keys = obj.keys()
    if "preferred_output" in keys and "non_preferred_output" in keys and "input" in keys:
        return "openai_dpo"
    if "conversations" in keys:
        chosen = "chosen" in keys and "rejected" in keys
        return "sharegpt_preference" if chosen else "sharegpt"
    if "messages" in keys:
        if "label" in keys:
            return "kto_messages"
        return "bedrock_conversation" if _looks_bedrock(obj) else "openai_messages"
    if "contents" in keys:
        return "vertex_gemini"
    if "chosen" in keys and "rejected" in keys:
        return "preference" if "prompt" in keys else "preference_implicit"
    if "prompt" in keys and "completion" in keys:
        return "kto" if "label" in keys else "prompt_completion"
    if "instruction" in keys:
        if "output" in keys:
            return "alpaca"
        if "response" in keys:
            return "dolly"
    if "question" in keys and "answer" in keys:
        return "question_answer"
    if "text" in keys:
        return "text"
    return "unknown"


def shape_of(obj: Any, options: ConvertOptions) -> str:
    """The shape of one raw record (after the column mapping), or "unknown" / "not_object"."""
    return _detect(_normalised(obj, options)[0])


def choose_file_shape(counts: collections.Counter[str]) -> tuple[str | None, list[str]]:
    """The file's shape (its most common known shape) and notes for the run summary."""
    known = sorted(
        ((n, s) for s, n in counts.items() if s in SIGNATURES and n > 0),
        key=lambda t: (-t[0], t[1]),
    )
    other = sorted((s, n) for s, n in counts.items() if s not in SIGNATURES and n > 0)
    notes = []
    shape = known[0][1] if known else None
    if len(known) > 1:
        notes.append("mixed shapes: " + ", ".join(f"{s} {n}" for n, s in known))
        for n, s in known[1:]:
            if SIGNATURES[s] < SIGNATURES[shape]:
                missing = ", ".join(sorted(SIGNATURES[shape] - SIGNATURES[s]))
                notes.append(f"{n} {s} records lack {missing} of {shape} and are rejected")
    if other:
        notes.append("unrecognised records: " + ", ".join(f"{s} {n}" for s, n in other))
    if shape is None:
        notes.append("no known shape; map the columns in [convert.mapping]")
    return shape, notes


# --- messages --------------------------------------------------------------------------------


def _role(alias: Any, pointer: str, options: ConvertOptions) -> str:
    if isinstance(alias, str):
        if alias in options.roles:
            return options.roles[alias]
        role = ROLE_ALIASES.get(alias.lower())
        if role is not None:
            return role
        shown = alias if alias.isidentifier() else f'"{alias}"'
        raise _Reject(
            "convert.unknown_role",
            pointer,
            f'unknown role {alias!r}; map it in the config, e.g. [convert.roles] {shown} = "user"',
        )
    raise _invalid(pointer, f"role must be a string, not {_type_name(alias)}")


def _call_id(turn: int, n: int) -> str:
    """Deterministic id of the n-th call in a turn: "call_" + 6 digits of turn + 3 of n."""
    return f"call_{turn % 1000000:06d}{n % 1000:03d}"


def _tool_calls(value: Any, index: int, pointer: str) -> list[dict]:
    """A ShareGPT function_call turn's value -> OpenAI tool_calls."""
    decoded = value
    if isinstance(value, str):
        try:
            decoded = orjson.loads(value)
        except ValueError:
            raise _invalid(
                pointer, 'function_call value must be JSON {"name": ..., "arguments": {...}}'
            ) from None
    calls = decoded if isinstance(decoded, list) else [decoded]
    out = []
    for n, call in enumerate(calls):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise _invalid(
                pointer, 'function_call value must be JSON {"name": ..., "arguments": {...}}'
            )
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        call_id = _call_id(index, n)
        function = {"name": call["name"], "arguments": arguments}
        out.append({"id": call_id, "type": "function", "function": function})
    return out


def _messages(value: Any, pointer: str, options: ConvertOptions, remap: bool) -> list[dict]:
    """A list of turns -> canonical messages.

    ``{role, content}`` turns keep their keys (roles remapped only when ``remap``); ShareGPT
    ``{from, value}`` turns become ``{role, content}`` with role aliases applied, and
    function_call / observation turns become assistant tool_calls / tool messages that are linked
    by id.
    """
    if not isinstance(value, list):
        raise _invalid(pointer, f"must be a list of messages, not {_type_name(value)}")
    out: list[dict] = []
    pending: collections.deque[str] = collections.deque()
    for i, turn in enumerate(value):
        here = f"{pointer}/{i}"
        if not isinstance(turn, dict):
            raise _invalid(here, f"each message must be an object, not {_type_name(turn)}")
        if "from" in turn and "role" not in turn:
            role_key, content_key, remap_this = "from", "value", True
        else:
            role_key, content_key, remap_this = "role", "content", remap
        if role_key not in turn:
            raise _Reject(
                "convert.missing_field", f"{here}/{role_key}", f"message has no {role_key!r}"
            )
        if not remap_this:
            out.append(dict(turn))
            continue
        role = _role(turn[role_key], f"{here}/{role_key}", options)
        if content_key not in turn:
            raise _Reject(
                "convert.missing_field", f"{here}/{content_key}", f"message has no {content_key!r}"
            )
        content = turn[content_key]
        if role_key == "from" and not isinstance(content, str):
            raise _invalid(f"{here}/value", f"value must be a string, not {_type_name(content)}")
        message = {k: v for k, v in turn.items() if k not in (role_key, content_key)}
        if role == "function_call":
            calls = _tool_calls(content, i, f"{here}/{content_key}")
            pending.extend(c["id"] for c in calls)
            message.update(role="assistant", content=None, tool_calls=calls)
        else:
            message.update(role=role, content=content)
            if role == "tool" and pending and "tool_call_id" not in message:
                message["tool_call_id"] = pending.popleft()
        out.append(message)
    return out


def _as_turns(value: Any, pointer: str, options: ConvertOptions, role: str) -> list[dict]:
    """A string -> one message of ``role``; one message object -> [it]; a list -> messages."""
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, dict):
        return _one(value, pointer, options)
    return _messages(value, pointer, options, remap=False)


def _one(value: dict, pointer: str, options: ConvertOptions, remap: bool = False) -> list[dict]:
    # Reuse the list path, then point errors at the object itself rather than at "/0".
    try:
        return _messages([value], "", options, remap=remap)
    except _Reject as err:
        tail = err.pointer[2:] if err.pointer.startswith("/0") else err.pointer
        raise _Reject(err.rule, pointer + tail, err.message) from None


def _text(obj: dict, key: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _invalid(_ptr(key), f"{key} must be a string, not {_type_name(value)}")
    return value


def _system(obj: dict) -> list[dict]:
    """A top-level ``system`` string -> [system message]; absent or "" -> []."""
    value = obj.get("system")
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise _invalid("/system", f"system must be a string, not {_type_name(value)}")
    return [{"role": "system", "content": value}]


def _tools(value: Any, pointer: str = "/tools") -> list[dict] | None:
    """Tools as a JSON string or list, plain function defs or OpenAI form -> OpenAI form."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = orjson.loads(value)
        except ValueError:
            raise _invalid(pointer, "tools must be a list of function definitions (JSON)") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise _invalid(pointer, f"tools must be a list, not {_type_name(value)}")
    out = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise _invalid(f"{pointer}/{i}", "each tool must be an object with a name")
        if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            out.append(tool)
        elif isinstance(tool.get("name"), str):
            out.append({"type": "function", "function": tool})
        else:
            raise _invalid(f"{pointer}/{i}", 'each tool needs a "name" (or type "function")')
    return out or None


def _label(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _invalid("/label", f"label must be true or false (or 1/0), not {value!r:.40}")


def _user_text(instruction: str, extra: str) -> str:
    return instruction + "\n\n" + extra if extra.strip() else instruction


# --- one converter per shape: (record, example, options) -> set of consumed keys --------------


def _from_openai(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    messages = obj["messages"]
    if not isinstance(messages, list):
        raise _invalid("/messages", f"messages must be a list, not {_type_name(messages)}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _invalid(f"/messages/{i}", f"each message must be an object, not {_type_name(m)}")
    ex["messages"] = _system(obj) + [dict(m) for m in messages]
    ex["tools"] = obj.get("tools")
    ex["parallel_tool_calls"] = obj.get("parallel_tool_calls")
    consumed = {"messages", "tools", "parallel_tool_calls", "system"}
    if "functions" in obj and "tools" not in obj:
        ex["tools"] = _tools(obj["functions"], "/functions")
        consumed.add("functions")
    return consumed


def _from_prompt_completion(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    prompt = _as_turns(obj["prompt"], "/prompt", options, "user")
    completion = _as_turns(obj["completion"], "/completion", options, "assistant")
    ex["messages"] = _system(obj) + prompt + completion
    ex["tools"] = _tools(obj.get("tools"))
    return {"prompt", "completion", "system", "tools"}


def _history(obj: dict) -> list[dict]:
    history = obj.get("history")
    if history is None or history == "" or history == []:
        return []
    if isinstance(history, str):
        try:
            history = orjson.loads(history)
        except ValueError:
            raise _invalid(
                "/history", "history must be a list of [user, assistant] pairs"
            ) from None
    if not isinstance(history, list):
        raise _invalid("/history", "history must be a list of [user, assistant] pairs")
    out = []
    for i, pair in enumerate(history):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
        ):
            raise _invalid(f"/history/{i}", "each history item must be a [user, assistant] pair")
        out += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    return out


def _from_alpaca(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    user = _user_text(_text(obj, "instruction"), _text(obj, "input", required=False))
    ex["messages"] = (
        _system(obj)
        + _history(obj)
        + [
            {"role": "user", "content": user},
            {"role": "assistant", "content": _text(obj, "output")},
        ]
    )
    ex["tools"] = _tools(obj.get("tools"))
    return {"instruction", "input", "output", "system", "history", "tools"}


def _from_dolly(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    user = _user_text(_text(obj, "instruction"), _text(obj, "context", required=False))
    ex["messages"] = _system(obj) + [
        {"role": "user", "content": user},
        {"role": "assistant", "content": _text(obj, "response")},
    ]
    return {"instruction", "context", "response", "system"}


def _from_question_answer(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["messages"] = _system(obj) + [
        {"role": "user", "content": _text(obj, "question")},
        {"role": "assistant", "content": _text(obj, "answer")},
    ]
    return {"question", "answer", "system"}


def _from_sharegpt(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["messages"] = _system(obj) + _messages(
        obj["conversations"], "/conversations", options, remap=True
    )
    ex["tools"] = _tools(obj.get("tools"))
    return {"conversations", "system", "tools"}


def _from_sharegpt_preference(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    consumed = _from_sharegpt(obj, ex, options)
    ex["kind"] = "preference"
    for key in ("chosen", "rejected"):
        value = obj[key]
        if isinstance(value, str):
            ex[key] = [{"role": "assistant", "content": value}]
        elif isinstance(value, dict):
            ex[key] = _one(value, f"/{key}", options, remap=True)
        else:
            ex[key] = _messages(value, f"/{key}", options, remap=True)
    return consumed | {"chosen", "rejected"}


def _from_preference(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "preference"
    ex["messages"] = _system(obj) + _as_turns(obj["prompt"], "/prompt", options, "user")
    ex["chosen"] = _as_turns(obj["chosen"], "/chosen", options, "assistant")
    ex["rejected"] = _as_turns(obj["rejected"], "/rejected", options, "assistant")
    ex["tools"] = _tools(obj.get("tools"))
    return {"prompt", "chosen", "rejected", "system", "tools"}


_HH_MARKERS = (("\n\nHuman:", "user"), ("\n\nAssistant:", "assistant"))


def _hh_turns(transcript: str) -> list[dict]:
    """Parse an Anthropic HH transcript ("\\n\\nHuman: ...\\n\\nAssistant: ...") into messages."""
    turns: list[dict] = []
    pos = 0
    role = None
    while True:
        nxt = min(
            ((transcript.find(marker, pos), marker, r) for marker, r in _HH_MARKERS),
            key=lambda t: (t[0] < 0, t[0]),
        )
        end = nxt[0] if nxt[0] >= 0 else len(transcript)
        if role is not None:
            turns.append({"role": role, "content": transcript[pos:end]})
        if nxt[0] < 0:
            return turns
        pos = nxt[0] + len(nxt[1])
        if transcript.startswith(" ", pos):
            pos += 1
        role = nxt[2]


def _split_prefix(chosen: list, rejected: list) -> tuple[list, list, list]:
    n = 0
    limit = min(len(chosen), len(rejected)) - 1
    while n < limit and chosen[n] == rejected[n]:
        n += 1
    return chosen[:n], chosen[n:], rejected[n:]


def _from_preference_implicit(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "preference"
    chosen, rejected = obj["chosen"], obj["rejected"]
    if isinstance(chosen, str) and isinstance(rejected, str):
        if not (chosen.startswith("\n\nHuman:") and rejected.startswith("\n\nHuman:")):
            raise _Reject(
                "convert.no_prompt",
                "",
                "chosen and rejected are plain strings with no prompt; add a prompt column "
                "or map one in [convert.mapping]",
            )
        chosen_turns, rejected_turns = _hh_turns(chosen), _hh_turns(rejected)
    else:
        chosen_turns = _messages(chosen, "/chosen", options, remap=False)
        rejected_turns = _messages(rejected, "/rejected", options, remap=False)
    prompt, ex["chosen"], ex["rejected"] = _split_prefix(chosen_turns, rejected_turns)
    ex["messages"] = _system(obj) + prompt
    ex["tools"] = _tools(obj.get("tools"))
    return {"chosen", "rejected", "system", "tools"}


def _from_openai_dpo(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "preference"
    given = obj["input"]
    if not isinstance(given, dict):
        raise _invalid("/input", "input must be an object {messages, tools?, parallel_tool_calls?}")
    if "messages" not in given:
        raise _Reject("convert.missing_field", "/input/messages", "input has no messages")
    ex["messages"] = _messages(given["messages"], "/input/messages", options, remap=False)
    ex["tools"] = given.get("tools")
    ex["parallel_tool_calls"] = given.get("parallel_tool_calls")
    extra = {
        k: v for k, v in given.items() if k not in ("messages", "tools", "parallel_tool_calls")
    }
    if extra:
        ex["meta"]["input"] = extra
    ex["chosen"] = _messages(obj["preferred_output"], "/preferred_output", options, remap=False)
    ex["rejected"] = _messages(
        obj["non_preferred_output"], "/non_preferred_output", options, remap=False
    )
    return {"input", "preferred_output", "non_preferred_output"}


def _from_kto(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "unpaired"
    ex["label"] = _label(obj["label"])
    ex["messages"] = _system(obj) + _as_turns(obj["prompt"], "/prompt", options, "user")
    ex["completion"] = _as_turns(obj["completion"], "/completion", options, "assistant")
    ex["tools"] = _tools(obj.get("tools"))
    return {"prompt", "completion", "label", "system", "tools"}


def _from_kto_messages(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "unpaired"
    ex["label"] = _label(obj["label"])
    messages = _messages(obj["messages"], "/messages", options, remap=False)
    if not messages or messages[-1].get("role") != "assistant":
        where = f"/messages/{len(messages) - 1}/role" if messages else "/messages"
        raise _invalid(where, "the last message must be the assistant completion being labelled")
    ex["messages"] = _system(obj) + messages[:-1]
    ex["completion"] = messages[-1:]
    ex["tools"] = _tools(obj.get("tools"))
    return {"messages", "label", "system", "tools"}


def _from_text(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["text"] = _text(obj, "text")
    return {"text"}


def _text_blocks(blocks: Any, pointer: str) -> str:
    if isinstance(blocks, str):
        return blocks
    if not isinstance(blocks, list):
        raise _invalid(pointer, f"must be a list of {{text}} blocks, not {_type_name(blocks)}")
    texts = []
    for i, block in enumerate(blocks):
        if not (isinstance(block, dict) and isinstance(block.get("text"), str)):
            raise _invalid(
                f"{pointer}/{i}",
                'only text blocks {"text": ...} can be converted; '
                "remove or convert other blocks (images, tool use)",
            )
        texts.append(block["text"])
    return "\n".join(texts)


def _from_bedrock(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    messages = []
    if obj.get("system"):
        messages.append({"role": "system", "content": _text_blocks(obj["system"], "/system")})
    turns = obj["messages"]
    if not isinstance(turns, list):
        raise _invalid("/messages", f"messages must be a list, not {_type_name(turns)}")
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise _invalid(
                f"/messages/{i}", f"each message must be an object, not {_type_name(turn)}"
            )
        if "role" not in turn:
            raise _Reject("convert.missing_field", f"/messages/{i}/role", "message has no 'role'")
        content = _text_blocks(turn.get("content"), f"/messages/{i}/content")
        rest = {k: v for k, v in turn.items() if k not in ("role", "content")}
        messages.append({**rest, "role": turn["role"], "content": content})
    ex["messages"] = messages
    return {"schemaVersion", "system", "messages"}


def _from_vertex(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    messages = []
    system = obj.get("systemInstruction")
    if system is not None:
        if not isinstance(system, dict):
            raise _invalid("/systemInstruction", "systemInstruction must be an object {parts}")
        text = _text_blocks(system.get("parts"), "/systemInstruction/parts")
        messages.append({"role": "system", "content": text})
    contents = obj["contents"]
    if not isinstance(contents, list):
        raise _invalid("/contents", f"contents must be a list, not {_type_name(contents)}")
    for i, turn in enumerate(contents):
        if not isinstance(turn, dict):
            raise _invalid(
                f"/contents/{i}", f"each content must be an object, not {_type_name(turn)}"
            )
        if "role" not in turn:
            raise _Reject("convert.missing_field", f"/contents/{i}/role", "content has no 'role'")
        role = _role(turn["role"], f"/contents/{i}/role", options)
        text = _text_blocks(turn.get("parts"), f"/contents/{i}/parts")
        messages.append({"role": role, "content": text})
    ex["messages"] = messages
    tools = obj.get("tools")
    if isinstance(tools, list) and all(isinstance(t, dict) for t in tools):
        decls = [d for t in tools for d in (t.get("functionDeclarations") or [])]
        if decls and all(isinstance(d, dict) and isinstance(d.get("name"), str) for d in decls):
            ex["tools"] = [{"type": "function", "function": d} for d in decls]
            return {"systemInstruction", "contents", "tools"}
    return {"systemInstruction", "contents"}


CONVERTERS = {
    "openai_messages": _from_openai,
    "prompt_completion": _from_prompt_completion,
    "alpaca": _from_alpaca,
    "sharegpt": _from_sharegpt,
    "sharegpt_preference": _from_sharegpt_preference,
    "dolly": _from_dolly,
    "question_answer": _from_question_answer,
    "preference": _from_preference,
    "preference_implicit": _from_preference_implicit,
    "openai_dpo": _from_openai_dpo,
    "kto": _from_kto,
    "kto_messages": _from_kto_messages,
    "text": _from_text,
    "bedrock_conversation": _from_bedrock,
    "vertex_gemini": _from_vertex,
}


# --- the stage entry point ------------------------------------------------------------------


def _unknown_message(obj: dict) -> str:
    keys = list(obj)
    if not keys:
        return "empty object; no known shape"
    seen = ", ".join(str(k) for k in keys)
    if len(keys) == 1:
        example = f'text = "{keys[0]}"'
    else:
        example = f'instruction = "{keys[0]}"  output = "{keys[1]}"'
    return (
        f"keys seen: {seen}; no known shape. Map columns in the config, "
        f"e.g. [convert.mapping] {example}"
    )


def _restore_pointer(pointer: str, names: dict[str, str]) -> str:
    """Point at the raw record's own column name when the mapping renamed it."""
    if not names or not pointer:
        return pointer
    head, sep, tail = pointer[1:].partition("/")
    if head in names:
        original = names[head]
        return ("/" + _esc(original) if original else "") + (sep + tail if sep else "")
    return pointer


def _add_system_prompt(ex: dict, system_prompt: str | None) -> None:
    if system_prompt is None or "text" in ex:
        return
    if not any(isinstance(m, dict) and m.get("role") == "system" for m in ex["messages"]):
        ex["messages"].insert(0, {"role": "system", "content": system_prompt})


def convert_record(
    obj: Any, source: str, line: int, file_shape: str | None, options: ConvertOptions
) -> dict:
    """One raw record -> an Example, or a rejection (stage "convert") saying what to change."""
    record, names = _normalised(obj, options)
    shape = _detect(record)
    try:
        if shape == "not_object":
            raise _Reject(
                "convert.not_object",
                "",
                f"record is {_type_name(obj)}, not an object or a list of messages",
            )
        if shape == "unknown":
            raise _Reject("convert.unknown_shape", "", _unknown_message(record))
        if file_shape in SIGNATURES and shape != file_shape:
            missing = SIGNATURES[file_shape] - SIGNATURES[shape]
            if SIGNATURES[shape] < SIGNATURES[file_shape]:
                first = sorted(missing)[0]
                raise _Reject(
                    "convert.missing_field",
                    _ptr(names.get(first, first)),
                    f"missing {', '.join(sorted(missing))}: the other records of this file are "
                    f"{file_shape}; add the field or move this record to its own file",
                )
        ex = new_example(source, line)
        consumed = CONVERTERS[shape](record, ex, options)
        ex["meta"].update(
            (names.get(k, k), v)
            for k, v in record.items()
            if k not in consumed and k not in ex["meta"]
        )
        _add_system_prompt(ex, options.system_prompt)
        return ex
    except _Reject as err:
        pointer = _restore_pointer(err.pointer, names)
        return rejection(source, line, STAGE, err.rule, err.message, raw=obj, pointer=pointer)
    except Exception as err:  # noqa: BLE001 - the stage must never raise on data
        message = f"could not convert this {shape} record: {type(err).__name__}: {err}"
        return rejection(source, line, STAGE, "convert.error", message, raw=obj)
