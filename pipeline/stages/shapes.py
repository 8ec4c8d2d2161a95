"""Per-shape converters for the convert stage, and the message helpers they share.

Each ``from_*`` function takes a raw record already renamed by the column mapping, fills the
canonical Example it is given and returns the set of top-level keys it consumed (the rest go to
``meta``). A problem inside the record raises ``Reject(rule, pointer, message)``, which
``convert`` turns into a rejection; nothing here does I/O.
"""

from __future__ import annotations

import collections
import json
from typing import Any

import orjson

from pipeline.config import ConvertOptions

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
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class Reject(Exception):
    def __init__(self, rule: str, pointer: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.pointer, self.message = rule, pointer, message


def escape(token: Any) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def ptr(*tokens: Any) -> str:
    return "".join("/" + escape(t) for t in tokens)


def invalid(pointer: str, message: str) -> Reject:
    return Reject("convert.invalid_field", pointer, message)


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


# --- messages --------------------------------------------------------------------------------


def _role(alias: Any, pointer: str, options: ConvertOptions) -> str:
    if isinstance(alias, str):
        if alias in options.roles:
            return options.roles[alias]
        role = ROLE_ALIASES.get(alias.lower())
        if role is not None:
            return role
        shown = alias if alias.isidentifier() else f'"{alias}"'
        raise Reject(
            "convert.unknown_role",
            pointer,
            f'unknown role {alias!r}; map it in the config, e.g. [convert.roles] {shown} = "user"',
        )
    raise invalid(pointer, f"role must be a string, not {type_name(alias)}")


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
            raise invalid(
                pointer, 'function_call value must be JSON {"name": ..., "arguments": {...}}'
            ) from None
    calls = decoded if isinstance(decoded, list) else [decoded]
    out = []
    for n, call in enumerate(calls):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise invalid(
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
        raise invalid(pointer, f"must be a list of messages, not {type_name(value)}")
    out: list[dict] = []
    pending: collections.deque[str] = collections.deque()
    for i, turn in enumerate(value):
        here = f"{pointer}/{i}"
        if not isinstance(turn, dict):
            raise invalid(here, f"each message must be an object, not {type_name(turn)}")
        if "from" in turn and "role" not in turn:
            role_key, content_key, remap_this = "from", "value", True
        else:
            role_key, content_key, remap_this = "role", "content", remap
        if role_key not in turn:
            raise Reject(
                "convert.missing_field", f"{here}/{role_key}", f"message has no {role_key!r}"
            )
        if not remap_this:
            out.append(dict(turn))
            continue
        role = _role(turn[role_key], f"{here}/{role_key}", options)
        if content_key not in turn:
            raise Reject(
                "convert.missing_field", f"{here}/{content_key}", f"message has no {content_key!r}"
            )
        content = turn[content_key]
        if role_key == "from" and not isinstance(content, str):
            raise invalid(f"{here}/value", f"value must be a string, not {type_name(content)}")
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
    except Reject as err:
        tail = err.pointer[2:] if err.pointer.startswith("/0") else err.pointer
        raise Reject(err.rule, pointer + tail, err.message) from None


def _text(obj: dict, key: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise invalid(ptr(key), f"{key} must be a string, not {type_name(value)}")
    return value


def _system(obj: dict) -> list[dict]:
    """A top-level ``system`` string -> [system message]; absent or "" -> []."""
    value = obj.get("system")
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise invalid("/system", f"system must be a string, not {type_name(value)}")
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
            raise invalid(pointer, "tools must be a list of function definitions (JSON)") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise invalid(pointer, f"tools must be a list, not {type_name(value)}")
    out = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise invalid(f"{pointer}/{i}", "each tool must be an object with a name")
        if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            out.append(tool)
        elif isinstance(tool.get("name"), str):
            out.append({"type": "function", "function": tool})
        else:
            raise invalid(f"{pointer}/{i}", 'each tool needs a "name" (or type "function")')
    return out or None


def _label(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise invalid("/label", f"label must be true or false (or 1/0), not {value!r:.40}")


def _user_text(instruction: str, extra: str) -> str:
    return instruction + "\n\n" + extra if extra.strip() else instruction


def _parallel(value: Any, pointer: str) -> bool | None:
    """``parallel_tool_calls``: true, false or absent."""
    if value is None or isinstance(value, bool):
        return value
    raise invalid(
        pointer,
        f"parallel_tool_calls must be true or false, not {type_name(value)}: "
        "write true or false, or leave it out",
    )


# --- one converter per shape: (record, example, options) -> set of consumed keys --------------


def from_openai(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    messages = obj["messages"]
    if not isinstance(messages, list):
        raise invalid("/messages", f"messages must be a list, not {type_name(messages)}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise invalid(f"/messages/{i}", f"each message must be an object, not {type_name(m)}")
    ex["messages"] = _system(obj) + [dict(m) for m in messages]
    ex["tools"] = obj.get("tools")
    ex["parallel_tool_calls"] = _parallel(obj.get("parallel_tool_calls"), "/parallel_tool_calls")
    consumed = {"messages", "tools", "parallel_tool_calls", "system"}
    if "functions" in obj and "tools" not in obj:
        ex["tools"] = _tools(obj["functions"], "/functions")
        consumed.add("functions")
    return consumed


def from_prompt_completion(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
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
            raise invalid("/history", "history must be a list of [user, assistant] pairs") from None
    if not isinstance(history, list):
        raise invalid("/history", "history must be a list of [user, assistant] pairs")
    out = []
    for i, pair in enumerate(history):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
        ):
            raise invalid(f"/history/{i}", "each history item must be a [user, assistant] pair")
        out += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    return out


def from_alpaca(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
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


def from_dolly(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    user = _user_text(_text(obj, "instruction"), _text(obj, "context", required=False))
    ex["messages"] = _system(obj) + [
        {"role": "user", "content": user},
        {"role": "assistant", "content": _text(obj, "response")},
    ]
    return {"instruction", "context", "response", "system"}


def from_question_answer(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["messages"] = _system(obj) + [
        {"role": "user", "content": _text(obj, "question")},
        {"role": "assistant", "content": _text(obj, "answer")},
    ]
    return {"question", "answer", "system"}


def from_sharegpt(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["messages"] = _system(obj) + _messages(
        obj["conversations"], "/conversations", options, remap=True
    )
    ex["tools"] = _tools(obj.get("tools"))
    return {"conversations", "system", "tools"}


def from_sharegpt_preference(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    consumed = from_sharegpt(obj, ex, options)
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


def from_preference(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
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


def from_preference_implicit(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "preference"
    chosen, rejected = obj["chosen"], obj["rejected"]
    if isinstance(chosen, str) and isinstance(rejected, str):
        if not (chosen.startswith("\n\nHuman:") and rejected.startswith("\n\nHuman:")):
            raise Reject(
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


def from_openai_dpo(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "preference"
    given = obj["input"]
    if not isinstance(given, dict):
        raise invalid("/input", "input must be an object {messages, tools?, parallel_tool_calls?}")
    if "messages" not in given:
        raise Reject("convert.missing_field", "/input/messages", "input has no messages")
    ex["messages"] = _messages(given["messages"], "/input/messages", options, remap=False)
    tools = given.get("tools")  # a list is kept as given (the rules check its items)
    ex["tools"] = tools if isinstance(tools, list) else _tools(tools, "/input/tools")
    ex["parallel_tool_calls"] = _parallel(
        given.get("parallel_tool_calls"), "/input/parallel_tool_calls"
    )
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


def from_kto(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "unpaired"
    ex["label"] = _label(obj["label"])
    ex["messages"] = _system(obj) + _as_turns(obj["prompt"], "/prompt", options, "user")
    ex["completion"] = _as_turns(obj["completion"], "/completion", options, "assistant")
    ex["tools"] = _tools(obj.get("tools"))
    return {"prompt", "completion", "label", "system", "tools"}


def from_kto_messages(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "unpaired"
    ex["label"] = _label(obj["label"])
    messages = _messages(obj["messages"], "/messages", options, remap=False)
    if not messages or messages[-1].get("role") != "assistant":
        where = f"/messages/{len(messages) - 1}/role" if messages else "/messages"
        raise invalid(where, "the last message must be the assistant completion being labelled")
    ex["messages"] = _system(obj) + messages[:-1]
    ex["completion"] = messages[-1:]
    ex["tools"] = _tools(obj.get("tools"))
    return {"messages", "label", "system", "tools"}


def from_text(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["text"] = _text(obj, "text")
    return {"text"}


def _text_blocks(blocks: Any, pointer: str) -> str:
    if isinstance(blocks, str):
        return blocks
    if not isinstance(blocks, list):
        raise invalid(pointer, f"must be a list of {{text}} blocks, not {type_name(blocks)}")
    texts = []
    for i, block in enumerate(blocks):
        if not (isinstance(block, dict) and isinstance(block.get("text"), str)):
            raise invalid(
                f"{pointer}/{i}",
                'only text blocks {"text": ...} can be converted; '
                "remove or convert other blocks (images, tool use)",
            )
        texts.append(block["text"])
    return "\n".join(texts)


def _nova_reasoning(blocks: Any) -> tuple[Any, str | None]:
    """Nova 2.0 content blocks -> (the other blocks, the text of its ``reasoningContent``
    blocks, or None)."""
    if not isinstance(blocks, list):
        return blocks, None
    texts, rest = [], []
    for block in blocks:
        inner = block.get("reasoningContent") if isinstance(block, dict) else None
        text = inner.get("reasoningText") if isinstance(inner, dict) else None
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            texts.append(text["text"])
        else:
            rest.append(block)
    return rest, ("\n".join(texts) if texts else None)


def from_bedrock(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    messages = []
    if obj.get("system"):
        messages.append({"role": "system", "content": _text_blocks(obj["system"], "/system")})
    turns = obj["messages"]
    if not isinstance(turns, list):
        raise invalid("/messages", f"messages must be a list, not {type_name(turns)}")
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise invalid(
                f"/messages/{i}", f"each message must be an object, not {type_name(turn)}"
            )
        if "role" not in turn:
            raise Reject("convert.missing_field", f"/messages/{i}/role", "message has no 'role'")
        blocks, reasoning = _nova_reasoning(turn.get("content"))
        content = _text_blocks(blocks, f"/messages/{i}/content")
        rest = {k: v for k, v in turn.items() if k not in ("role", "content")}
        messages.append({**rest, "role": turn["role"], "content": content})
        if reasoning is not None:  # lift_reasoning checks it is the assistant's
            messages[-1]["reasoning"] = reasoning
    ex["messages"] = messages
    return {"schemaVersion", "system", "messages"}


def from_vertex(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    messages = []
    system = obj.get("systemInstruction")
    if system is not None:
        if not isinstance(system, dict):
            raise invalid("/systemInstruction", "systemInstruction must be an object {parts}")
        text = _text_blocks(system.get("parts"), "/systemInstruction/parts")
        messages.append({"role": "system", "content": text})
    contents = obj["contents"]
    if not isinstance(contents, list):
        raise invalid("/contents", f"contents must be a list, not {type_name(contents)}")
    for i, turn in enumerate(contents):
        if not isinstance(turn, dict):
            raise invalid(
                f"/contents/{i}", f"each content must be an object, not {type_name(turn)}"
            )
        if "role" not in turn:
            raise Reject("convert.missing_field", f"/contents/{i}/role", "content has no 'role'")
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
    "openai_messages": from_openai,
    "prompt_completion": from_prompt_completion,
    "alpaca": from_alpaca,
    "sharegpt": from_sharegpt,
    "sharegpt_preference": from_sharegpt_preference,
    "dolly": from_dolly,
    "question_answer": from_question_answer,
    "preference": from_preference,
    "preference_implicit": from_preference_implicit,
    "openai_dpo": from_openai_dpo,
    "kto": from_kto,
    "kto_messages": from_kto_messages,
    "text": from_text,
    "bedrock_conversation": from_bedrock,
    "vertex_gemini": from_vertex,
}
