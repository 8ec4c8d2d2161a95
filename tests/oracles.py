"""The providers' own checkers, used as oracles by the tests: Together's ``check_file`` (together
1.6.0, the last release that checks lines locally), Mistral's ``mistral_common`` in fine-tuning
mode (as mistral-finetune calls it), and Hugging Face ``datasets.load_dataset``. Each runs offline;
a test that needs one skips when its package is not installed (``pip install -e '.[dev]'``)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TOGETHER_NO_BANNER", "1")  # together 1.6.0 prints a banner on import
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def together_check(path: Path) -> dict[str, Any]:
    """Together's report for a file (``is_check_passed``, ``message``, ``line_number``...)."""
    files = pytest.importorskip("together.utils.files")
    return files.check_file(Path(path))


@cache
def _mistral_tokenizer():
    pytest.importorskip("sentencepiece")
    common = pytest.importorskip("mistral_common")
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    # the v3 tokenizer that mistral-finetune's validate_data.py uses (MistralTokenizer.v3())
    model = Path(common.__file__).parent / "data" / "mistral_instruct_tokenizer_240323.model.v3"
    return MistralTokenizer.from_file(str(model), mode=ValidationMode.finetuning)


def mistral_refusal(line: dict) -> str | None:
    """Why Mistral's own code refuses one line of a fine-tuning file, or None when it takes it.

    Two steps, as mistral-finetune runs them (finetune/data/tokenize.py, build_instruct_sample):
    the messages become mistral_common messages with the system message lifted out, checked by
    ``MistralRequestValidatorV3`` in fine-tuning mode (with the tools); then the whole request,
    system message included, goes through ``ChatCompletionRequest`` and ``encode_chat_completion``
    of the v3 tokenizer loaded in ``ValidationMode.finetuning``."""
    tokenizer = _mistral_tokenizer()
    from mistral_common.protocol.instruct.messages import (
        FinetuningAssistantMessage,
        ToolMessage,
        UserMessage,
    )
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.tool_calls import Function, FunctionCall, Tool, ToolCall
    from mistral_common.protocol.instruct.validator import (
        MistralRequestValidatorV3,
        ValidationMode,
    )

    messages = line.get("messages", line.get("interactions"))
    if not isinstance(messages, list):
        return "The conversation does not contain one of 'messages, interactions' key"
    if sum(isinstance(m, dict) and m.get("role") == "system" for m in messages) > 1:
        return "Multiple messages with role 'system' encountered. Only one is allowed."
    try:
        rest: list[Any] = []
        for m in messages:
            role, content = m["role"], m.get("content")
            if role == "user":
                rest.append(UserMessage(content=content))
            elif role == "assistant":
                calls = None
                if m.get("tool_calls") is not None:
                    calls = [
                        ToolCall(
                            id=c["id"],
                            function=FunctionCall(
                                name=c["function"]["name"], arguments=c["function"]["arguments"]
                            ),
                        )
                        for c in m["tool_calls"]
                    ]
                rest.append(
                    FinetuningAssistantMessage(
                        content=content, tool_calls=calls, weight=m.get("weight")
                    )
                )
            elif role == "tool":
                rest.append(ToolMessage(content=content, tool_call_id=m["tool_call_id"]))
            elif role != "system":
                return f"role {role!r} is not recognised"
        tools = [
            Tool(
                function=Function(
                    name=t["function"]["name"],
                    description=t["function"]["description"],
                    parameters=t["function"]["parameters"],
                )
            )
            for t in line.get("tools") or []
        ]
        validator = MistralRequestValidatorV3(ValidationMode.finetuning)
        validator.validate_messages(rest)
        validator._validate_tools(tools)
        plain = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
        request = ChatCompletionRequest(messages=plain, tools=line.get("tools") or None)
        tokenizer.encode_chat_completion(request)
    except Exception as exc:  # mistral-finetune turns a missing key into a format error too
        return f"{type(exc).__name__}: {exc}"
    return None


def mistral_file_refusals(path: Path) -> list[tuple[int, str]]:
    """(line, why) for each line of a JSONL file that Mistral's own code refuses."""
    out = []
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            why = mistral_refusal(json.loads(text))
            if why:
                out.append((number, why))
    return out


def hf_load(path: Path) -> int:
    """Rows that ``datasets.load_dataset("json", ...)`` reads from the file (raises when it
    cannot load it)."""
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    return len(datasets.load_dataset("json", data_files=str(path), split="train"))
