"""Tests for the convert stage: one per shape, each rejection rule, whole-file rules, real files."""

from __future__ import annotations

import collections
import csv
import gzip
import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records import is_rejection, new_example
from pipeline.stages.convert import (
    SHAPES,
    ConvertOptions,
    choose_file_shape,
    convert_record,
    shape_of,
)

NO = ConvertOptions()
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def u(content):
    return {"role": "user", "content": content}


def a(content):
    return {"role": "assistant", "content": content}


def s(content):
    return {"role": "system", "content": content}


def example(kind="sft", **fields):
    ex = new_example("f.jsonl", 7, kind)
    ex.update(fields)
    return ex


def convert(obj, file_shape=None, options=NO):
    if file_shape is None:
        file_shape, _ = choose_file_shape(collections.Counter([shape_of(obj, options)]))
    return convert_record(obj, "f.jsonl", 7, file_shape, options)


def rejected(obj, rule, pointer=None, file_shape=None, options=NO):
    out = convert(obj, file_shape, options)
    assert is_rejection(out), out
    assert out["stage"] == "convert"
    assert out["rule"] == rule, out
    assert out["raw"] == obj
    assert out["source"] == "f.jsonl" and out["line"] == 7
    if pointer is not None:
        assert out["pointer"] == pointer, out
    return out


# --- one test per shape -----------------------------------------------------------------------


def test_openai_messages_pass_through_keys_and_roles():
    msgs = [
        {"role": "usr", "content": "hi", "weight": 0},
        {"role": "assistant", "content": None, "function_call": {"name": "f"}, "refusal": None},
    ]
    obj = {"messages": msgs, "tools": [{"type": "function"}], "parallel_tool_calls": False, "id": 3}
    assert shape_of(obj, NO) == "openai_messages"
    assert convert(obj) == example(
        messages=msgs, tools=[{"type": "function"}], parallel_tool_calls=False, meta={"id": 3}
    )


def test_openai_bare_list_of_messages():
    obj = [u("hi"), a("yo")]
    assert shape_of(obj, NO) == "openai_messages"
    assert convert(obj) == example(messages=[u("hi"), a("yo")])
    rejected([u("hi"), {"role": "assistant", "content": "x"}, 5], "convert.not_object", "")
    rejected({"messages": [u("hi"), "yo"]}, "convert.invalid_field", "/messages/1")


def test_a_list_of_records_where_one_record_was_expected_says_so():
    records = [{"messages": [u("q"), a("a")]}, {"instruction": "i", "output": "o"}]
    rej = convert_record(records, "f.jsonl", 4, None, NO)
    assert is_rejection(rej) and rej["rule"] == "convert.not_object"
    assert rej["message"].startswith("record is a list of 2 records, not one record")


def test_openai_functions_become_tools():
    obj = {"messages": [u("hi")], "functions": [{"name": "f", "parameters": {}}]}
    assert convert(obj)["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {}}}
    ]


def test_prompt_completion_strings_and_conversational():
    assert convert({"prompt": "Q ", "completion": " A\n"}) == example(messages=[u("Q "), a(" A\n")])
    conv = {"prompt": [s("be nice"), u("Q")], "completion": [a("A")]}
    assert convert(conv) == example(messages=[s("be nice"), u("Q"), a("A")])


def test_alpaca_with_input_system_and_history():
    obj = {
        "instruction": "Translate",
        "input": "bonjour",
        "output": "hello",
        "system": "You translate.",
        "history": [["hi", "hello!"]],
        "category": "mt",
    }
    assert shape_of(obj, NO) == "alpaca"
    assert convert(obj) == example(
        messages=[
            s("You translate."),
            u("hi"),
            a("hello!"),
            u("Translate\n\nbonjour"),
            a("hello"),
        ],
        meta={"category": "mt"},
    )


def test_alpaca_empty_input_is_instruction_only():
    obj = {"instruction": "Say hi", "input": "", "output": "hi", "system": ""}
    assert convert(obj) == example(messages=[u("Say hi"), a("hi")])


