"""Shape inference beyond exact key names: columns read by their names, and mapping advice.

``alias_columns`` renames a raw record's columns whose names say which canonical field they hold
(``Question`` and ``Answer`` in capitals, ``std_answer``, ``toy_input``, ``input_text``,
``system_prompt``) before its shape is detected. A column is read as a field only when the
record has no column of that exact name, and only when no other column claims the same field as
plainly (``gold_answer`` beside ``model_answer`` is ambiguous, and both stay as they are).
``advise`` writes the mapping advice for a record of no known shape, ranking its keys by what
their names say and what they hold (text that reads like a prompt or a reply, never ids,
numbers or short labels), never by their position. Nothing here does I/O.
"""

from __future__ import annotations

import re
from typing import Any

# Canonical fields a column may be read as by its name. ``label`` and ``tools`` are left out: a
# ``class_label`` beside a prompt and a completion must not turn a file into KTO data.
FIELDS = frozenset(
    {
        "instruction", "input", "output", "system", "history", "question", "answer", "prompt",
        "response", "completion", "query", "context", "text", "chosen", "rejected", "messages",
        "conversations",
    }
)  # fmt: skip
FILLER = frozenset({"text", "str", "string", "content", "body", "value"})
PHRASES = {("system", "prompt"): "system", ("system", "message"): "system"}

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def words(key: str) -> list[str]:
    """A column name's words, lower case: "std_answer" -> std, answer; "inputText" -> input, text."""
    return [w.lower() for w in _WORD.findall(key)]


def field_of(key: Any) -> tuple[str, int] | None:
    """The canonical field a column's name says it holds, with how plainly it says so (0: the
    field's own name in other letters; 1: the field's name and filler, such as ``input_text``;
    2: a prefixed name, such as ``std_answer``), or None."""
    if not isinstance(key, str):
        return None
    tokens = words(key)
    if not tokens:
        return None
    if len(tokens) == 1:
        return (tokens[0], 0) if tokens[0] in FIELDS else None
    if tuple(tokens[-2:]) in PHRASES:
        return PHRASES[tuple(tokens[-2:])], 1
    if tokens[0] in FIELDS and all(t in FILLER for t in tokens[1:]):
        return tokens[0], 1
    if tokens[-1] in FIELDS and tokens[0] not in FIELDS:
        return tokens[-1], 2
    return None


def alias_columns(obj: dict) -> tuple[dict, dict[str, str]]:
    """The record with its columns renamed to the canonical fields their names say they hold,
    and canonical field -> original column for each renamed one."""
    claims: dict[str, list[tuple[int, str]]] = {}
    for key in obj:
        if key in FIELDS:
            continue
        found = field_of(key)
        if found is not None and found[0] not in obj:
            claims.setdefault(found[0], []).append((found[1], key))
    renames = {}
    for field, columns in claims.items():
        columns.sort()
        if len(columns) == 1 or columns[0][0] < columns[1][0]:
            renames[columns[0][1]] = field
    if not renames:
        return obj, {}
    out = {renames.get(k, k): v for k, v in obj.items()}
    return out, {field: column for column, field in renames.items()}


# --------------------------------------------------------------------------- advice

PROMPT_WORDS = frozenset(
    {
        "instruction", "question", "prompt", "query", "input", "context", "problem", "request",
        "human", "user", "source", "task", "src", "q", "message", "dialogue", "turns",
    }
)  # fmt: skip
REPLY_WORDS = frozenset(
    {
        "output", "answer", "response", "completion", "target", "solution", "reply", "assistant",
        "gpt", "bot", "tgt", "a", "summary", "result", "chosen", "generation", "rationale",
    }
)  # fmt: skip
ID_WORDS = frozenset({"id", "uuid", "idx", "index", "key", "hash", "url", "path", "name"})


def _text_score(value: Any) -> float:
    """How much a value reads like free text: 0 for ids, numbers, booleans, short labels."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return max(_text_score(v) for v in value)
    if not isinstance(value, str):
        return 0.0
    text = value.strip()
    n_words = len(text.split())
    if not text or re.fullmatch(r"[0-9a-fA-F-]{8,}|[-+0-9.,%$ ]+", text):
        return 0.2 if text else 0.0  # an id or a number: an answer at best
    if n_words <= 2 and len(text) < 25:
        return 0.3  # a label
    return 1.0 + min(n_words, 200) / 200


GOLD_WORDS = frozenset({"gold", "reference", "expected", "ideal", "correct", "std", "best"})


def _score(key: str, value: Any, wanted: frozenset) -> float:
    """How well a column fits a side (``wanted``: the words that name it): its text, plus 2 when
    its name says so; 0 for ids, system prompts as prompts and labels not named as replies."""
    tokens = set(words(key))
    named = bool(tokens & wanted)
    if tokens & ID_WORDS:
        return 0.0
    if wanted is PROMPT_WORDS and "system" in tokens:
        return 0.0
    content = _text_score(value)
    if content == 0 or (content < 1 and not named):
        return 0.0
    bonus = 0.5 if named and wanted is REPLY_WORDS and tokens & GOLD_WORDS else 0.0
    return content + (2.0 if named else 0.0) + bonus


def rank_keys(obj: dict) -> tuple[str | None, str | None]:
    """The keys most likely to hold the prompt and the reply, by name and content: the pair
    with the best sum of scores (None where no key fits)."""
    keys = [k for k in obj if isinstance(k, str)][:50]
    as_prompt = {k: _score(k, obj[k], PROMPT_WORDS) for k in keys}
    as_reply = {k: _score(k, obj[k], REPLY_WORDS) for k in keys}
    best = max(
        ((as_prompt[p] + as_reply[r], p, r) for p in keys for r in keys if p != r
         if as_prompt[p] >= 1 and as_reply[r] > 0),
        default=None,
    )  # fmt: skip
    if best is not None:
        return best[1], best[2]
    prompt = max(keys, key=lambda k: as_prompt[k], default=None)
    return (prompt if prompt is not None and as_prompt[prompt] >= 1 else None), None


def _quoted(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_.-]+", key) else f'"{key}"'


def advise(obj: dict, seen: str) -> str:
    """The advice for a record of no known shape whose keys are ``seen`` (already listed)."""
    prompt, reply = rank_keys(obj)
    if prompt is None:
        return (
            f"keys seen: {seen}; no known shape, and no key holds text to train on: map the "
            "columns with --map (e.g. --map instruction=COLUMN,output=COLUMN)"
        )
    if reply is None:
        return (
            f"keys seen: {seen}; no known shape, and only {prompt!r} holds text: the records look "
            "like prompts with no replies, which nothing can be trained on; if a column holds "
            f"the replies, map it: --map instruction={_quoted(prompt)},output=COLUMN"
        )
    return (
        f"keys seen: {seen}; no known shape. By what they hold, {prompt!r} looks like the "
        f"prompt and {reply!r} like the reply: --map instruction={_quoted(prompt)},"
        f'output={_quoted(reply)} (or [convert.mapping] instruction = "{prompt}"  '
        f'output = "{reply}" in the config)'
    )
