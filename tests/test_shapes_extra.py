"""Shapes found in public training files beyond the classic ones, columns read by their names,
and the mapping advice for files of no known shape (pipeline/stages/shapes_extra.py, infer.py)."""

from __future__ import annotations

import collections

import pytest

from pipeline.config import ConvertOptions
from pipeline.records import is_rejection, new_example
from pipeline.stages import infer
from pipeline.stages.convert import choose_file_shape, convert_record, shape_of

NO = ConvertOptions()


def u(content):
    return {"role": "user", "content": content}


def a(content):
    return {"role": "assistant", "content": content}


def s(content):
    return {"role": "system", "content": content}


def convert(obj, options=NO):
    file_shape, _ = choose_file_shape(collections.Counter([shape_of(obj, options)]))
    return convert_record(obj, "f.jsonl", 7, file_shape, options)


def messages_of(obj, options=NO):
    ex = convert(obj, options)
    assert not is_rejection(ex), ex
    assert (ex["source"], ex["line"]) == ("f.jsonl", 7)
    return ex["messages"]


def test_prompt_response():
    obj = {"prompt": "Q", "response": "A"}
    assert shape_of(obj, NO) == "prompt_response"
    assert messages_of(obj) == [u("Q"), a("A")]


def test_query_response_with_history():
    obj = {"query": "Q2", "response": "A2", "history": [["Q1", "A1"]], "system": "S"}
    assert shape_of(obj, NO) == "query_response"
    assert messages_of(obj) == [s("S"), u("Q1"), a("A1"), u("Q2"), a("A2")]


def test_self_instruct_seed_task():
    obj = {
        "id": "seed_task_0",
        "name": "breakfast_suggestion",
        "instruction": "Is there anything I can eat for a breakfast?",
        "instances": [{"input": "", "output": "Yes, oatmeal."}],
        "is_classification": False,
    }
    assert shape_of(obj, NO) == "self_instruct"
    ex = convert(obj)
    assert ex["messages"] == [u("Is there anything I can eat for a breakfast?"), a("Yes, oatmeal.")]
    assert ex["meta"] == {"id": "seed_task_0", "name": "breakfast_suggestion",
                          "is_classification": False}  # fmt: skip


def test_self_instruct_several_instances_are_one_conversation():
    obj = {"instruction": "Add", "instances": [{"input": "1+1", "output": "2"},
                                               {"input": "2+2", "output": "4"}]}  # fmt: skip
    assert messages_of(obj) == [u("Add\n\n1+1"), a("2"), u("Add\n\n2+2"), a("4")]


def test_self_instruct_bad_instance_is_rejected_with_pointer():
    out = convert({"instruction": "Add", "instances": [{"input": "1", "output": 2}]})
    assert out["rule"] == "convert.invalid_field" and out["pointer"] == "/instances/0/output"


def test_parallel_turn_lists():
    obj = {"input": ["hi", "and then?"], "output": ["hello", "nothing"]}
    assert shape_of(obj, NO) == "input_output"
    assert messages_of(obj) == [u("hi"), a("hello"), u("and then?"), a("nothing")]
    out = convert({"input": ["hi", "x"], "output": ["hello"]})
    assert out["rule"] == "convert.invalid_field" and "give one output per input" in out["message"]


def test_alpaca_output_pair_is_a_preference_pair():
    obj = {"instruction": "Q", "input": "", "output": ["good", "bad"]}
    assert shape_of(obj, NO) == "alpaca_ranking"
    ex = convert(obj)
    assert ex["kind"] == "preference"
    assert (ex["messages"], ex["chosen"], ex["rejected"]) == ([u("Q")], [a("good")], [a("bad")])
    # a longer ranking: the first two are the pair, as the trainers that read it take them
    ex = convert({"instruction": "Q", "output": ["a", "b", "c"]})
    assert (ex["chosen"], ex["rejected"]) == ([a("a")], [a("b")])
    assert ex["meta"] == {"output_ranked_after": ["c"]}
    out = convert({"instruction": "Q", "output": ["a"]})  # no pair: Alpaca's rule reports it
    assert out["rule"] == "convert.invalid_field" and out["pointer"] == "/output"


def test_conversation_pairs():
    obj = {"conversation": [{"human": "Q", "assistant": "A"}], "system": "S"}
    assert shape_of(obj, NO) == "conversation_pairs"
    assert messages_of(obj) == [s("S"), u("Q"), a("A")]


