"""Provider profiles as data: a JSON Schema for one line, named rules, a renderer and file limits.

The schema file ``schemas/<profile>.schema.json`` is checked when it is loaded; a broken schema
raises ``ProfileError`` (a program error, exit 2), never a data finding. Every number in a limit
carries its source (the tags of reference/providers.md); a number that source marks unconfirmed
only ever gives a warning.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from pipeline.profiles import render as r
from pipeline.profiles.rules import autotrain, azureml, bedrock, mistral, together, trl, vertex
from pipeline.profiles.rules import openai as openai_rules
from pipeline.profiles.rules.common import Issue


class ProfileError(ValueError):
    """An unknown profile, or a schema file that is missing or not a valid JSON Schema."""


TRAINING, VALIDATION = "training", "validation"  # the two roles of an upload file


@dataclass(frozen=True)
class FileLimits:
    min_examples: int | None = None
    min_examples_severity: str = "error"
    min_examples_by_format: dict[str, int] = field(default_factory=dict)
    # the files a minimum (of examples or bytes) applies to: a training file only where the
    # sources say "training examples"; both where they say "each dataset file" (providers.md)
    minimum_applies_to: tuple[str, ...] = (TRAINING,)
    min_bytes: int | None = None
    min_bytes_severity: str = "error"
    max_bytes: int | None = None
    max_bytes_exclusive: bool = False
    bom: str = "report"  # "expect": warn when missing; "report": warn when present; "reject": error
    max_images: int | None = None
    jsonl: bool = False  # the provider takes JSON Lines in UTF-8 only (not JSON, CSV, gzip, UTF-16)
    blank_lines: str = "warning"  # a blank line: "error" where the provider's checker refuses it
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    kinds: tuple[str, ...]
    check: Callable[[dict], Iterator[Issue]]
    render: Callable[[dict], dict]
    limits: FileLimits
    default_model: str | None = None
    shape: Callable[[dict], bool] = lambda obj: True  # does a line look like this profile?
    file_rules: Callable[[], Any] | None = None  # a fresh whole-file checker (see/finish)
    format_of: Callable[[dict], str | None] | None = (
        None  # the line's format, for per-format limits
    )
    checks: str = ""  # what the rules check, one line (for `ftprep profiles` and the README)
    models: tuple[tuple[str, int | None, str], ...] = ()  # (model, tokens per example, source)

    @property
    def schema_file(self) -> str:
        return f"{self.name}.schema.json"


MB = 1_000_000
GIB = 2**30

_OPENAI_MODELS = (
    ("gpt-4o-mini-2024-07-18", 65_536, "S2, S12"),
    ("gpt-4o-2024-08-06", 65_536, "S2, S12"),
    ("gpt-4.1-2025-04-14", 65_536, "S12 (Azure table; OpenAI value unconfirmed)"),
    ("gpt-4.1-mini-2025-04-14", 65_536, "S12 (Azure table; OpenAI value unconfirmed)"),
    ("gpt-4.1-nano-2025-04-14", 32_768, "S12 (Azure table; OpenAI value unconfirmed)"),
    ("gpt-3.5-turbo-0125", 16_385, "S2"),
)
_OPENAI_LIMITS = dict(
    min_examples=10,
    max_bytes=512 * MB,
    max_images=10,
    jsonl=True,
    sources={
        "jsonl": "S3, S4: .jsonl files, one JSON object per line",
        "min_examples": "S4, S2: at least 10 examples; S16: 'at least 10 training examples'. "
        "No source states a minimum for a validation file (S3: JSONL, purpose fine-tune)",
        "max_bytes": "S3 Files API: 512 MB",
        "max_images": "S2, S7: at most 10 images per example",
        "bom": "S1: UTF-8; BOM behaviour unconfirmed (warning)",
    },
)
_AZURE_LIMITS = dict(
    min_examples=10,
    max_bytes=512 * MB,
    max_bytes_exclusive=True,
    bom="expect",
    max_images=64,
    jsonl=True,
    sources={
        "jsonl": "S16: JSONL files encoded in UTF-8",
        "min_examples": "S16: 'Fine tuning jobs will not proceed without at least 10 training "
        "examples'; no minimum is stated for a validation file",
        "max_bytes": "S16: the file must be less than 512 MB",
        "max_images": "S17: at most 64 images per example",
        "bom": "S16: UTF-8 with a byte-order mark (warning when missing)",
    },
)


def _has(*keys: str) -> Callable[[dict], bool]:
    return lambda obj: all(k in obj for k in keys)


def _chat_shape(obj: dict) -> bool:
    return "messages" in obj and "label" not in obj


def _bedrock_shape(obj: dict) -> bool:
    if "schemaVersion" in obj:
        return True
    messages = obj.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    content = first.get("content") if isinstance(first, dict) else None
    return (
        isinstance(content, list)
        and bool(content)
        and isinstance(content[0], dict)
        and "type" not in content[0]
    )


_PROFILES = [
    Profile(
        name="openai-chat",
        title="OpenAI chat fine-tuning (supervised, vision)",
        kinds=("sft",),
        check=openai_rules.check_chat,
        render=r.render_openai_chat,
        limits=FileLimits(**_OPENAI_LIMITS),
        default_model="gpt-4o-mini-2024-07-18",
        shape=_chat_shape,
        checks="roles, weight 0/1, an assistant message, content part types per role, tool calls "
        "and ids, JSON arguments, function names, special tokens in any text, 10 images "
        "(JPEG/PNG/WEBP, base64 that decodes, not in assistant messages); JSON Lines in UTF-8",
        models=_OPENAI_MODELS,
    ),
    Profile(
        name="openai-dpo",
        title="OpenAI preference fine-tuning (DPO)",
        kinds=("preference",),
        check=openai_rules.check_openai_dpo,
        render=r.render_openai_dpo,
        limits=FileLimits(**_OPENAI_LIMITS),
        default_model="gpt-4.1-mini-2025-04-14",
        shape=_has("input", "preferred_output"),
        checks="input.messages ends before the answer, one assistant message per side, text only, "
        "identical pairs, old *_completion key names, special tokens",
        models=_OPENAI_MODELS[2:5],
    ),
    Profile(
        name="openai-completion",
        title="OpenAI legacy prompt/completion (babbage-002, davinci-002)",
        kinds=("sft",),
        check=openai_rules.check_completion,
        render=r.render_openai_completion,
        limits=FileLimits(**{**_OPENAI_LIMITS, "max_images": None}),
        default_model="davinci-002",
        shape=lambda obj: "prompt" in obj and "completion" in obj and "label" not in obj,
        checks="prompt and completion strings, empty completions, extra keys, special tokens",
        models=(
            ("babbage-002", 16_384, "S12 Azure max request (unconfirmed)"),
            ("davinci-002", 16_384, "S12 Azure max request (unconfirmed)"),
        ),
    ),
    Profile(
        name="azure-openai-chat",
        title="Azure OpenAI chat fine-tuning (supervised, vision)",
        kinds=("sft",),
        check=openai_rules.check_azure_chat,
        render=r.render_openai_chat,
        limits=FileLimits(**_AZURE_LIMITS),
        default_model="gpt-4o-mini-2024-07-18",
        shape=_chat_shape,
        checks="OpenAI's chat checks with 64 images per example; BOM expected; file under 512 MB",
        models=_OPENAI_MODELS[:5],
    ),
    Profile(
        name="azure-openai-dpo",
        title="Azure OpenAI preference fine-tuning (DPO)",
        kinds=("preference",),
        check=openai_rules.check_azure_dpo,
        render=r.render_azure_openai_dpo,
        limits=FileLimits(**_AZURE_LIMITS),
        default_model="gpt-4.1-mini-2025-04-14",
        shape=_has("input", "preferred_output"),
        checks="OpenAI's DPO checks; outputs hold assistant and tool messages, at least one assistant",
        models=_OPENAI_MODELS[1:4],
    ),
    Profile(
        name="trl-sft",
        title="Hugging Face TRL SFTTrainer (text, messages, prompt/completion)",
        kinds=("sft",),
        check=trl.check_sft,
        render=r.render_trl_sft,
        limits=FileLimits(sources={"min_examples": "none (S18)"}),
        shape=lambda obj: (
            any(k in obj for k in ("messages", "text"))
            or ("prompt" in obj and "completion" in obj and "label" not in obj)
        ),
        file_rules=trl.sft_file_rules,
        checks="a known key set, one format per file, strings vs message lists, the prompt's last "
        "role, empty fields, unknown roles (warning)",
    ),
    Profile(
        name="trl-dpo",
        title="Hugging Face TRL preference (DPOTrainer, ORPO, Reward)",
        kinds=("preference",),
        check=trl.check_dpo,
        render=r.render_trl_dpo,
        limits=FileLimits(),
        shape=_has("chosen", "rejected"),
        file_rules=trl.dpo_file_rules,
        checks="chosen and rejected (explicit or implicit prompt), one format per file, one style "
        "per row, the prompt's last role, identical pairs",
    ),
    Profile(
        name="trl-kto",
        title="Hugging Face TRL KTOTrainer (unpaired preference)",
        kinds=("unpaired",),
        check=trl.check_kto,
        render=r.render_trl_kto,
        limits=FileLimits(),
        shape=lambda obj: "label" in obj or ("completion" in obj and "prompt" in obj),
        file_rules=trl.KtoFileRules,
        checks="prompt, completion and a boolean label (messages+label is not read), one format "
        "per file, both labels present (warning)",
    ),
    Profile(
        name="autotrain-sft",
        title="Hugging Face AutoTrain Advanced llm-sft (JSONL)",
        kinds=("sft",),
        check=autotrain.check_sft,
        render=r.render_autotrain_sft,
        limits=FileLimits(
            min_examples=51,
            min_examples_severity="warning",
            sources={
                "min_examples": "S35 maintainer: more than 50 samples with the default block size (advice)"
            },
        ),
        shape=_has("text"),
        checks="a text column (string or messages), roles user/assistant/system, reserved column names",
    ),
    Profile(
        name="autotrain-dpo",
        title="Hugging Face AutoTrain Advanced llm-dpo / llm-orpo (JSONL)",
        kinds=("preference",),
        check=autotrain.check_dpo,
        render=r.render_autotrain_dpo,
        limits=FileLimits(
            min_examples=51,
            min_examples_severity="warning",
            sources={"min_examples": "S35 maintainer: more than 50 samples (advice)"},
        ),
        shape=_has("prompt", "text", "rejected_text"),
        checks="prompt, text and rejected_text, conversations ending with the answer and sharing the "
        "prompt, reserved column names",
    ),
    Profile(
        name="mistral",
        title="Mistral fine-tuning (mistral-finetune, La Plateforme)",
        kinds=("sft",),
        check=mistral.check,
        render=r.render_mistral,
        limits=FileLimits(
            jsonl=True,  # S36: jsonl files
            min_examples=10,
            min_examples_severity="warning",
            minimum_applies_to=(TRAINING, VALIDATION),
            min_bytes=1_000,
            min_bytes_severity="warning",
            max_bytes=512 * MB,
            sources={
                "min_examples": "S36 validate_data.py: MIN_NUM_JSONL_LINES = 10 'per dataset file' "
                "(train and eval alike), but its verify_size() call is commented out and La "
                "Plateforme's checks are unconfirmed: a warning",
                "min_bytes": "S36 validate_data.py: MIN_BYTES = 1000 per dataset file, not called "
                "(unconfirmed: a warning)",
                "max_bytes": "S37 La Plateforme: 512 MB",
            },
        ),
        shape=_chat_shape,
        checks="role transition table, one system message, last role assistant, 9-character tool "
        "call ids, calls = responses, tool functions with name/description/parameters, weight 0/1",
    ),
    Profile(
        name="together",
        title="Together AI fine-tuning (together files check)",
        kinds=("sft", "preference"),
        check=together.check,
        render=r.render_together,
        limits=FileLimits(
            jsonl=True,  # S40: JSONL text (Parquet is pre-tokenized)
            min_examples=1,
            minimum_applies_to=(TRAINING, VALIDATION),
            max_bytes=int(50.1 * GIB),
            bom="reject",
            blank_lines="error",  # S39: json.loads(line) on each line fails on a blank one
            max_images=10,
            sources={
                "min_examples": "S39 constants.py: MIN_SAMPLES = 1, checked for every uploaded "
                "file ('File is empty')",
                "max_bytes": "S39 constants.py: MAX_FILE_SIZE_GB = 50.1 (GiB); docs say 100 GB",
                "bom": "S39: json.loads fails on a BOM, so the check fails on line 1",
                "max_images": "S39: MAX_IMAGES_PER_EXAMPLE = 10",
            },
        ),
        shape=lambda obj: bool(together.formats_of(obj)),
        file_rules=together.file_rules,
        checks="one format per line and per file, no extra keys, roles system/user/assistant "
        "alternating, weight 0/1, base64 images in user messages with weight 0",
    ),
    Profile(
        name="azureml-chat",
        title="Phi-3 / Phi-3.5 chat fine-tuning on Azure AI Foundry and Azure ML",
        kinds=("sft",),
        check=azureml.check,
        render=r.render_azureml_chat,
        limits=FileLimits(
            jsonl=True,  # S28: must be JSON Lines
            sources={"limits": "S28, S29: not published (unconfirmed)"},
        ),
        shape=_chat_shape,
        checks="messages of system/user/assistant with string content, an assistant reply; "
        "order and last role (warnings)",
        models=(
            ("Phi-3-mini-4k-instruct", 4_096, "model context (S28; training limit unconfirmed)"),
            (
                "Phi-3-mini-128k-instruct",
                131_072,
                "model context (S28; training limit unconfirmed)",
            ),
        ),
    ),
    Profile(
        name="vertex-gemini",
        title="Vertex AI Gemini supervised tuning",
        kinds=("sft",),
        check=vertex.check,
        render=r.render_vertex_gemini,
        limits=FileLimits(
            jsonl=True,  # S41: JSONL files
            min_examples_by_format={"messages": 16},
            max_bytes=1_000 * MB,
            sources={
                "min_examples": "S41: 16 examples for the older messages format",
                "max_bytes": "S41: up to 1 GB for JSONL",
            },
        ),
        shape=lambda obj: (
            "contents" in obj
            or (
                isinstance(obj.get("messages"), list)
                and any(isinstance(m, dict) and m.get("role") == "model" for m in obj["messages"])
            )
        ),
        file_rules=vertex.file_rules,
        format_of=vertex.format_of,
        checks="contents of user/model turns, one data field per part, systemInstruction, a model "
        "turn, one format per file",
        models=(
            ("gemini-2.5-flash", 131_072, "S41"),
            ("gemini-2.5-flash-lite", 131_072, "S41"),
            ("gemini-1.5-pro-002", 32_000, "S41"),
            ("gemini-1.5-flash-002", 32_000, "S41"),
        ),
    ),
    Profile(
        name="bedrock-conversation",
        title="Amazon Bedrock conversation (bedrock-conversation-2024: Nova, Claude 3 Haiku)",
        kinds=("sft",),
        check=bedrock.check,
        render=r.render_bedrock_conversation,
        limits=FileLimits(
            jsonl=True,  # S42: JSONL files
            sources={"limits": "S42: per-model quotas not retrieved (unconfirmed)"},
        ),
        shape=_bedrock_shape,
        checks="schemaVersion, system blocks, user first, assistant last, alternation, at least two "
        "messages, one kind per content block, no extra keys (warning)",
    ),
]

PROFILES: dict[str, Profile] = {p.name: p for p in _PROFILES}

# --profile auto picks, among the profiles whose shape most sampled records have, the first in
# this order: the format a provider defined first (a messages file was written for OpenAI's chat
# format; prompt/chosen/rejected for TRL), then the profiles that read the same shape. Errors do
# not decide: the most lenient profile would win on a broken file.
AUTO_ORDER = (
    "bedrock-conversation",
    "vertex-gemini",
    "openai-dpo",
    "openai-chat",
    "openai-completion",
    "trl-kto",
    "trl-dpo",
    "autotrain-dpo",
    "trl-sft",
    "autotrain-sft",
    "azure-openai-chat",
    "azure-openai-dpo",
    "mistral",
    "together",
    "azureml-chat",
)
AZURE_OF = {"openai-chat": "azure-openai-chat", "openai-dpo": "azure-openai-dpo"}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileError(
            f"unknown profile {name!r}: choose one of {', '.join(sorted(PROFILES))}"
        ) from None


def _schema_path(name: str) -> Any:
    return resources.files("pipeline.schemas") / f"{name}.schema.json"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The profile's JSON Schema, checked against the 2020-12 metaschema and compiled once with
    fastjsonschema (the accept path must support every keyword the schema uses)."""
    import fastjsonschema
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    path = _schema_path(name)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"schema file for profile {name!r} is missing: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"schema file {path} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ProfileError(f"schema file {path} is not valid JSON: {exc}") from None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ProfileError(
            f"schema file {path} is not a valid JSON Schema: {exc.message}"
        ) from None
    schema = inline_refs(schema)
    try:
        fastjsonschema.compile(schema)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise ProfileError(f"schema file {path} cannot be compiled: {exc}") from None
    return schema


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema with each local ``#/$defs/x`` reference replaced by its definition.

    fastjsonschema compiles a reference into a function call that formats the item's name on
    every call; inlined, a 200k-line chat file validates about twice as fast. Recursive
    definitions keep their reference.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
                name = ref.removeprefix("#/$defs/")
                if name in defs and name not in seen:
                    return walk(defs[name], seen + (name,))
                return node
            return {k: v if k == "$defs" else walk(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, seen) for v in node]
        return node

    return walk(schema, ())
