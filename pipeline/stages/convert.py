"""Convert stage: raw records -> canonical Examples.

Takes one raw record at a time (a parsed JSON value; CSV rows arrive as dicts of strings) plus the
shape chosen for its whole file, and yields an Example (``records.new_example`` filled in;
``id``, token counts, ``cluster`` and ``split`` left None; a ``text`` key added for plain-text
records) or a ``records.rejection`` with stage ``convert``. It drops records of no known shape
(``convert.unknown_shape``), JSON values that are neither objects nor lists of messages
(``convert.not_object``), records that lack keys the rest of their file has
(``convert.missing_field``) and records whose fields break their shape (``convert.invalid_field``,
``convert.unknown_role``, ``convert.no_prompt``), each with an RFC 6901 pointer into the raw record
and a message that says what to change. The engine guesses a file's shape from its first batch,
calls ``convert_record`` per record (which also counts each record's own shape), and confirms the
guess with ``choose_file_shape`` over the counts of the whole file. Content strings are copied
byte for byte, keys it does not understand go to ``meta`` or stay on their message, and nothing
here does I/O or raises on any JSON input.
"""

from __future__ import annotations

import collections
from typing import Any

import orjson

from pipeline.config import ConvertOptions
from pipeline.records import new_example, rejection
from pipeline.stages import infer, repairs, shapes_extra
from pipeline.stages.reasoning import lift_reasoning
from pipeline.stages.shapes import CONVERTERS, Reject, escape, ptr, type_name

STAGE = "convert"
REPAIRED = "~repair:"  # counted with the shapes: records repaired by kind, and their first lines
FIRST_LINES = 5

# Shape -> the keys that identify it. Used for detection and for the subset rule: a record whose
# shape's keys are a strict subset of the file shape's keys is missing a field.
SIGNATURES: dict[str, frozenset[str]] = {
    "openai_messages": frozenset({"messages"}),
    "prompt_completion": frozenset({"prompt", "completion"}),
    "alpaca": frozenset({"instruction", "output"}),
    "sharegpt": frozenset({"conversations"}),
    "sharegpt_preference": frozenset({"conversations", "chosen", "rejected"}),
    "dolly": frozenset({"instruction", "response"}),
    "question_answer": frozenset({"question", "answer"}),
    "preference": frozenset({"prompt", "chosen", "rejected"}),
    "preference_implicit": frozenset({"chosen", "rejected"}),
    "openai_dpo": frozenset({"input", "preferred_output", "non_preferred_output"}),
    "kto": frozenset({"prompt", "completion", "label"}),
    "kto_messages": frozenset({"messages", "label"}),
    "text": frozenset({"text"}),
    "bedrock_conversation": frozenset({"messages"}),
    "vertex_gemini": frozenset({"contents"}),
    **shapes_extra.SIGNATURES,
}
SHAPES: tuple[str, ...] = tuple(SIGNATURES)
CANONICAL_FIELDS = (
    "messages", "conversations", "prompt", "completion", "instruction", "input", "output",
    "system", "history", "context", "response", "question", "answer", "chosen", "rejected",
    "label", "text", "tools", "query", "instances", "conversation", "chosen_messages",
    "rejected_messages",
)  # fmt: skip
_CONVERTERS = {**CONVERTERS, **shapes_extra.CONVERTERS}

_RECORD_KEYS = frozenset().union(*SIGNATURES.values())
_JSON_CELLS = ("messages", "conversations", "chosen", "rejected")


# --- normalising the raw record -------------------------------------------------------------


def _renamed(obj: dict, options: ConvertOptions) -> tuple[dict, dict[str, str]]:
    """Apply the column mapping; return the record and canonical name -> original column."""
    if not options.mapping:
        return obj, {}
    sources = {col: canon for canon, col in options.mapping.items() if col in obj}
    if not sources:
        return obj, {}
    out = {k: v for k, v in obj.items() if k not in sources}
    for col, canon in sources.items():
        out[canon] = obj[col]
    return out, {canon: col for col, canon in sources.items()}