def test_llamafactory_v1_typed_parts_and_loss_weight():
    obj = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "value": "Q1"}], "loss_weight": 0.0},
            {"role": "assistant", "content": [{"type": "text", "value": "A1"}], "loss_weight": 0.0},
            {"role": "user", "content": [{"type": "text", "value": "Q2"}], "loss_weight": 0.0},
            {
                "role": "assistant",
                "content": [
                    {"type": "reasoning", "value": "think"},
                    {"type": "text", "value": "A2"},
                ],
                "loss_weight": 1.0,
            },
        ]
    }
    assert shape_of(obj, NO) == "messages_v1"
    assert messages_of(obj) == [
        u("Q1"), {"role": "assistant", "content": "A1", "weight": 0}, u("Q2"),
        {"role": "assistant", "content": "A2", "reasoning": "think"},
    ]  # fmt: skip


def test_llamafactory_v1_tool_call_parts():
    call = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    obj = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "value": "Weather?"}]},
            {"role": "assistant", "content": [{"type": "tool_call", "value": call}]},
            {"role": "tool", "content": [{"type": "text", "value": "sunny"}]},
            {"role": "assistant", "content": [{"type": "text", "value": "Sunny."}]},
        ]
    }
    got = messages_of(obj)
    assert got[1]["content"] is None
    [tool_call] = got[1]["tool_calls"]
    assert tool_call["function"]["name"] == "get_weather"
    assert got[2]["tool_call_id"] == tool_call["id"]


def test_llamafactory_v1_preference_pair():
    prompt = [{"role": "user", "content": [{"type": "text", "value": "Q"}]}]
    obj = {
        "chosen_messages": prompt + [{"role": "assistant", "content": [{"type": "text", "value": "good"}]}],
        "rejected_messages": prompt + [{"role": "assistant", "content": [{"type": "text", "value": "bad"}]}],
    }  # fmt: skip
    assert shape_of(obj, NO) == "messages_v1_pair"
    ex = convert(obj)
    assert ex["kind"] == "preference"
    assert (
        ex["messages"] == [u("Q")] and ex["chosen"] == [a("good")] and ex["rejected"] == [a("bad")]
    )


def test_llamafactory_v1_unknown_part_is_rejected():
    obj = {"messages": [{"role": "user", "content": [{"type": "audio", "value": "x.wav"}]}]}
    out = convert(obj)
    assert out["rule"] == "convert.invalid_field" and out["pointer"] == "/messages/0/content/0"


@pytest.mark.parametrize(
    "obj, shape, pointer_key",
    [
        ({"Question": "Q", "Answer": "A"}, "question_answer", "Question"),
        ({"question": "Q", "std_answer": "A"}, "question_answer", "std_answer"),
        ({"toy_system": "S", "toy_input": "Q", "toy_output": "A"}, "input_output", "toy_input"),
        ({"input_text": "Q", "output_text": "A"}, "input_output", "input_text"),
    ],
)
def test_columns_read_by_their_names(obj, shape, pointer_key):
    assert shape_of(obj, NO) == shape
    got = messages_of(obj)
    assert got[-2:] == [u("Q"), a("A")]
    if "toy_system" in obj:
        assert got[0] == s("S")
    # a rejection points at the file's own column name
    bad = dict(obj, **{pointer_key: 3})
    out = convert_record(bad, "f.jsonl", 7, shape, NO)
    assert out["pointer"] == "/" + pointer_key, out


def test_ambiguous_columns_stay_as_they_are():
    assert infer.alias_columns({"gold_answer": "x", "model_answer": "y"}) == (
        {"gold_answer": "x", "model_answer": "y"},
        {},
    )
    # an exact name wins over a prefixed one
    renamed, names = infer.alias_columns({"answer": "x", "std_answer": "y"})
    assert renamed == {"answer": "x", "std_answer": "y"} and names == {}


def test_advice_ranks_keys_by_what_they_hold_never_by_position():
    obj = {
        "id": "seed_task_7",
        "name": "rewrite",
        "task_prompt": "Rewrite the following sentence so that it is in the passive voice.",
        "reference": "The ball was thrown by the boy and caught by the girl.",
    }
    out = convert(obj)
    assert out["rule"] == "convert.unknown_shape"
    assert "'task_prompt' looks like the prompt and 'reference' like the reply" in out["message"]
    assert "--map instruction=task_prompt,output=reference" in out["message"]


def test_advice_for_prompts_with_no_replies():
    out = convert({"idx": 3, "prompt_text": "Write a poem about the sea and the sky."})
    assert "look like prompts with no replies" in out["message"]
    assert "--map instruction=prompt_text,output=COLUMN" in out["message"]


def test_mapping_still_wins():
    obj = {"q": "Q", "solution": "A"}
    options = ConvertOptions(mapping={"instruction": "q", "output": "solution"})
    assert messages_of(obj, options) == [u("Q"), a("A")]


def test_every_extra_shape_keeps_provenance():
    ex = new_example("f.jsonl", 7)
    for obj in ({"prompt": "Q", "response": "A"}, {"input": ["Q"], "output": ["A"]}):
        got = convert(obj)
        assert (got["source"], got["line"]) == (ex["source"], ex["line"])
