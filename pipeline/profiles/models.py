"""Target models: their tokenizer and their per-example training context, with the source of each number.

Sources are the tags of reference/providers.md (S2: OpenAI fine-tuning guide, S12: Azure OpenAI
fine-tune models table, S15: tiktoken's model table). A limit marked ``confirmed=False`` is only
known from one provider's table or an older document, so exceeding it is always a warning.

Model ids are resolved in this order: a fine-tuned id is reduced to its base model
(``ft:gpt-4.1-mini-2025-04-14:org::abc`` and Azure's ``gpt-4o-mini-2024-07-18.ft-0123abcd``), an
alias goes to its dated snapshot, a snapshot is looked up in the table, and any other id of a known
family gets the family's encoding with no limit. tiktoken's own prefix table sends
``ft:gpt-4.1-...`` to cl100k_base (its ``ft:gpt-4`` prefix matches first), which is wrong: the
base model decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any


class UnknownModel(ValueError):
    """A model id ftprep cannot map to a tokenizer."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    encoding: str
    max_tokens: int | None  # per training example; None when no provider states it
    source: str
    confirmed: bool = True
    provider: str = "openai"
    approximate: bool = False  # counted with an OpenAI encoding for another provider's model


_OPENAI = "S2 OpenAI fine-tuning guide"
_AZURE = "S12 Azure fine-tune models"
_MODELS = [
    ModelInfo("gpt-3.5-turbo-0613", "cl100k_base", 4_096, _OPENAI),
    ModelInfo("gpt-3.5-turbo-1106", "cl100k_base", 16_385, _OPENAI),
    ModelInfo("gpt-3.5-turbo-0125", "cl100k_base", 16_385, _OPENAI),
    ModelInfo(
        "gpt-4-0613", "cl100k_base", 8_192, "inference context; training limit unpublished", False
    ),
    ModelInfo("gpt-4o-mini-2024-07-18", "o200k_base", 65_536, "S2 OpenAI guide; S12 Azure"),
    ModelInfo("gpt-4o-2024-08-06", "o200k_base", 65_536, "S2 OpenAI guide; S12 Azure"),
    ModelInfo(
        "gpt-4.1-2025-04-14", "o200k_base", 65_536, "S12 Azure (OpenAI value unpublished)", False
    ),
    ModelInfo(
        "gpt-4.1-mini-2025-04-14",
        "o200k_base",
        65_536,
        "S12 Azure (OpenAI value unpublished)",
        False,
    ),
    ModelInfo(
        "gpt-4.1-nano-2025-04-14",
        "o200k_base",
        32_768,
        "S12 Azure (OpenAI value unpublished)",
        False,
    ),
    ModelInfo(
        "o4-mini-2025-04-16", "o200k_base", 65_536, "S12 Azure (reinforcement fine-tuning)", False
    ),
    ModelInfo("babbage-002", "cl100k_base", 16_384, "S12 Azure max request", False),
    ModelInfo("davinci-002", "cl100k_base", 16_384, "S12 Azure max request", False),
    # Azure OpenAI deployment names: the same snapshots under Azure's spelling (S12).
    ModelInfo("gpt-35-turbo-0613", "cl100k_base", 4_096, _AZURE, provider="azure"),
    ModelInfo("gpt-35-turbo-1106", "cl100k_base", 16_385, _AZURE, provider="azure"),
    ModelInfo("gpt-35-turbo-0125", "cl100k_base", 16_385, _AZURE, provider="azure"),
]
MODELS: dict[str, ModelInfo] = {m.name: m for m in _MODELS}

ALIASES = {
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-35-turbo": "gpt-35-turbo-0125",
    "gpt-4": "gpt-4-0613",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "o4-mini": "o4-mini-2025-04-16",
}

# Prefixes in the order they are tried: longer, more specific ones first (tiktoken/model.py, S15,
# with the fine-tuned id problem fixed: ids are mapped through their base model first).
_PREFIXES = [
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4-mini", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("davinci-002", "cl100k_base"),
    ("babbage-002", "cl100k_base"),
]

