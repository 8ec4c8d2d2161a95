"""Writing is the inverse of converting: a canonical Example -> one line of the target format.

A renderer returns the line as a dict, or raises ``Unrenderable`` with the rule and message that
explain why this Example has no form in the target (a preference pair for a supervised profile).
"""

from __future__ import annotations

from typing import Any

from pipeline.records import has_reasoning


class Unrenderable(ValueError):
    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


def clean_message(m: dict) -> dict:
    """A message without the keys that are unset (None), in a stable key order. A null content is
    kept (validation names it) except beside tool calls, where OpenAI's format lets it be left out
    and a chat template would render it as the text "None"."""
    calls = bool(m.get("tool_calls") or m.get("function_call"))
    return {k: v for k, v in m.items() if v is not None or (k == "content" and not calls)}


NO_REASONING = "profile.reasoning.unsupported"
_TAKE_REASONING = "together, bedrock-conversation (Nova 2.0), trl-sft, trl-dpo or trl-kto"


def _no_reasoning(ex: dict[str, Any], profile: str) -> None:
    """Refuse an Example with a reasoning trace for a format that has no field for one."""
    if has_reasoning(ex):
        raise Unrenderable(
            NO_REASONING,
            f"{profile} has no field for an assistant's reasoning trace, so the reasoning would "
            f"be lost: use --profile {_TAKE_REASONING}, or leave the reasoning out of the input",
        )


def _trl_message(m: dict) -> dict:
    """A message for TRL: its reasoning under ``reasoning_content``, the key chat templates read
    (Qwen3's, TRL's training templates)."""
    msg = clean_message(m)
    if "reasoning" in msg:
        msg["reasoning_content"] = msg.pop("reasoning")
    return msg


def render_openai_chat(ex: dict[str, Any]) -> dict[str, Any]:
    _no_reasoning(ex, "openai-chat")
    if ex["kind"] != "sft":
        raise Unrenderable(
            "profile.kind.unsupported",
            f"a {ex['kind']} record has no supervised chat form: use --profile openai-dpo "
            "for preference pairs, or trl-kto for labelled completions",
        )
    if not ex["messages"]:
        _no_messages(ex)
        raise Unrenderable(
            "profile.kind.unsupported",
            "a plain-text record has no chat messages: use --profile trl-sft, or map its "
            "columns to prompt/completion in the config",
        )
    line: dict[str, Any] = {"messages": [clean_message(m) for m in ex["messages"]]}
    if ex.get("tools"):
        line["tools"] = ex["tools"]
    if ex.get("parallel_tool_calls") is not None:
        line["parallel_tool_calls"] = ex["parallel_tool_calls"]
    return line


# --------------------------------------------------------------------------- helpers

_FOR_KIND = {
    "sft": "openai-chat, trl-sft or another supervised profile",
    "preference": "openai-dpo, trl-dpo, autotrain-dpo or together",
    "unpaired": "trl-kto",
}


def _require(ex: dict[str, Any], profile: str, *kinds: str) -> None:
    kind = ex["kind"]
    if kind not in kinds:
        raise Unrenderable(
            "profile.kind.unsupported",
            f"a {kind} record has no {profile} form: use --profile {_FOR_KIND.get(kind, '...')}",
        )


def _no_messages(ex: dict[str, Any]) -> None:
    """An Example whose message list is empty, with no text either: nothing to render."""
    if ex.get("text") is None:
        raise Unrenderable(
            "profile.messages.empty",
            "the record has no messages (an empty list): add the conversation or drop the record",
        )


def _require_messages(ex: dict[str, Any], profile: str) -> None:
    if not ex["messages"]:
        _no_messages(ex)
        raise Unrenderable(
            "profile.kind.unsupported",
            f"a plain-text record has no chat messages, which {profile} needs: use --profile "
            "trl-sft or autotrain-sft, or map its columns to prompt/completion in the config",
        )


def _no_tools(ex: dict[str, Any], profile: str, *lists: list | None) -> None:
    tooled = bool(ex.get("tools")) or any(
        m.get("tool_calls") or m.get("role") in ("tool", "function")
        for msgs in lists
        for m in msgs or ()
    )
    if tooled:
        raise Unrenderable(
            "profile.tools.unsupported",
            f"{profile} has no form for tool definitions, tool calls or tool messages: use "
            "--profile openai-chat or mistral, or drop the tool turns",
        )


def _text(m: dict, profile: str) -> str:
    """A message's content as one string (text parts joined); images cannot be rendered."""
    content = m.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if (
            isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ):
            texts.append(part["text"])
        else:
            raise Unrenderable(
                "profile.content.unsupported",
                f"{profile} takes text only here; this message holds a "
                f"{part.get('type') if isinstance(part, dict) else type(part).__name__} part",
            )
    return "\n".join(texts)


def _plain(messages: list[dict], profile: str) -> list[dict]:
    """Messages as ``{role, content}`` with text content (and weight and reasoning where set)."""
    out = []
    for m in messages:
        msg = {"role": m["role"], "content": _text(m, profile)}
        if m.get("weight") is not None:
            msg["weight"] = m["weight"]
        if m.get("reasoning") is not None:
            msg["reasoning"] = m["reasoning"]
        out.append(msg)
    return out