def _parse_json_cells(obj: dict) -> dict:
    """CSV cells holding JSON for message-list fields become the parsed value."""
    parsed = None
    for key in _JSON_CELLS:
        value = obj.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                decoded = orjson.loads(value)
            except ValueError:
                continue
            turns = decoded if isinstance(decoded, list) else [decoded]
            if (turns or key in ("messages", "conversations")) and all(
                isinstance(m, dict) and ("role" in m or "from" in m) for m in turns
            ):
                if parsed is None:
                    parsed = dict(obj)
                parsed[key] = decoded
    return obj if parsed is None else parsed


def _records_list(obj: list) -> bool:
    """A list of whole records (a JSON array where one record was expected), not of messages."""
    return all(isinstance(r, dict) and "role" not in r and "from" not in r for r in obj) and any(
        set(r) & _RECORD_KEYS for r in obj
    )


def _normalised(obj: Any, options: ConvertOptions) -> tuple[Any, dict[str, str]]:
    if isinstance(obj, list):
        if obj and all(isinstance(m, dict) for m in obj) and not _records_list(obj):
            return {"messages": obj}, {"messages": ""}
        return obj, {}
    if not isinstance(obj, dict):
        return obj, {}
    renamed, names = _renamed(obj, options)
    aliased, read_as = infer.alias_columns(renamed)
    if read_as:
        names = {**names, **read_as}
    return _parse_json_cells(aliased), names


def _looks_bedrock(obj: dict) -> bool:
    if "schemaVersion" in obj or isinstance(obj.get("system"), list):
        return True
    messages = obj.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        content = messages[0].get("content")
        if isinstance(content, list) and content and isinstance(content[0], dict):
            return "text" in content[0] and "type" not in content[0]
    return False


def _detect(obj: Any) -> str:
    if not isinstance(obj, dict):
        return "not_object"
    keys = obj.keys()
    if "preferred_output" in keys and "non_preferred_output" in keys and "input" in keys:
        return "openai_dpo"
    if "conversations" in keys:
        chosen = "chosen" in keys and "rejected" in keys
        return "sharegpt_preference" if chosen else "sharegpt"
    if "messages" in keys:
        if "label" in keys:
            return "kto_messages"
        if shapes_extra.looks_v1(obj):
            return "messages_v1"
        return "bedrock_conversation" if _looks_bedrock(obj) else "openai_messages"
    if "chosen_messages" in keys and "rejected_messages" in keys:
        return "messages_v1_pair"
    if "contents" in keys:
        return "vertex_gemini"
    if "chosen" in keys and "rejected" in keys:
        return "preference" if "prompt" in keys else "preference_implicit"
    if "prompt" in keys and "completion" in keys:
        return "kto" if "label" in keys else "prompt_completion"
    if "prompt" in keys and "response" in keys:
        return "prompt_response"
    if "query" in keys and "response" in keys:
        return "query_response"
    if "instruction" in keys:
        if "output" in keys:
            return "alpaca_ranking" if shapes_extra.looks_ranking(obj["output"]) else "alpaca"
        if "response" in keys:
            return "dolly"
        if "instances" in keys:
            return "self_instruct"
    if "question" in keys and "answer" in keys:
        return "question_answer"
    if "input" in keys and "output" in keys:
        return "input_output"
    if isinstance(obj.get("conversation"), list):
        return "conversation_pairs"
    if "text" in keys:
        return "text"
    return "unknown"


def shape_of(obj: Any, options: ConvertOptions) -> str:
    """The shape of one raw record (after the column mapping), or "unknown" / "not_object"."""
    return _detect(_normalised(obj, options)[0])


def _keys_of(record: Any, shape: str) -> list[str]:
    if shape == "prompt_completion":
        return [shape, *repairs.legacy_keys(record.get("prompt"), record.get("completion"))]
    return [shape]


def record_keys(obj: Any, options: ConvertOptions) -> list[str]:
    """What ``choose_file_shape`` counts of one raw record: its shape, and for prompt/completion
    records the legacy markers they carry (keys starting with "~")."""
    record = _normalised(obj, options)[0]
    return _keys_of(record, _detect(record))


def _repair_notes(counts: collections.Counter) -> list[str]:
    notes = []
    for kind in repairs.KINDS:
        n = counts.get(REPAIRED + kind, 0)
        if n:
            lines = sorted(
                int(k.rpartition(":")[2]) for k in counts if k.startswith(f"~line:{kind}:")
            )
            first = ", ".join(str(x) for x in lines[:FIRST_LINES])
            notes.append(
                f"repaired ({kind}): {n:,} record(s), {repairs.WHAT[kind]}; first at line(s) {first}"
            )
    return notes


