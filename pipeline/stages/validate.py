"""Validate one line against a profile: its JSON Schema, then its named rules.

The schema is compiled with fastjsonschema for the fast accept path; only a line that fails it is
explained with jsonschema, which yields every error with its location. A plain line (only
``messages``, each a role and a content string) skips the schema where a reading of the schema
shows it accepts every plain line (``accepts_plain_lines``). Findings carry a pointer relative to
the line; callers add file and line.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from pipeline.findings import ERROR, pointer, shown
from pipeline.profiles.profiles import Profile, load_schema
from pipeline.profiles.rules.common import Issue
from pipeline.records import plain_message


@cache
def _validators(name: str) -> tuple[Callable[[Any], Any], Any]:
    import fastjsonschema
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    return fastjsonschema.compile(schema), Draft202012Validator(schema)


# Keywords that constrain nothing; any keyword not named below as understood makes the reading
# answer no (a false "no" only costs time).
_ANNOTATIONS = frozenset(
    ("$schema", "$id", "$comment", "$defs", "title", "description", "examples")
)


def _keywords(node: dict, understood: set[str]) -> bool:
    return set(node) - _ANNOTATIONS <= understood


def _allows(node: dict, kind: str) -> bool:
    allowed = node.get("type")
    return allowed is None or allowed == kind or (isinstance(allowed, list) and kind in allowed)


def _resolved(schema: dict, node: Any) -> dict | None:
    """A subschema with a local ``$ref`` followed (and nothing beside it), or None."""
    for _ in range(8):
        if not isinstance(node, dict):
            return None
        ref = node.get("$ref")
        if ref is None:
            return node
        if not isinstance(ref, str) or not ref.startswith("#/$defs/") or len(node) > 1:
            return None
        node = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
    return None


def accepts_plain_lines(schema: dict) -> bool:
    """Whether the schema accepts every plain line: ``{"messages": [...]}`` with at least one
    message, each ``{"role": <string>, "content": <string>}``. A conservative reading: any keyword
    that could constrain such a line (an enum, a length, a combinator, ...) answers no."""
    if not _keywords(schema, {"type", "required", "properties", "additionalProperties"}):
        return False
    if not _allows(schema, "object") or not set(schema.get("required", [])) <= {"messages"}:
        return False
    messages = _resolved(schema, schema.get("properties", {}).get("messages"))
    if messages is None or not _keywords(messages, {"type", "minItems", "items"}):
        return False
    if not _allows(messages, "array") or messages.get("minItems", 0) > 1:
        return False
    message = _resolved(schema, messages.get("items", {}))
    if message is None or not _keywords(
        message, {"type", "required", "properties", "additionalProperties"}
    ):
        return False
    required = set(message.get("required", []))
    if not _allows(message, "object") or not required <= {"role", "content"}:
        return False
    for key in ("role", "content"):
        field = _resolved(schema, message.get("properties", {}).get(key))
        if field is None or not _keywords(field, {"type", "minItems", "maxItems", "items"}):
            return False
        if not _allows(field, "string"):
            return False
    return True


@cache
def _plain_lines_pass(name: str) -> bool:
    return accepts_plain_lines(load_schema(name))


def _plain_line(obj: Any) -> bool:
    if type(obj) is not dict or len(obj) != 1:
        return False
    messages = obj.get("messages")
    return type(messages) is list and bool(messages) and all(map(plain_message, messages))


def schema_issues(profile: Profile, obj: Any) -> list[Issue]:
    if _plain_line(obj) and _plain_lines_pass(profile.name):
        return []
    fast, full = _validators(profile.name)
    try:
        fast(obj)
        return []
    except Exception:  # fastjsonschema raises JsonSchemaValueException; explain with jsonschema
        pass
    issues = []
    for error in sorted(full.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = list(error.absolute_path)
        message = error.message
        if error.validator == "type":  # JSON's names, not Python's reprs (true, not True)
            kinds = error.validator_value
            kinds = " or ".join(kinds) if isinstance(kinds, list) else str(kinds)
            message = f"{shown(error.instance)} is not of type {kinds}"
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [k for k in error.validator_value if k not in error.instance]
            path += missing[:1]
            message = f"{missing[0]!r} is required" if missing else message
        message = f"{message}: {schema_action(error)}"
        issues.append((pointer(*path), f"schema.{error.validator}", ERROR, message))
    return issues


def _article(kinds: str) -> str:
    return "an" if kinds[:1] in "aeiou" else "a"


def schema_action(error: Any) -> str:
    """What to change, for a jsonschema error: every schema finding ends with an action."""
    value = error.validator_value
    if error.validator == "type":
        kinds = " or ".join(value) if isinstance(value, list) else str(value)
        return f"make it {_article(kinds)} {kinds}"
    actions = {
        "required": "add it",
        "additionalProperties": "remove the key (the provider refuses keys it does not know)",
        "unevaluatedProperties": "remove the key (the provider refuses keys it does not know)",
        "enum": f"use one of {', '.join(shown(v) for v in value)}"
        if isinstance(value, list)
        else "use an allowed value",
        "const": f"use {shown(value)}",
        "minItems": f"give at least {value} item(s)",
        "maxItems": f"give at most {value} item(s), or split the example",
        "minLength": f"write at least {value} character(s)",
        "maxLength": f"shorten it to {value} character(s) at most",
        "pattern": f"make it match {value}",
        "minimum": f"use {value} or more",
        "maximum": f"use {value} or less",
        "exclusiveMinimum": f"use more than {value}",
        "exclusiveMaximum": f"use less than {value}",
        "minProperties": f"give at least {value} key(s)",
        "maxProperties": f"give at most {value} key(s)",
        "uniqueItems": "remove the repeated items",
        "not": "change or remove it",
    }
    if error.validator in actions:
        return actions[error.validator]
    if error.validator in ("oneOf", "anyOf", "allOf", "if", "then", "else", "$ref"):
        return (
            "change it to one of the forms the provider's format allows (see the profile's schema)"
        )
    return "change it to what the profile's schema allows"


def validate_record(profile: Profile, obj: Any) -> list[Issue]:
    """Every issue of one parsed line: schema errors first, then the profile's rules."""
    issues = schema_issues(profile, obj)
    if isinstance(obj, dict):
        issues.extend(profile.check(obj))
    return issues
