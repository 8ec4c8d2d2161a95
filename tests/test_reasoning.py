"""Reasoning traces as data: read from every documented source into the Example's ``reasoning``
field, written the way each provider documents it (or refused where it has no field), counted
apart, and part of the response for near-duplicate detection."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import ConvertOptions
from pipeline.stages.convert import convert_record
from pipeline.stages.dedupe.near_features import side_texts
from tests.conftest import REPO, write_jsonl
from tests.oracles import together_check

DATA = REPO / "tests" / "data" / "reasoning"
SOURCES = ["together_reasoning", "reasoning_content", "think_inline", "nova2_reasoning"]
FIRST_REASONING = "17 times 20 is 340 and 17 times 3 is 51; 340 plus 51 is 391."


def _run(tmp_path: Path, source: Path, profile: str, *extra: str):
    out = tmp_path / f"{profile}-{source.stem}"
    result = CliRunner().invoke(
        cli,
        ["run", str(source), "--profile", profile, "--out", str(out), "--no-cache"]
        + ["--near-dupes", "off", *extra],
    )
    return result, out


def _lines(out: Path) -> list[dict]:
    return [
        json.loads(line)
        for name in ("train.jsonl", "validation.jsonl")
        if (out / name).exists()
        for line in (out / name).read_text(encoding="utf-8").splitlines()
    ]


@pytest.mark.parametrize("name", SOURCES)
def test_every_source_lands_in_the_reasoning_field(name):
    obj = json.loads((DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()[0])
    ex = convert_record(obj, "f.jsonl", 1, None, ConvertOptions())
    assistant = [m for m in ex["messages"] if m["role"] == "assistant"]
    assert assistant == [
        {"role": "assistant", "content": "17 × 23 = 391.", "reasoning": FIRST_REASONING}
    ]


@pytest.mark.parametrize(
    "message, rule_pointer, words",
    [
        (
            {"role": "user", "content": "hi", "reasoning": "x"},
            "/messages/0/reasoning",
            "only an assistant message carries reasoning",
        ),
        (
            {"role": "assistant", "content": "<think>a</think>b", "reasoning_content": "c"},
            "/messages/0",
            "two different reasoning traces",
        ),
        (
            {"role": "assistant", "content": "b", "thinking": ["c"]},
            "/messages/0/thinking",
            "thinking must be a string, not a list",
        ),
    ],
)
def test_reasoning_it_cannot_place_is_rejected_with_what_to_change(message, rule_pointer, words):
    rej = convert_record({"messages": [message]}, "f.jsonl", 3, None, ConvertOptions())
    assert (rej["rule"], rej["pointer"], rej["line"]) == ("convert.reasoning", rule_pointer, 3)
    assert words in rej["message"]


def test_same_trace_twice_and_think_text_later_in_content_are_kept():
    same = {"role": "assistant", "content": "<think>c</think>b", "reasoning_content": "c"}
    ex = convert_record({"messages": [same]}, "f.jsonl", 1, None, ConvertOptions())
    assert ex["messages"] == [{"role": "assistant", "content": "b", "reasoning": "c"}]
    later = {"role": "assistant", "content": "Use <think>x</think> tags."}
    ex = convert_record({"messages": [later]}, "f.jsonl", 1, None, ConvertOptions())
    assert ex["messages"] == [later]


@pytest.mark.parametrize("name", SOURCES)
def test_together_takes_the_reasoning_field_and_its_checker_agrees(tmp_path, name):
    result, out = _run(tmp_path, DATA / f"{name}.jsonl", "together")
    assert result.exit_code == 0, result.output
    lines = _lines(out)
    assert len(lines) == 12
    assert all(line["messages"][-1]["reasoning"] for line in lines)
    assert together_check(out / "train.jsonl")["is_check_passed"]


def test_nova_writes_reasoning_content_blocks(tmp_path):
    result, out = _run(tmp_path, DATA / "think_inline.jsonl", "bedrock-conversation")
    assert result.exit_code == 0, result.output
    first = next(line for line in _lines(out) if "17" in json.dumps(line))
    assert first["messages"][-1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": FIRST_REASONING}}},
        {"text": "17 × 23 = 391."},
    ]


def test_trl_writes_reasoning_content_for_the_chat_template(tmp_path):
    result, out = _run(tmp_path, DATA / "nova2_reasoning.jsonl", "trl-sft")
    assert result.exit_code == 0, result.output
    assert all("reasoning_content" in line["messages"][-1] for line in _lines(out))


@pytest.mark.parametrize("profile", ["openai-chat", "mistral", "vertex-gemini"])
def test_a_provider_without_a_reasoning_field_refuses_it(tmp_path, profile):
    result, out = _run(tmp_path, DATA / "reasoning_content.jsonl", profile)
    assert result.exit_code == 1
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == 12
    assert {r["rule"] for r in rejected} == {"profile.reasoning.unsupported"}
    assert rejected[0]["message"].startswith(f"{profile} has no field for an assistant's reasoning")


def test_reasoning_tokens_are_counted_apart_in_summary_manifest_and_parquet(tmp_path):
    result, out = _run(tmp_path, DATA / "together_reasoning.jsonl", "together")
    manifest = json.loads((out / "manifest.json").read_text())
    tokens = manifest["tokens"]
    assert 0 < tokens["reasoning"] < tokens["trained"] < tokens["total"]
    assert f"{tokens['reasoning']} in reasoning traces" in result.output
    table = pq.read_table(out / "train.parquet")
    assert (
        sum(table.column("n_reasoning_tokens").to_pylist()) == tokens["train"]["reasoning_tokens"]
    )
    reasoning = [m["reasoning"] for row in table.column("messages").to_pylist() for m in row]
    assert FIRST_REASONING in reasoning or len(table) < 12


def test_near_duplicates_compare_reasoning_as_part_of_the_response():
    ex = {"kind": "sft", "messages": [{"role": "user", "content": "q"}]}
    ex["messages"].append({"role": "assistant", "content": "391", "reasoning": "17 times 23"})
    _, _, response, _ = side_texts(ex)
    assert "17 times 23" in response and "391" in response


def test_a_null_reasoning_is_no_reasoning(tmp_path):
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": f"question {i}"},
                    {"role": "assistant", "content": f"answer {i}", "reasoning_content": None},
                ]
            }
            for i in range(12)
        ],
    )
    result, out = _run(tmp_path, data, "openai-chat")
    assert result.exit_code == 0, result.output
    assert all("reasoning" not in m for line in _lines(out) for m in line["messages"])