def keep_first_lines(counts: collections.Counter) -> None:
    """Drop all but the first ``FIRST_LINES`` repaired lines of each kind from ``counts`` (the
    counts of a whole file stay bounded however many batches it has)."""
    lines = [k for k in counts if k.startswith("~line:")]
    if len(lines) <= FIRST_LINES * 2:
        return
    by_kind: dict[str, list] = {}
    for k in lines:
        kind, _, n = k[len("~line:") :].rpartition(":")
        by_kind.setdefault(kind, []).append((int(n), k))
    for found in by_kind.values():
        for _, k in sorted(found)[FIRST_LINES:]:
            del counts[k]


def repairs_of(counts: collections.Counter) -> dict[str, dict]:
    """The repairs a file's records took, by kind: how many records and the first lines."""
    out = {}
    for kind in repairs.KINDS:
        n = counts.get(REPAIRED + kind, 0)
        if n:
            lines = sorted(
                int(k.rpartition(":")[2]) for k in counts if k.startswith(f"~line:{kind}:")
            )
            out[kind] = {"records": n, "first_lines": lines[:FIRST_LINES]}
    return out


def choose_file_shape(counts: collections.Counter[str]) -> tuple[str | None, list[str]]:
    """The file's shape (its most common known shape; a prompt/completion file whose every record
    follows one legacy convention carries it, see ``repairs.with_convention``) and notes for the
    run summary (the repairs its records took among them)."""
    marks = counts
    counts = collections.Counter({s: n for s, n in counts.items() if not s.startswith("~")})
    known = sorted(
        ((n, s) for s, n in counts.items() if s in SIGNATURES and n > 0),
        key=lambda t: (-t[0], t[1]),
    )
    other = sorted((s, n) for s, n in counts.items() if s not in SIGNATURES and n > 0)
    notes = []
    shape = known[0][1] if known else None
    if len(known) > 1:
        notes.append("mixed shapes: " + ", ".join(f"{s} {n}" for n, s in known))
        for n, s in known[1:]:
            if SIGNATURES[s] < SIGNATURES[shape]:
                missing = ", ".join(sorted(SIGNATURES[shape] - SIGNATURES[s]))
                notes.append(f"{n} {s} records lack {missing} of {shape} and are rejected")
    if other:
        notes.append("unrecognised records: " + ", ".join(f"{s} {n}" for s, n in other))
    if shape is None:
        notes.append(
            "no records"
            if not other
            else "no known shape; map the columns with --map or in [convert.mapping]"
        )
    notes += _repair_notes(marks)
    if shape == "prompt_completion":
        convention = repairs.legacy_convention(marks, counts[shape])
        if convention is not None:
            notes.append(repairs.describe_convention(convention, counts[shape]))
            shape = repairs.with_convention(shape, convention)
    return shape, notes


# --- the stage entry point ------------------------------------------------------------------


def _unknown_message(obj: dict) -> str:
    keys = list(obj)
    if not keys:
        return "empty object; no known shape"
    seen = ", ".join(str(k)[:80] for k in keys[:20]) + (", ..." if len(keys) > 20 else "")
    if len(keys) == 1 and isinstance(obj[keys[0]], list) and obj[keys[0]]:
        return (
            f"keys seen: {seen}; the records seem to be nested under {keys[0]!r}: put one record "
            "per line (JSON Lines) or make the file one JSON array of the records"
        )
    for separator in (";", "|"):
        if len(keys) == 1 and separator in str(keys[0]):
            return (
                f"keys seen: {seen}; the columns seem to be separated by '{separator}': save the "
                "file with commas (CSV) or tabs (.tsv)"
            )
    return infer.advise(obj, seen)


def _restore_pointer(pointer: str, names: dict[str, str]) -> str:
    """Point at the raw record's own column name when the mapping renamed it."""
    if not names or not pointer:
        return pointer
    head, sep, tail = pointer[1:].partition("/")
    if head in names:
        original = names[head]
        return ("/" + escape(original) if original else "") + (sep + tail if sep else "")
    return pointer


