"""Validate one line against a profile: its JSON Schema, then its named rules.

The schema is compiled with fastjsonschema for the fast accept path; only a line that fails it is
explained with jsonschema, which yields every error with its location. Findings carry a pointer
relative to the line; callers add file and line.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from pipeline.findings import ERROR, pointer
from pipeline.profiles import Profile, load_schema
from pipeline.rules.common import Issue


@cache
def _validators(name: str) -> tuple[Callable[[Any], Any], Any]:
    import fastjsonschema
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    return fastjsonschema.compile(schema), Draft202012Validator(schema)


def schema_issues(profile: Profile, obj: Any) -> list[Issue]:
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
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [k for k in error.validator_value if k not in error.instance]
            path += missing[:1]
            message = f"{missing[0]!r} is required" if missing else message
        issues.append((pointer(*path), f"schema.{error.validator}", ERROR, message))
    return issues


def validate_record(profile: Profile, obj: Any) -> list[Issue]:
    """Every issue of one parsed line: schema errors first, then the profile's rules."""
    issues = schema_issues(profile, obj)
    if isinstance(obj, dict):
        issues.extend(profile.check(obj))
    return issues
