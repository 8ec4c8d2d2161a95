"""Findings are data: where a problem is, which rule found it, how bad it is and what to change.

Checks yield findings with a pointer relative to the record (RFC 6901); the runner adds the file
and line. ``render`` gives the one-line text form used by the CLI and the summary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    file: str
    line: int
    pointer: str
    rule: str
    severity: str
    message: str

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        pointer = f" {self.pointer}:" if self.pointer else ""
        return f"{where}:{pointer} {self.message} [{self.rule}]"

    def as_dict(self) -> dict:
        return asdict(self)


def pointer(*parts: object) -> str:
    """An RFC 6901 JSON pointer from path parts: pointer("messages", 3, "weight") -> "/messages/3/weight"."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def shown(value: object, limit: int = 60) -> str:
    """A value from a user's record as it looks in JSON (true, null, "user"), cut to ``limit``
    characters, for a message."""
    import orjson

    try:
        text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
