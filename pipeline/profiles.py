"""Provider profiles as data: a JSON Schema for one line, named rules, a renderer and file limits.

The schema file ``schemas/<profile>.schema.json`` is checked when it is loaded; a broken schema
raises ``ProfileError`` (a program error, exit 2), never a data finding.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from pipeline.render import render_openai_chat
from pipeline.rules import openai as openai_rules
from pipeline.rules.common import Issue


class ProfileError(ValueError):
    """An unknown profile, or a schema file that is missing or not a valid JSON Schema."""


@dataclass(frozen=True)
class FileLimits:
    min_examples: int | None = None
    max_bytes: int | None = None
    max_bytes_exclusive: bool = False
    bom: str = "report"  # "expect": warn when missing; "report": note when present
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

    @property
    def schema_file(self) -> str:
        return f"{self.name}.schema.json"


MB = 1_000_000

PROFILES: dict[str, Profile] = {
    "openai-chat": Profile(
        name="openai-chat",
        title="OpenAI chat fine-tuning (supervised)",
        kinds=("sft",),
        check=openai_rules.check_chat,
        render=render_openai_chat,
        limits=FileLimits(
            min_examples=10,
            max_bytes=512 * MB,
            sources={"min_examples": "S4, S2", "max_bytes": "S3 Files API: 512 MB"},
        ),
        default_model="gpt-4o-mini-2024-07-18",
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileError(
            f"unknown profile {name!r}: choose one of {', '.join(sorted(PROFILES))}"
        ) from None


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The profile's JSON Schema, checked against the 2020-12 metaschema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    path = resources.files("pipeline.schemas") / f"{name}.schema.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"schema file for profile {name!r} is missing: {path}") from None
    except json.JSONDecodeError as exc:
        raise ProfileError(f"schema file {path} is not valid JSON: {exc}") from None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ProfileError(
            f"schema file {path} is not a valid JSON Schema: {exc.message}"
        ) from None
    return schema