# --------------------------------------------------------------------------- OpenAI / Azure


def render_openai_dpo(ex: dict[str, Any], profile: str = "openai-dpo", one: bool = True) -> dict:
    _require(ex, profile, "preference")
    _no_reasoning(ex, profile)
    for key in ("chosen", "rejected"):
        side = ex[key] or []
        if one and (len(side) != 1 or side[0].get("role") != "assistant"):
            raise Unrenderable(
                "profile.shape.unsupported",
                f"{profile} trains on one assistant message per side; {key} holds "
                f"{len(side)} message(s): keep only the final assistant answer",
            )
    inp: dict[str, Any] = {"messages": [clean_message(m) for m in ex["messages"]]}
    if ex.get("tools"):
        inp["tools"] = ex["tools"]
    if ex.get("parallel_tool_calls") is not None:
        inp["parallel_tool_calls"] = ex["parallel_tool_calls"]
    return {
        "input": inp,
        "preferred_output": [clean_message(m) for m in ex["chosen"]],
        "non_preferred_output": [clean_message(m) for m in ex["rejected"]],
    }


def render_azure_openai_dpo(ex: dict[str, Any]) -> dict[str, Any]:
    return render_openai_dpo(ex, "azure-openai-dpo", one=False)


def render_openai_completion(ex: dict[str, Any]) -> dict[str, Any]:
    profile = "openai-completion"
    _require(ex, profile, "sft")
    _no_reasoning(ex, profile)
    if not ex["messages"] and ex.get("text") is not None:
        raise Unrenderable(
            "profile.shape.unsupported",
            "a plain-text record has no prompt/completion split: use --profile trl-sft",
        )
    _no_tools(ex, profile, ex["messages"])
    roles = [m["role"] for m in ex["messages"]]
    if roles not in (["user", "assistant"], ["system", "user", "assistant"]):
        raise Unrenderable(
            "profile.shape.unsupported",
            f"{profile} holds one prompt and one completion; this record has the turns "
            f"{', '.join(roles)}: use --profile openai-chat for conversations",
        )
    texts = [_text(m, profile) for m in ex["messages"]]
    return {"prompt": "\n\n".join(texts[:-1]), "completion": texts[-1]}


# --------------------------------------------------------------------------- Hugging Face


def render_trl_sft(ex: dict[str, Any]) -> dict[str, Any]:
    """Conversations are ``messages`` (TRL trains what ``assistant_only_loss`` selects), or with
    ``--trl-layout prompt-completion`` a prompt and a completion (TRL trains the completion)."""
    _require(ex, "trl-sft", "sft")
    if not ex["messages"]:
        return {"text": ex.get("text") or ""}
    layout = ex.get("layout")
    if layout and 0 < layout["completion"] < len(ex["messages"]):
        return _trl_prompt_completion(ex, layout)
    line: dict[str, Any] = {"messages": [_trl_message(m) for m in ex["messages"]]}
    if ex.get("tools"):
        line["tools"] = ex["tools"]
    return line


def _trl_prompt_completion(ex: dict[str, Any], layout: dict) -> dict[str, Any]:
    """TRL's conversational prompt-completion row: the trailing assistant messages are the
    completion, the messages before them the prompt."""
    k = layout["completion"]
    line: dict[str, Any] = {
        "prompt": [_trl_message(m) for m in ex["messages"][:-k]],
        "completion": [_trl_message(m) for m in ex["messages"][-k:]],
    }
    if ex.get("tools"):
        line["tools"] = ex["tools"]
    return line


def render_trl_dpo(ex: dict[str, Any]) -> dict[str, Any]:
    _require(ex, "trl-dpo", "preference")
    return {
        "prompt": [_trl_message(m) for m in ex["messages"]],
        "chosen": [_trl_message(m) for m in ex["chosen"]],
        "rejected": [_trl_message(m) for m in ex["rejected"]],
    }


def render_trl_kto(ex: dict[str, Any]) -> dict[str, Any]:
    _require(ex, "trl-kto", "unpaired")
    return {
        "prompt": [_trl_message(m) for m in ex["messages"]],
        "completion": [_trl_message(m) for m in ex["completion"]],
        "label": bool(ex["label"]),
    }


def render_autotrain_sft(ex: dict[str, Any]) -> dict[str, Any]:
    _require(ex, "autotrain-sft", "sft")
    _no_reasoning(ex, "autotrain-sft")
    if not ex["messages"]:
        return {"text": ex.get("text") or ""}
    _no_tools(ex, "autotrain-sft", ex["messages"])
    return {
        "text": [{"role": m["role"], "content": _text(m, "autotrain-sft")} for m in ex["messages"]]
    }