_AZURE_FT = re.compile(r"^(?P<base>.+?)\.ft-[0-9A-Za-z_-]+$")
# "gpt-4o-mini 2024-07-18", "gpt-4o-mini:2024-07-18" or "gpt-4o-mini@2024-07-18": Azure's model + version
_AZURE_VERSION = re.compile(r"^(?P<model>[a-z0-9.-]+?)[ :@](?P<version>\d{4}-\d{2}-\d{2}|\d{4})$")


def base_model(model: str) -> str:
    """The base model of a fine-tuned id.

    ``ft:gpt-4.1-mini-2025-04-14:org::abc`` -> ``gpt-4.1-mini-2025-04-14`` (OpenAI);
    ``gpt-35-turbo-0613.ft-5fd1918ee65d4cd38a5dcf6835066ed7`` -> ``gpt-35-turbo-0613`` (Azure).
    """
    model = model.strip()
    if model.startswith("ft:"):
        return model.split(":")[1]
    azure = _AZURE_FT.match(model)
    if azure:
        return azure["base"]
    versioned = _AZURE_VERSION.match(model)
    if versioned:
        return f"{versioned['model']}-{versioned['version']}"
    return model


def model_info(model: str) -> ModelInfo:
    """Tokenizer and limit for a model id, a dated snapshot, an alias or a fine-tuned id."""
    if not model or not model.strip():
        raise UnknownModel("no model given: use an OpenAI model id such as gpt-4o-mini-2024-07-18")
    base = base_model(model)
    base = ALIASES.get(base, base)
    if base in MODELS:
        info = MODELS[base]
        return info if base == model else replace(info, name=model)
    for prefix, encoding in _PREFIXES:
        if base.startswith(prefix):
            return ModelInfo(
                model, encoding, None, "encoding by model family (S15); no published limit", False
            )
    raise UnknownModel(
        f"unknown model {model!r}: use an OpenAI model id such as gpt-4o-mini-2024-07-18 "
        f"(see `ftprep profiles`), or give --tokenizer PATH for an open model"
    )


APPROXIMATE_ENCODING = "o200k_base"
UNSPECIFIED = "unspecified"  # the model of a run for another provider with no --model


def model_for_profile(profile: Any, model: str | None) -> ModelInfo:
    """The model a run counts tokens for when no --tokenizer is given.

    OpenAI and Azure profiles take an OpenAI model id (default: the profile's). Other providers'
    models have tokenizers ftprep does not ship: their counts are approximate, made with
    o200k_base and labelled so in the manifest and the summary; the limit is the model's as the
    profile lists it (``Profile.models``, unconfirmed: a warning), else none. An OpenAI model id
    for another provider's profile is taken as asked (its own tokenizer counts)."""
    if profile.default_model and profile.name.startswith(("openai", "azure-openai")):
        return model_info(model or profile.default_model)
    if model:
        try:
            return model_info(model)
        except UnknownModel:
            pass
    listed = {name: (tokens, source) for name, tokens, source in profile.models}
    name = model or (profile.models[0][0] if profile.models else UNSPECIFIED)
    tokens, source = listed.get(name, (None, "no limit known for this model"))
    return ModelInfo(
        name,
        APPROXIMATE_ENCODING,
        tokens,
        f"{source}; counted with {APPROXIMATE_ENCODING}, an approximation: give --tokenizer "
        "PATH (the model's tokenizer.json) for exact counts",
        confirmed=False,
        provider="approximate",
        approximate=True,
    )


def openai_model_named(model: str | None, tokenizer: str) -> None:
    """--tokenizer counts with an open model's own tokenizer: a --model that names an OpenAI
    model (whose tokenizer is tiktoken's) would be recorded for counts it did not make."""
    if not model:
        return
    try:
        info = model_info(model)
    except UnknownModel:
        return  # another model's name: recorded as the name of what --tokenizer counts
    raise UnknownModel(
        f"--model {model} names an OpenAI model, which counts with {info.encoding}, but "
        f"--tokenizer {tokenizer} counts with that folder's tokenizer: give one of them (or a "
        "--model name for the open model)"
    )
