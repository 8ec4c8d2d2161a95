"""Converters for shapes found in public training files beyond the classic ones of ``shapes``.

``{prompt, response}`` (llm-foundry, Dolly-derived sets), ``{query, response, history}`` (Qwen,
ms-swift, ChatGLM), self-instruct seed tasks ``{instruction, instances: [{input, output}]}``
(self-instruct, Stanford Alpaca, CodeAlpaca, BELLE), ``{input, output}`` as strings or as
parallel lists of user and assistant turns (Chinese-Vicuna), ms-swift's ``conversation`` of
``{human, assistant}`` pairs, and LLaMA-Factory's v1 format: ``messages`` (or
``chosen_messages`` / ``rejected_messages``) whose content is a list of typed parts
``{type, value}`` (text, reasoning, tool_call, image_url) with a per-message ``loss_weight``.
Each converter fills the Example it is given and returns the keys it consumed, like those of
``shapes``; a problem raises ``Reject``.
"""

from __future__ import annotations

import collections
from typing import Any

from pipeline.config import ConvertOptions
from pipeline.stages.shapes import (
    Reject,
    _as_turns,
    _history,
    _split_prefix,
    _system,
    _text,
    _tool_calls,
    _tools,
    _user_text,
    invalid,
    type_name,
)


def from_prompt_response(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    prompt = _as_turns(obj["prompt"], "/prompt", options, "user")
    response = _as_turns(obj["response"], "/response", options, "assistant")
    ex["messages"] = _system(obj) + prompt + response
    ex["tools"] = _tools(obj.get("tools"))
    return {"prompt", "response", "system", "tools"}


def from_query_response(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["messages"] = (
        _system(obj)
        + _history(obj)
        + [
            {"role": "user", "content": _text(obj, "query")},
            {"role": "assistant", "content": _text(obj, "response")},
        ]
    )
    return {"query", "response", "history", "system"}


def from_self_instruct(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    """One task: the instruction with each instance's input, then its output; a task with
    several instances becomes one conversation of one turn per instance."""
    instruction = _text(obj, "instruction")
    instances = obj["instances"]
    if not isinstance(instances, list) or not instances:
        raise invalid("/instances", "instances must be a non-empty list of {input, output}")
    turns = []
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise invalid(
                f"/instances/{i}", f"each instance must be an object, not {type_name(instance)}"
            )
        extra = instance.get("input", "")
        output = instance.get("output")
        if not isinstance(extra, str) or not isinstance(output, str):
            bad = "input" if not isinstance(extra, str) else "output"
            raise invalid(
                f"/instances/{i}/{bad}",
                f"{bad} must be a string, not {type_name(instance.get(bad))}",
            )
        turns += [
            {"role": "user", "content": _user_text(instruction, extra)},
            {"role": "assistant", "content": output},
        ]
    ex["messages"] = _system(obj) + turns
    return {"instruction", "instances", "system"}


def from_input_output(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    """``input`` and ``output`` strings, or equal lists of user and assistant turns."""
    given, wanted = obj["input"], obj["output"]
    if isinstance(given, list) and isinstance(wanted, list):
        if len(given) != len(wanted) or not given:
            raise invalid(
                "/output",
                f"input holds {len(given)} user turn(s) and output {len(wanted)} assistant "
                "turn(s): give one output per input",
            )
        turns = []
        for i, (user, reply) in enumerate(zip(given, wanted, strict=True)):
            for key, text in (("input", user), ("output", reply)):
                if not isinstance(text, str):
                    raise invalid(
                        f"/{key}/{i}", f"each turn must be a string, not {type_name(text)}"
                    )
            turns += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    else:
        turns = [
            {"role": "user", "content": _text(obj, "input")},
            {"role": "assistant", "content": _text(obj, "output")},
        ]
    ex["messages"] = _system(obj) + _history(obj) + turns
    return {"input", "output", "system", "history"}


def from_conversation_pairs(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    """ms-swift's ``conversation``: a list of ``{human, assistant}`` pairs."""
    pairs = obj["conversation"]
    if not isinstance(pairs, list) or not pairs:
        raise invalid("/conversation", "conversation must be a list of {human, assistant} pairs")
    turns = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, dict) and isinstance(pair.get("human"), str)
                and isinstance(pair.get("assistant"), str)):  # fmt: skip
            raise invalid(f"/conversation/{i}", "each pair must be {human: text, assistant: text}")
        turns += [
            {"role": "user", "content": pair["human"]},
            {"role": "assistant", "content": pair["assistant"]},
        ]
    ex["messages"] = _system(obj) + turns
    return {"conversation", "system"}


def looks_ranking(output: Any) -> bool:
    """An Alpaca ``output`` that is a ranked list of strings, the preferred first (LLaMA-Factory's
    and ChatGLM-Efficient-Tuning's reward-model and DPO data before their ``chosen`` columns:
    their trainers pair the first with the second and leave the rest)."""
    return isinstance(output, list) and len(output) >= 2 and all(isinstance(t, str) for t in output)


def from_alpaca_ranking(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "preference"
    user = _user_text(_text(obj, "instruction"), _text(obj, "input", required=False))
    ex["messages"] = _system(obj) + _history(obj) + [{"role": "user", "content": user}]
    chosen, rejected, *rest = obj["output"]
    if rest:
        ex["meta"]["output_ranked_after"] = rest  # what those trainers leave out, kept in meta
    ex["chosen"] = [{"role": "assistant", "content": chosen}]
    ex["rejected"] = [{"role": "assistant", "content": rejected}]
    return {"instruction", "input", "output", "system", "history"}


# --------------------------------------------------------------------------- LLaMA-Factory v1

_PART_TYPES = ("text", "reasoning", "tool_call", "image_url")


def looks_v1(obj: dict, key: str = "messages") -> bool:
    """Whether ``obj[key]`` holds LLaMA-Factory v1 messages: typed ``{type, value}`` parts or a
    ``loss_weight``."""
    messages = obj.get(key)
    if not isinstance(messages, list):
        return False
    for m in messages[:4]:
        if not isinstance(m, dict):
            return False
        if "loss_weight" in m:
            return True
        content = m.get("content")
        if isinstance(content, list) and content:
            part = content[0]
            return isinstance(part, dict) and "value" in part and "type" in part
    return False


def _v1_message(m: Any, i: int, where: str, pending: collections.deque) -> dict:
    here = f"{where}/{i}"
    if not isinstance(m, dict):
        raise invalid(here, f"each message must be an object, not {type_name(m)}")
    if "role" not in m:
        raise Reject("convert.missing_field", f"{here}/role", "message has no 'role'")
    role, content = m["role"], m.get("content")
    message = {k: v for k, v in m.items() if k not in ("role", "content", "loss_weight")}
    message["role"] = role
    texts, reasoning, calls, parts = [], [], [], []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            value = part.get("value") if isinstance(part, dict) else None
            if kind not in _PART_TYPES or not isinstance(value, str):
                raise invalid(
                    f"{here}/content/{j}",
                    f"a {kind or type_name(part)} part has no form in a chat fine-tuning file "
                    "(text, reasoning, tool_call and image_url parts with a string value do): "
                    "drop it, or the record",
                )
            if kind == "text":
                texts.append(value)
                parts.append({"type": "text", "text": value})
            elif kind == "reasoning":
                reasoning.append(value)
            elif kind == "tool_call":
                calls += _tool_calls(value, i * 100 + j, f"{here}/content/{j}/value")
            else:
                parts.append({"type": "image_url", "image_url": {"url": value}})
    elif content is not None:
        raise invalid(
            f"{here}/content", f"content must be a list of parts, not {type_name(content)}"
        )
    if any(p["type"] == "image_url" for p in parts):
        message["content"] = parts
    else:
        message["content"] = "".join(texts) if texts or not calls else None
    if reasoning:
        message["reasoning"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = calls
        pending.extend(c["id"] for c in calls)
    if role == "tool" and pending and "tool_call_id" not in message:
        message["tool_call_id"] = pending.popleft()
    weight = m.get("loss_weight")
    if role == "assistant" and weight is not None and weight != 1:
        message["weight"] = 0 if weight == 0 else weight
    return message


def _v1_messages(value: Any, where: str) -> list[dict]:
    if not isinstance(value, list):
        raise invalid(where, f"must be a list of messages, not {type_name(value)}")
    pending: collections.deque = collections.deque()
    return [_v1_message(m, i, where, pending) for i, m in enumerate(value)]


def from_messages_v1(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["messages"] = _system(obj) + _v1_messages(obj["messages"], "/messages")
    ex["tools"] = _tools(obj.get("tools"))
    return {"messages", "tools", "system"}


def from_messages_v1_pair(obj: dict, ex: dict, options: ConvertOptions) -> set[str]:
    ex["kind"] = "preference"
    chosen = _v1_messages(obj["chosen_messages"], "/chosen_messages")
    rejected = _v1_messages(obj["rejected_messages"], "/rejected_messages")
    prompt, ex["chosen"], ex["rejected"] = _split_prefix(chosen, rejected)
    ex["messages"] = _system(obj) + prompt
    ex["tools"] = _tools(obj.get("tools"))
    return {"chosen_messages", "rejected_messages", "tools", "system"}


SIGNATURES: dict[str, frozenset[str]] = {
    "prompt_response": frozenset({"prompt", "response"}),
    "query_response": frozenset({"query", "response"}),
    "self_instruct": frozenset({"instruction", "instances"}),
    "input_output": frozenset({"input", "output"}),
    "conversation_pairs": frozenset({"conversation"}),
    "messages_v1": frozenset({"messages"}),
    "messages_v1_pair": frozenset({"chosen_messages", "rejected_messages"}),
    "alpaca_ranking": frozenset({"instruction", "output"}),
}
CONVERTERS = {
    "prompt_response": from_prompt_response,
    "query_response": from_query_response,
    "self_instruct": from_self_instruct,
    "input_output": from_input_output,
    "conversation_pairs": from_conversation_pairs,
    "messages_v1": from_messages_v1,
    "messages_v1_pair": from_messages_v1_pair,
    "alpaca_ranking": from_alpaca_ranking,
}
