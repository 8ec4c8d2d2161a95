"""The records that flow between stages, and the one shape every dropped record takes.

A raw record is ``{"source", "line", "obj"}``: the input file (path relative to where the run
started), the 1-based line or row, and the parsed JSON value. An Example is the canonical
record of DESIGN.md, a plain dict so that it crosses process boundaries cheaply:

    {"id", "source", "line", "kind", "messages", "tools", "parallel_tool_calls",
     "chosen", "rejected", "completion", "label", "meta",
     "n_tokens", "n_trained_tokens", "n_reasoning_tokens", "cluster", "split"}

``kind`` is ``sft``, ``preference`` (``messages`` is the prompt, ``chosen``/``rejected`` are lists
of messages) or ``unpaired`` (``messages`` is the prompt, ``completion`` a list of messages and
``label`` a bool). A message is ``{"role", "content", "name", "tool_calls", "tool_call_id",
"weight", "reasoning"}`` with absent keys omitted; ``content`` is a string, a list of parts or None.
``reasoning`` (assistant messages only) is the reasoning trace written before the answer, a string
(``stages/reasoning.py`` says where it is read from); ``n_reasoning_tokens`` counts its tokens.
"""

from __future__ import annotations

from typing import Any

KINDS = ("sft", "preference", "unpaired")
STAGES = ("ingest", "convert", "validate", "count", "decontaminate", "dedupe", "split", "write")


def new_example(source: str, line: int, kind: str = "sft") -> dict[str, Any]:
    """An empty canonical Example with every field present."""
    return {
        "id": None,
        "source": source,
        "line": line,
        "kind": kind,
        "messages": [],
        "tools": None,
        "parallel_tool_calls": None,
        "chosen": None,
        "rejected": None,
        "completion": None,
        "label": None,
        "meta": {},
        "n_tokens": None,
        "n_trained_tokens": None,
        "n_reasoning_tokens": None,
        "cluster": None,
        "split": None,
    }


def rejection(
    source: str,
    line: int,
    stage: str,
    rule: str,
    message: str,
    raw: Any = None,
    pointer: str = "",
) -> dict[str, Any]:
    """One line of rejected.jsonl: where the record came from, which rule dropped it and why.

    ``raw`` is the parsed record when there is one, else the raw line as text.
    """
    return {
        "source": source,
        "line": line,
        "stage": stage,
        "rule": rule,
        "pointer": pointer,
        "message": message,
        "raw": raw,
    }


def plain_message(m: Any) -> bool:
    """A message of a role and a content string and nothing else: the common case, which the
    hot paths (Arrow rows, schema validation) take a shortcut for."""
    return (
        type(m) is dict
        and len(m) == 2
        and type(m.get("role")) is str
        and type(m.get("content")) is str
    )


def has_reasoning(ex: dict[str, Any]) -> bool:
    """Whether any message of an Example carries a reasoning trace."""
    return any(
        type(m) is dict and "reasoning" in m
        for side in ("messages", "chosen", "rejected", "completion")
        for m in ex.get(side) or ()
    )


def is_rejection(record: dict[str, Any]) -> bool:
    return "stage" in record and "rule" in record and "kind" not in record


def printable(name: str) -> str:
    """A file name as valid Unicode: bytes the file system name holds that are not UTF-8 are
    written as ``\\xff`` escapes (every artifact and report is UTF-8)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
