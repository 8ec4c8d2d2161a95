"""The one-verdict invariant on files in each new shape, repaired or not: what `ftprep run` writes
from them passes `ftprep validate` and the providers' own checkers (tests/oracles.py), and every
record ends in exactly one of train, validation, rejected or duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from tests.conftest import write_jsonl
from tests.oracles import hf_load, mistral_file_refusals, together_check
from tests.test_run import assert_conserved

N = 14


def _v1(role: str, text: str, **extra) -> dict:
    return {"role": role, "content": [{"type": "text", "value": text}], **extra}


SHAPES = {
    "prompt_response": [{"prompt": f"Name a colour, {i}.", "response": f"Blue {i}."} for i in range(N)],
    "self_instruct": [
        {"id": f"seed_task_{i}", "name": f"task{i}", "instruction": f"Add {i} and 1.",
         "instances": [{"input": "", "output": str(i + 1)}], "is_classification": False}
        for i in range(N)
    ],
    "parallel_turns": [
        {"input": [f"hi {i}", "and then?"], "output": [f"hello {i}", f"nothing {i}"]}
        for i in range(N)
    ],
    "v1": [
        {"messages": [_v1("user", f"Q{i}", loss_weight=0.0), _v1("assistant", f"A{i}", loss_weight=1.0)]}
        for i in range(N)
    ],
    "v1_reasoning": [
        {"messages": [_v1("user", f"Q{i}", loss_weight=0.0),
                      {"role": "assistant", "loss_weight": 1.0,
                       "content": [{"type": "reasoning", "value": f"think {i}"},
                                   {"type": "text", "value": f"A{i}"}]}]}
        for i in range(N)
    ],
    "columns": [{"Question": f"What is {i}+{i}?", "std_answer": str(2 * i)} for i in range(N)],
    "gemini_roles": [
        {"messages": [{"role": "human", "content": f"Hi {i}"}, {"role": "model", "content": f"Yo {i}"}]}
        for i in range(N)
    ],
    "legacy": [{"prompt": f"Company {i} ->", "completion": f" Sector {i} END"} for i in range(N)],
}  # fmt: skip
PROFILES = ("openai-chat", "mistral", "together", "vertex-gemini")


# LLaMA-Factory's reasoning parts land in the assistant message's ``reasoning`` field: Together
# takes it (its ``reasoning`` key); the others document no place for it and refuse the row.
REASONING_TAKEN = ("together",)
CASES = [
    (shape, profile)
    for shape in sorted(SHAPES)
    for profile in PROFILES
    if shape != "v1_reasoning" or profile in REASONING_TAKEN
]


@pytest.mark.parametrize("profile", [p for p in PROFILES if p not in REASONING_TAKEN])
def test_reasoning_parts_are_refused_where_the_provider_takes_none(
    tmp_path: Path, profile: str
) -> None:
    data = write_jsonl(tmp_path / "v1.jsonl", SHAPES["v1_reasoning"])
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["run", str(data), "--out", str(out), "--profile", profile, "--no-cache"]
    )
    assert result.exit_code == 1, result.output
    assert_conserved(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rejected_by_rule"] == {"profile.reasoning.unsupported": N}


@pytest.mark.parametrize("shape, profile", CASES)
def test_new_shapes_pass_validate_and_the_providers_checkers(
    tmp_path: Path, shape: str, profile: str
) -> None:
    data = write_jsonl(tmp_path / f"{shape}.jsonl", SHAPES[shape])
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["run", str(data), "--out", str(out), "--profile", profile, "--no-cache"]
    )
    assert result.exit_code == 0, result.output
    assert_conserved(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["rejected"] == 0, manifest["rejected_by_rule"]
    for name in ("train.jsonl", "validation.jsonl"):
        path = out / name
        if not path.exists():
            continue
        args = ["validate", str(path), "--profile", profile]
        if name == "validation.jsonl":
            args = ["validate", "--validation-file", str(path), "--profile", profile]
        report = CliRunner().invoke(cli, args)
        assert report.exit_code == 0, report.output
        assert hf_load(path) == sum(1 for _ in path.open())
        if profile == "mistral":
            assert mistral_file_refusals(path) == []
        if profile == "together":
            checked = together_check(path)
            assert checked["is_check_passed"], checked["message"]