def _without_markers(record: dict, convention: tuple) -> tuple[dict, list[str]]:
    prompt, completion = record.get("prompt"), record.get("completion")
    if not (isinstance(prompt, str) and isinstance(completion, str)):
        return record, []
    prompt, completion, changed = repairs.strip_legacy(prompt, completion, convention)
    if not changed:
        return record, []
    return {**record, "prompt": prompt, "completion": completion}, ["legacy-markers"]


def _count_repairs(shapes: collections.Counter, taken: list[str], line: int) -> None:
    for kind in taken:
        shapes[REPAIRED + kind] += 1
        if shapes[REPAIRED + kind] <= FIRST_LINES:  # a batch's first lines; the run keeps the first
            shapes[f"~line:{kind}:{line}"] = 1


def _add_system_prompt(ex: dict, system_prompt: str | None) -> None:
    if system_prompt is None or "text" in ex:
        return
    if not any(isinstance(m, dict) and m.get("role") == "system" for m in ex["messages"]):
        ex["messages"].insert(0, {"role": "system", "content": system_prompt})


def _layout(ex: dict, layout: str) -> None:
    """With ``--trl-layout prompt-completion``, mark where a conversation's completion starts:
    its trailing assistant messages (the profile's renderer reads it)."""
    if layout == "prompt-completion" and ex["kind"] == "sft" and "text" not in ex:
        messages = ex["messages"]
        k = 0
        while (
            k < len(messages)
            and isinstance(messages[-1 - k], dict)
            and messages[-1 - k].get("role") == "assistant"
        ):
            k += 1
        ex["layout"] = {"completion": k}


def convert_record(
    obj: Any,
    source: str,
    line: int,
    file_shape: str | None,
    options: ConvertOptions,
    shapes: collections.Counter | None = None,
) -> dict:
    """One raw record -> an Example, or a rejection (stage "convert") saying what to change.
    ``shapes``, when given, counts the record's own shape (as ``shape_of`` would)."""
    record, names = _normalised(obj, options)
    shape = _detect(record)
    if shapes is not None:
        shapes.update(_keys_of(record, shape))
    file_shape, convention = repairs.split_shape(file_shape)
    try:
        if shape == "not_object":
            message = f"record is {type_name(obj)}, not an object or a list of messages"
            if isinstance(obj, list) and obj and _records_list(obj):
                message = (
                    f"record is a list of {len(obj)} records, not one record: put one record per "
                    "line (JSON Lines), or give the file a .json name to read it as an array"
                )
            raise Reject("convert.not_object", "", message)
        if shape == "unknown":
            raise Reject("convert.unknown_shape", "", _unknown_message(obj))  # its own names
        if file_shape in SIGNATURES and shape != file_shape:
            missing = SIGNATURES[file_shape] - SIGNATURES[shape]
            if SIGNATURES[shape] < SIGNATURES[file_shape]:
                first = sorted(missing)[0]
                raise Reject(
                    "convert.missing_field",
                    ptr(names.get(first, first)),
                    f"missing {', '.join(sorted(missing))}: the other records of this file are "
                    f"{file_shape}; add the field or move this record to its own file",
                )
        ex = new_example(source, line)
        taken = []
        if convention is not None and shape == "prompt_completion" and options.legacy_markers:
            record, taken = _without_markers(record, convention)
        consumed = _CONVERTERS[shape](record, ex, options)
        taken += repairs.repair_example(ex, options.repairs())
        if taken and shapes is not None:
            _count_repairs(shapes, taken, line)
        lift_reasoning(ex)  # after the repairs: a role alias is an assistant's by then
        _layout(ex, options.layout)
        ex["meta"].update(
            (names.get(k, k), v)
            for k, v in record.items()
            if k not in consumed and k not in ex["meta"]
        )
        _add_system_prompt(ex, options.system_prompt)
        return ex
    except Reject as err:
        pointer = _restore_pointer(err.pointer, names)
        return rejection(source, line, STAGE, err.rule, err.message, raw=obj, pointer=pointer)
    except Exception as err:  # noqa: BLE001 - the stage must never raise on data
        message = f"could not convert this {shape} record: {type(err).__name__}: {err}"
        return rejection(source, line, STAGE, "convert.error", message, raw=obj)