def render_autotrain_dpo(ex: dict[str, Any]) -> dict[str, Any]:
    profile = "autotrain-dpo"
    _require(ex, profile, "preference")
    _no_reasoning(ex, profile)
    _no_tools(ex, profile, ex["messages"], ex["chosen"], ex["rejected"])
    prompt = [{"role": m["role"], "content": _text(m, profile)} for m in ex["messages"]]
    users = [m["content"] for m in prompt if m["role"] == "user"]
    chosen = [{"role": m["role"], "content": _text(m, profile)} for m in ex["chosen"]]
    rejected = [{"role": m["role"], "content": _text(m, profile)} for m in ex["rejected"]]
    return {
        "prompt": users[-1] if users else "",
        "text": prompt + chosen,
        "rejected_text": prompt + rejected,
    }


# --------------------------------------------------------------------------- Mistral, Together, Azure ML


def render_mistral(ex: dict[str, Any]) -> dict[str, Any]:
    """Tool call ids become 9 alphanumerics (``call00001``...), consistent within the example;
    tool functions get the description and parameters Mistral requires when they lack them."""
    _require(ex, "mistral", "sft")
    _no_reasoning(ex, "mistral")
    _require_messages(ex, "mistral")
    ids: dict[str, str] = {}

    def new_id(old: Any) -> str:
        return ids.setdefault(str(old), f"call{len(ids) + 1:05d}")

    messages = []
    for m in ex["messages"]:
        msg = clean_message(m)
        if msg.get("tool_calls"):
            msg["tool_calls"] = [
                {**call, "id": new_id(call.get("id"))} for call in msg["tool_calls"]
            ]
            if msg.get("content") in (None, ""):
                msg.pop("content", None)
        if msg.get("role") == "tool" and "tool_call_id" in msg:
            msg["tool_call_id"] = new_id(msg["tool_call_id"])
        messages.append(msg)
    line: dict[str, Any] = {"messages": messages}
    if ex.get("tools"):
        line["tools"] = [
            {
                **tool,
                "function": {
                    "description": "",
                    "parameters": {"type": "object", "properties": {}},
                    **tool.get("function", {}),
                },
            }
            for tool in ex["tools"]
        ]
    return line


def render_together(ex: dict[str, Any]) -> dict[str, Any]:
    profile = "together"
    _require(ex, profile, "sft", "preference")
    if ex["kind"] == "preference":
        _no_tools(ex, profile, ex["messages"], ex["chosen"], ex["rejected"])
        for key in ("chosen", "rejected"):
            if len(ex[key]) != 1:
                raise Unrenderable(
                    "profile.shape.unsupported",
                    f"together takes one assistant message per side; {key} holds {len(ex[key])}",
                )
        return {
            "input": {"messages": _plain(ex["messages"], profile)},
            "preferred_output": _plain(ex["chosen"], profile),
            "non_preferred_output": _plain(ex["rejected"], profile),
        }
    if not ex["messages"]:
        _no_messages(ex)
        return {"text": ex["text"]}
    _no_tools(ex, profile, ex["messages"])
    return {"messages": _plain(ex["messages"], profile)}


def render_azureml_chat(ex: dict[str, Any]) -> dict[str, Any]:
    _require(ex, "azureml-chat", "sft")
    _no_reasoning(ex, "azureml-chat")
    _require_messages(ex, "azureml-chat")
    _no_tools(ex, "azureml-chat", ex["messages"])
    return {
        "messages": [
            {"role": m["role"], "content": _text(m, "azureml-chat")} for m in ex["messages"]
        ]
    }


# --------------------------------------------------------------------------- Google, Amazon


def render_vertex_gemini(ex: dict[str, Any]) -> dict[str, Any]:
    profile = "vertex-gemini"
    _require(ex, profile, "sft")
    _no_reasoning(ex, profile)
    _require_messages(ex, profile)
    _no_tools(ex, profile, ex["messages"])
    messages = ex["messages"]
    system = [m for m in messages if m["role"] == "system"]
    line: dict[str, Any] = {}
    if system:
        text = "\n\n".join(_text(m, profile) for m in system)
        line["systemInstruction"] = {"role": "system", "parts": [{"text": text}]}
    roles = {"assistant": "model"}
    line["contents"] = [
        {"role": roles.get(m["role"], m["role"]), "parts": [{"text": _text(m, profile)}]}
        for m in messages
        if m["role"] != "system"
    ]
    return line


def render_bedrock_conversation(ex: dict[str, Any]) -> dict[str, Any]:
    profile = "bedrock-conversation"
    _require(ex, profile, "sft")
    _require_messages(ex, profile)
    _no_tools(ex, profile, ex["messages"])
    messages = ex["messages"]
    system = [m for m in messages if m["role"] == "system"]
    line: dict[str, Any] = {"schemaVersion": "bedrock-conversation-2024"}
    if system:
        line["system"] = [{"text": _text(m, profile)} for m in system]
    line["messages"] = [
        {"role": m["role"], "content": _nova_reasoning(m) + [{"text": _text(m, profile)}]}
        for m in messages
        if m["role"] != "system"
    ]
    return line


def _nova_reasoning(m: dict) -> list[dict]:
    """An assistant's reasoning as Nova 2.0's ``reasoningContent`` block (before the text)."""
    if not isinstance(m.get("reasoning"), str):
        return []
    return [{"reasoningContent": {"reasoningText": {"text": m["reasoning"]}}}]