def test_sharegpt_roles_and_tool_calls_linked():
    obj = {
        "id": "x1",
        "system": "sys",
        "tools": '[{"name": "add", "parameters": {}}]',
        "conversations": [
            {"from": "human", "value": "2+2?"},
            {"from": "function_call", "value": '{"name": "add", "arguments": {"a": 2, "b": 2}}'},
            {"from": "observation", "value": "4"},
            {"from": "gpt", "value": "4"},
            {"from": "system", "value": "mid"},
        ],
    }
    assert shape_of(obj, NO) == "sharegpt"
    call = {
        "id": "call_000001000",
        "type": "function",
        "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'},
    }
    assert convert(obj) == example(
        messages=[
            s("sys"),
            u("2+2?"),
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "content": "4", "tool_call_id": "call_000001000"},
            a("4"),
            s("mid"),
        ],
        tools=[{"type": "function", "function": {"name": "add", "parameters": {}}}],
        meta={"id": "x1"},
    )


def test_sharegpt_role_content_form_and_empty_tools():
    obj = {"conversations": [{"role": "user", "content": "a"}, {"role": "model", "content": "b"}]}
    assert convert({**obj, "tools": "[]"}) == example(messages=[u("a"), a("b")])


def test_sharegpt_preference():
    obj = {
        "conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"}],
        "chosen": {"from": "gpt", "value": "good"},
        "rejected": {"from": "gpt", "value": "bad"},
    }
    assert shape_of(obj, NO) == "sharegpt_preference"
    assert convert(obj) == example(
        "preference", messages=[s("S"), u("Q")], chosen=[a("good")], rejected=[a("bad")]
    )


def test_dolly():
    obj = {"instruction": "Sum up", "context": "text", "response": "short", "category": "summ"}
    assert shape_of(obj, NO) == "dolly"
    assert convert(obj) == example(
        messages=[u("Sum up\n\ntext"), a("short")], meta={"category": "summ"}
    )
    assert convert({**obj, "context": ""})["messages"][0] == u("Sum up")


def test_question_answer():
    assert convert({"question": "Q?", "answer": "A."}) == example(messages=[u("Q?"), a("A.")])


def test_preference_explicit_strings_and_lists():
    obj = {"prompt": "Q", "chosen": "good", "rejected": "bad"}
    assert shape_of(obj, NO) == "preference"
    want = example("preference", messages=[u("Q")], chosen=[a("good")], rejected=[a("bad")])
    assert convert(obj) == want
    conv = {"prompt": [u("Q")], "chosen": [a("good")], "rejected": [a("bad")]}
    assert convert(conv) == want


def test_preference_implicit_messages_common_prefix():
    obj = {"chosen": [u("Q"), a("good")], "rejected": [u("Q"), a("bad")]}
    assert shape_of(obj, NO) == "preference_implicit"
    assert convert(obj) == example(
        "preference", messages=[u("Q")], chosen=[a("good")], rejected=[a("bad")]
    )


def test_preference_implicit_identical_keeps_a_completion():
    obj = {"chosen": [u("Q"), a("same")], "rejected": [u("Q"), a("same")]}
    out = convert(obj)
    assert out["messages"] == [u("Q")] and out["chosen"] == out["rejected"] == [a("same")]


def test_preference_hh_transcript():
    obj = {
        "chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: joke?\n\nAssistant: ha",
        "rejected": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: joke?\n\nAssistant: no",
    }
    assert convert(obj) == example(
        "preference",
        messages=[u("hi"), a("hello"), u("joke?")],
        chosen=[a("ha")],
        rejected=[a("no")],
    )


def test_preference_implicit_plain_strings_have_no_prompt():
    rejected({"chosen": "good", "rejected": "bad"}, "convert.no_prompt", "")


def test_openai_dpo():
    obj = {
        "input": {"messages": [u("Q")], "tools": [], "parallel_tool_calls": True},
        "preferred_output": [a("good")],
        "non_preferred_output": [a("bad")],
    }
    assert shape_of(obj, NO) == "openai_dpo"
    assert convert(obj) == example(
        "preference",
        messages=[u("Q")],
        tools=[],
        parallel_tool_calls=True,
        chosen=[a("good")],
        rejected=[a("bad")],
    )


@pytest.mark.parametrize(
    ("label", "want"), [(True, True), ("false", False), ("True", True), (0, False), ("1", True)]
)
def test_kto_prompt_completion_label(label, want):
    obj = {"prompt": "Q", "completion": "A", "label": label}
    assert shape_of(obj, NO) == "kto"
    assert convert(obj) == example("unpaired", messages=[u("Q")], completion=[a("A")], label=want)


def test_kto_messages_label():
    obj = {"messages": [u("Q"), a("A"), u("Q2"), a("A2")], "label": False}
    assert shape_of(obj, NO) == "kto_messages"
    assert convert(obj) == example(
        "unpaired", messages=[u("Q"), a("A"), u("Q2")], completion=[a("A2")], label=False
    )
    rejected(
        {"messages": [a("A"), u("Q")], "label": True}, "convert.invalid_field", "/messages/1/role"
    )


def test_text():
    want = example(messages=[])
    want["text"] = "  raw text\n"
    assert convert({"text": "  raw text\n"}) == want


def test_bedrock_conversation():
    obj = {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "S"}],
        "messages": [
            {"role": "user", "content": [{"text": "Q1"}, {"text": "Q2"}]},
            {"role": "assistant", "content": [{"text": "A"}]},
        ],
    }
    assert shape_of(obj, NO) == "bedrock_conversation"
    assert convert(obj) == example(messages=[s("S"), u("Q1\nQ2"), a("A")])
    bad = {"messages": [{"role": "user", "content": [{"image": {}}]}], "system": [{"text": "S"}]}
    rejected(bad, "convert.invalid_field", "/messages/0/content/0")


def test_vertex_gemini():
    obj = {
        "systemInstruction": {"role": "system", "parts": [{"text": "S"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Q"}]},
            {"role": "model", "parts": [{"text": "A"}]},
        ],
    }
    assert shape_of(obj, NO) == "vertex_gemini"
    assert convert(obj) == example(messages=[s("S"), u("Q"), a("A")])


def test_every_shape_is_covered():
    assert set(SHAPES) == {
        "openai_messages", "prompt_completion", "alpaca", "sharegpt", "sharegpt_preference",
        "dolly", "question_answer", "preference", "preference_implicit", "openai_dpo", "kto",
        "kto_messages", "text", "bedrock_conversation", "vertex_gemini",
        # shapes_extra (tests/test_shapes_extra.py)
        "prompt_response", "query_response", "self_instruct", "input_output",
        "conversation_pairs", "messages_v1", "messages_v1_pair", "alpaca_ranking",
    }  # fmt: skip


# --- rejection rules --------------------------------------------------------------------------


def test_unknown_shape_message_suggests_mapping():
    out = rejected({"act": "Linux", "prompt": "pretend"}, "convert.unknown_shape", "")
    assert out["message"] == (
        "keys seen: act, prompt; no known shape, and only 'prompt' holds text: the records "
        "look like prompts with no replies, which nothing can be trained on; if a column holds "
        "the replies, map it: --map instruction=prompt,output=COLUMN"
    )


@pytest.mark.parametrize("obj", [3, "text", None, [], [1, 2], True])
def test_not_object(obj):
    assert shape_of(obj, NO) == "not_object"
    rejected(obj, "convert.not_object", "")


def test_unknown_role_points_at_the_turn():
    obj = {"conversations": [{"from": "human", "value": "a"}, {"from": "narrator", "value": "b"}]}
    out = rejected(obj, "convert.unknown_role", "/conversations/1/from")
    assert '[convert.roles] narrator = "user"' in out["message"]


def test_roles_option_maps_alias():
    obj = {"conversations": [{"from": "narrator", "value": "b"}, {"from": "gpt", "value": "c"}]}
    out = convert(obj, options=ConvertOptions(roles={"narrator": "system"}))
    assert out["messages"] == [s("b"), a("c")]


@pytest.mark.parametrize(
    ("obj", "rule", "pointer"),
    [
        ({"conversations": "nope"}, "convert.invalid_field", "/conversations"),
        ({"conversations": [{"from": "human"}]}, "convert.missing_field", "/conversations/0/value"),
        ({"conversations": [{"value": "x"}]}, "convert.missing_field", "/conversations/0/role"),
        ({"conversations": [7]}, "convert.invalid_field", "/conversations/0"),
        ({"conversations": [{"from": "human", "value": 3}]}, "convert.invalid_field",
         "/conversations/0/value"),
        ({"conversations": [{"from": "function_call", "value": "not json"}]},
         "convert.invalid_field", "/conversations/0/value"),
        ({"conversations": [], "tools": "{bad"}, "convert.invalid_field", "/tools"),
        ({"instruction": "i", "output": "o", "history": [["only one"]]}, "convert.invalid_field",
         "/history/0"),
        ({"instruction": "i", "output": "o", "history": "x"}, "convert.invalid_field", "/history"),
        ({"instruction": 1, "output": "o"}, "convert.invalid_field", "/instruction"),
        ({"prompt": "p", "completion": "c", "label": "maybe"}, "convert.invalid_field", "/label"),
        ({"prompt": "p", "completion": 5}, "convert.invalid_field", "/completion"),
        ({"messages": {"role": "user"}}, "convert.invalid_field", "/messages"),
        ({"input": [], "preferred_output": [], "non_preferred_output": []},
         "convert.invalid_field", "/input"),
        ({"system": 5, "question": "q", "answer": "a"}, "convert.invalid_field", "/system"),
        ({"text": ["x"]}, "convert.invalid_field", "/text"),
        ({"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}, "convert.unknown_role",
         "/contents/0/role"),
    ],
)  # fmt: skip
def test_errors_inside_a_shape(obj, rule, pointer):
    out = rejected(obj, rule, pointer)
    assert out["message"]


def test_pointer_uses_the_raw_column_name_under_a_mapping():
    options = ConvertOptions(mapping={"conversations": "dialog"})
    rejected({"dialog": "x"}, "convert.invalid_field", "/dialog", options=options)


# --- whole-file rules -------------------------------------------------------------------------


def test_subset_of_file_shape_is_missing_field():
    file_rows = [{"prompt": "p", "completion": "c", "label": True}] * 3
    row = {"prompt": "p", "completion": "c"}
    counts = collections.Counter(shape_of(r, NO) for r in [*file_rows, row])
    shape, notes = choose_file_shape(counts)
    assert shape == "kto"
    assert notes == [
        "mixed shapes: kto 3, prompt_completion 1",
        "1 prompt_completion records lack label of kto and are rejected",
    ]
    out = rejected(row, "convert.missing_field", "/label", file_shape="kto")
    assert "label" in out["message"]


def test_other_known_shape_in_a_file_converts_by_its_own_shape():
    out = convert({"conversations": [{"from": "human", "value": "x"}]}, file_shape="alpaca")
    assert out["kind"] == "sft" and out["messages"] == [u("x")]
    # a superset of the file's shape is not missing anything
    out = convert({"prompt": "p", "completion": "c", "label": 1}, file_shape="prompt_completion")
    assert out["kind"] == "unpaired"


def test_mixed_file_notes():
    counts = collections.Counter({"alpaca": 97, "sharegpt": 3, "unknown": 2, "not_object": 1})
    assert choose_file_shape(counts) == (
        "alpaca",
        ["mixed shapes: alpaca 97, sharegpt 3", "unrecognised records: not_object 1, unknown 2"],
    )
    assert choose_file_shape(collections.Counter({"unknown": 4})) == (
        None,
        [
            "unrecognised records: unknown 4",
            "no known shape; map the columns with --map or in [convert.mapping]",
        ],
    )
    assert choose_file_shape(collections.Counter()) == (None, ["no records"])


def test_unknown_shapes_that_are_a_wrong_delimiter_or_a_wrapper_say_so():
    semi = convert_record({"prompt;completion": "hi;there"}, "f.csv", 2, None, NO)
    assert semi["message"] == (
        "keys seen: prompt;completion; the columns seem to be separated by ';': save the file "
        "with commas (CSV) or tabs (.tsv)"
    )
    wrapped = convert_record({"data": [{"messages": []}]}, "f.json", 1, None, NO)
    assert wrapped["message"] == (
        "keys seen: data; the records seem to be nested under 'data': put one record per line "
        "(JSON Lines) or make the file one JSON array of the records"
    )


# --- options ----------------------------------------------------------------------------------


def test_system_prompt_added_only_where_missing():
    options = ConvertOptions(system_prompt="Be brief.")
    assert convert({"question": "q", "answer": "x"}, options=options)["messages"][0] == s(
        "Be brief."
    )
    with_system = convert({"messages": [s("mine"), u("q")]}, options=options)
    assert with_system["messages"] == [s("mine"), u("q")]
    pref = convert({"prompt": "q", "chosen": "g", "rejected": "b"}, options=options)
    assert pref["messages"] == [s("Be brief."), u("q")] and pref["chosen"] == [a("g")]
    kto = convert({"prompt": "q", "completion": "c", "label": "true"}, options=options)
    assert kto["messages"] == [s("Be brief."), u("q")]
    assert "system" not in json.dumps(convert({"text": "t"}, options=options)["messages"])


def test_mapping_renames_columns_before_detection():
    options = ConvertOptions(mapping={"instruction": "act", "output": "prompt"})
    row = {"act": "Linux Terminal", "prompt": "I want you to act as a linux terminal."}
    assert shape_of(row, options) == "alpaca"
    assert convert(row, options=options) == example(
        messages=[u("Linux Terminal"), a("I want you to act as a linux terminal.")]
    )
    swap = ConvertOptions(mapping={"prompt": "act", "completion": "prompt"})
    assert convert(row, options=swap)["messages"] == [u(row["act"]), a(row["prompt"])]


def test_unconsumed_mapped_column_keeps_its_raw_name_in_meta():
    options = ConvertOptions(mapping={"question": "q", "answer": "a", "context": "ctx"})
    out = convert({"q": "Q", "a": "A", "ctx": "C"}, options=options)
    assert out["meta"] == {"ctx": "C"}


def test_csv_cells_holding_json_are_parsed():
    row = {"conversations": '[{"from": "human", "value": "x"}]', "chosen": "[not json"}
    assert convert(row)["messages"] == [u("x")]
    row = {"prompt": "p", "chosen": '{"role": "assistant", "content": "g"}', "rejected": "b"}
    assert convert(row)["chosen"] == [a("g")]
    # a response that merely is JSON stays a string
    row = {"prompt": "p", "chosen": '{"answer": 1}', "rejected": "[1, 2]"}
    out = convert(row)
    assert out["chosen"] == [a('{"answer": 1}')] and out["rejected"] == [a("[1, 2]")]


def test_options_are_picklable():
    options = ConvertOptions(
        mapping={"text": "body"}, roles={"bot2": "assistant"}, system_prompt="S"
    )
    assert pickle.loads(pickle.dumps(options)) == options
    assert ConvertOptions().mapping == {} and ConvertOptions().mapping is not NO.mapping


def test_input_is_not_mutated():
    obj = {"conversations": [{"from": "human", "value": "x"}], "id": 1}
    before = json.dumps(obj)
    out = convert(obj)
    out["messages"][0]["content"] = "changed"
    assert json.dumps(obj) == before


# --- never raises -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KNOWN_KEYS = [
    "messages", "conversations", "prompt", "completion", "instruction", "input", "output",
    "system", "history", "context", "response", "question", "answer", "chosen", "rejected",
    "label", "text", "tools", "from", "value", "role", "content", "preferred_output",
    "non_preferred_output", "contents", "parts", "systemInstruction", "schemaVersion", "functions",
]  # fmt: skip
message_like = st.dictionaries(
    st.sampled_from(["role", "content", "from", "value", "text", "parts", "tool_calls"]),
    st.sampled_from(["human", "gpt", "function_call", "observation", "user", "model", "x"])
    | json_values,
    max_size=3,
)
field_values = json_values | st.lists(message_like, max_size=4) | message_like
records = json_values | st.dictionaries(st.sampled_from(KNOWN_KEYS), field_values, max_size=5)


def _check(obj, file_shape, options):
    out = convert_record(obj, "fuzz", 1, file_shape, options)
    if is_rejection(out):
        assert out["rule"].startswith("convert.") and out["rule"] != "convert.error", out
        assert out["message"] and isinstance(out["pointer"], str)
    else:
        assert out["kind"] in ("sft", "preference", "unpaired")
        assert isinstance(out["messages"], list)
    json.dumps(out)


@settings(max_examples=400, deadline=None)
@given(records, st.sampled_from([None, *SHAPES]))
def test_fuzz_never_raises(obj, file_shape):
    assert shape_of(obj, NO) in (*SHAPES, "unknown", "not_object")
    _check(obj, file_shape, NO)


@settings(max_examples=200, deadline=None)
@given(records)
def test_fuzz_never_raises_with_options(obj):
    options = ConvertOptions(
        mapping={"instruction": "text", "output": "value"}, roles={"x": "user"}, system_prompt="S"
    )
    _check(obj, None, options)


# --- real files -------------------------------------------------------------------------------


def _load(path: Path) -> list:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        text = f.read()
    if path.suffix == ".json":
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _run(path: Path, options: ConvertOptions = NO) -> tuple[str | None, list[dict]]:
    rows = _load(path)
    shape, _ = choose_file_shape(collections.Counter(shape_of(r, options) for r in rows))
    out = [convert_record(r, path.name, i, shape, options) for i, r in enumerate(rows, start=1)]
    for row in out:
        assert not is_rejection(row) or (row["rule"] != "convert.error" and row["message"])
    return shape, out


# file -> (shape, records, kind of every record)
REAL = {
    "fastchat/dummy_conversation.json": ("sharegpt", 500, "sft"),
    "llamafactory/alpaca_en_demo.json": ("alpaca", 999, "sft"),
    "llamafactory/identity.json": ("alpaca", 91, "sft"),
    "codealpaca/code_alpaca_2k.json": ("alpaca", 2017, "sft"),
    "axolotl/alpaca.json": ("alpaca", 2, "sft"),
    "axolotl/conversation.missingturns.json": ("sharegpt", 1, "sft"),
    "llamafactory/glaive_toolcall_en_demo.json": ("sharegpt", 300, "sft"),
    "llamafactory/dpo_en_demo.json": ("sharegpt_preference", 300, "preference"),
    "llamafactory/kto_en_demo.json": ("kto_messages", 300, "unpaired"),
    "hh_rlhf/harmless-base_test.jsonl.gz": ("preference_implicit", 2312, "preference"),
    "mlx_examples/wwdc25_train.jsonl": ("prompt_completion", 1800, "sft"),
    "openai_cookbook/drone_training.jsonl": ("openai_messages", 103, "sft"),
    "openai_cookbook/toy_chat_fine_tuning.jsonl": ("openai_messages", 5, "sft"),
    "misc_openai_chat/pirate_training_set.jsonl": ("openai_messages", 10, "sft"),
    "bedrock/nova_tooluse_formatted_test_ft.jsonl": ("bedrock_conversation", 120, "sft"),
    "google_genai/patient_1_glucose_examples.jsonl": ("vertex_gemini", 1, "sft"),
}

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared sample data not present")


@needs_data
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_file(name):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{name} not present")
    want_shape, want_count, want_kind = REAL[name]
    shape, out = _run(path)
    assert shape == want_shape
    assert len(out) == want_count
    assert collections.Counter(r.get("kind") for r in out) == {want_kind: want_count}


@needs_data
def test_real_files_all_accounted_for():
    for path in sorted(DATA.rglob("*")):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".gz", ".csv"):
            _run(path)


@needs_data
def test_glaive_tool_calls_are_linked_to_tool_messages():
    path = DATA / "llamafactory/glaive_toolcall_en_demo.json"
    if not path.exists():
        pytest.skip("glaive file not present")
    _, out = _run(path)
    calls = results = 0
    for ex in out:
        ids = [c["id"] for m in ex["messages"] for c in m.get("tool_calls") or []]
        answered = [m["tool_call_id"] for m in ex["messages"] if m["role"] == "tool"]
        assert answered == ids
        calls += len(ids)
        results += len(answered)
        assert ex["tools"] is None or ex["tools"][0]["type"] == "function"
    assert calls == results == 211
    assert sum(ex["tools"] is None for ex in out) == 109


@needs_data
def test_hh_rlhf_splits_prompt_from_final_answers():
    path = DATA / "hh_rlhf/harmless-base_test.jsonl.gz"
    if not path.exists():
        pytest.skip("hh file not present")
    _, out = _run(path)
    for ex in out:
        assert ex["messages"][0]["role"] == "user"
        assert ex["chosen"] and ex["rejected"]
        assert ex["chosen"][0]["role"] == "assistant"


@needs_data
def test_awesome_prompts_csv_needs_a_mapping():
    """The CSV has act,prompt and no responses. Without a mapping every row is unknown_shape. We
    map act -> instruction and prompt -> output: a prompt-writer task (persona title in, full
    role-play prompt out), the one reading in which both columns are training text."""
    path = DATA / "awesome_chatgpt_prompts/prompts_2024-12.csv"
    if not path.exists():
        pytest.skip("csv not present")
    shape, out = _run(path)
    assert shape is None and len(out) == 171
    assert {r["rule"] for r in out} == {"convert.unknown_shape"}
    options = ConvertOptions(mapping={"instruction": "act", "output": "prompt"})
    shape, out = _run(path, options)
    assert shape == "alpaca"
    assert all(not is_rejection(r) and len(r["messages"]) == 2 for r in out)
