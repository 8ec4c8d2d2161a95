"""Near dedupe on real third-party files: named distinct records stay apart, named copies merge,
conflicts and contamination are found. Skips when ../shared/data is not beside the project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import RunConfig
from pipeline.engines.embedded import run
from tests.conftest import SHARED_DATA, needs_shared_data, write_jsonl

pytestmark = needs_shared_data


def _run(path: Path, out: Path, **settings) -> dict:
    config = RunConfig(inputs=[path], out=out, use_cache=False, **settings)
    return run(config).manifest


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _records_by_line(path: Path) -> dict[int, dict]:
    from pipeline.stages import ingest

    out = {}
    for src in ingest.discover(path, str(path)):
        for item in ingest.read_source(src):
            ok, obj = ingest.parse_item(src.name, item)
            out[item[0]] = obj
    return out


def test_bedrock_tool_spec_prompts_merge_nothing(tmp_path: Path) -> None:
    """Every prompt pastes the same tool specification; the questions and answers differ."""
    manifest = _run(
        SHARED_DATA / "bedrock" / "nova_tooluse_formatted_test_ft.jsonl",
        tmp_path / "o",
        profile="bedrock-conversation",
    )
    assert manifest["counts"]["duplicates"] == 0
    assert manifest["dedupe"]["boilerplate_shingles"] > 100  # the spec was recognised as such


def test_drone_tool_calls_are_not_merged(tmp_path: Path) -> None:
    """The same system prompt and 15 tools in every line: "bring the drone down" (land_drone)
    and "get the drone in the air" (takeoff_drone) are different examples."""
    manifest = _run(SHARED_DATA / "openai_cookbook" / "drone_training.jsonl", tmp_path / "o")
    assert manifest["counts"]["duplicates"] == 0
    assert manifest["counts"]["train"] + manifest["counts"]["validation"] == 103


def test_fastchat_identity_questions(tmp_path: Path) -> None:
    """Distinct identity questions are never merged, whatever answer they share; the same
    question asked with other answers is a conflict."""
    path = SHARED_DATA / "fastchat" / "dummy_conversation.json"
    out = tmp_path / "o"
    manifest = _run(path, out, profile="trl-sft")
    records = _records_by_line(path)

    def question(line: int) -> str:
        return records[line]["conversations"][0]["value"]

    merged = {
        frozenset((question(d["line"]), question(d["duplicate_of_line"])))
        for d in _lines(out / "duplicates.jsonl")
    }
    for pair in [
        ("Are you davinci-001?", "Tell me who you are."),
        ("Are you davinci-001?", "Are you davinci-003?"),
        ("Are you GPT-3?", "Are you GPT-2?"),
        ("Who are you?", "What is your name?"),
    ]:
        assert frozenset(pair) not in merged
    assert all(d["similarity"] >= 0.8 for d in _lines(out / "duplicates.jsonl"))
    assert manifest["counts"]["duplicates"] <= 10  # was 167 near "copies", 0 exact
    conflicts = _lines(out / "conflicts.jsonl")
    assert manifest["dedupe"]["conflicts"] == len(conflicts) > 100
    for c in conflicts[:20]:
        assert c["response"] != c["other_response"]


def test_mlx_exact_copies_and_paraphrases(tmp_path: Path) -> None:
    """437 exact copies are still found; near copies differ only by case, punctuation or a few
    words of the answer; the rest of the paraphrased answers to one prompt are conflicts."""
    path = SHARED_DATA / "mlx_examples" / "wwdc25_train.jsonl"
    out = tmp_path / "o"
    manifest = _run(path, out)
    dups = _lines(out / "duplicates.jsonl")
    assert sum(d["kind"] == "exact" for d in dups) == 437
    records = _records_by_line(path)
    near = [d for d in dups if d["kind"] == "near"]
    assert near
    for d in near:
        a, b = records[d["line"]], records[d["duplicate_of_line"]]
        assert a["prompt"].lower().rstrip("?") == b["prompt"].lower().rstrip("?") or (
            d["prompt_similarity"] >= 0.8
        )
        assert d["response_similarity"] >= 0.8 and d["similarity"] >= 0.8
    assert manifest["dedupe"]["conflicts"] > 500


def test_contamination_in_a_real_file(tmp_path: Path) -> None:
    """An eval set made of three of the file's own questions, one reworded: the records that
    ask them are found, reported with their item, and removed on request."""
    path = SHARED_DATA / "llamafactory" / "alpaca_en_demo.json"
    items = json.loads(path.read_text())
    questions = [items[3]["instruction"], items[50]["instruction"], items[700]["instruction"]]
    assert all(len(q.split()) >= 5 for q in questions)
    evals = write_jsonl(
        tmp_path / "eval.jsonl", [{"question": q, "answer": "x"} for q in questions]
    )
    out = tmp_path / "o"
    manifest = _run(path, out, decontaminate=[evals], contaminated="remove")
    found = _lines(out / "contaminated.jsonl")
    assert {f["eval_line"] for f in found} == {1, 2, 3}
    assert all(f["action"] == "removed" for f in found)
    counts = manifest["counts"]
    assert counts["records"] == 999
    assert counts["train"] + counts["validation"] + counts["rejected"] + counts["duplicates"] == 999
    assert (
        manifest["rejected_by_rule"]["decontaminate.eval_overlap"]
        == manifest["contamination"]["removed"]
    )


@pytest.mark.parametrize(
    "name",
    [
        "llamafactory/dpo_en_demo.json",
        "llamafactory/kto_en_demo.json",
        "hh_rlhf/harmless-base_test.jsonl.gz",
    ],
)
def test_preference_and_unpaired_data_merge_nothing_distinct(tmp_path: Path, name: str) -> None:
    profile = "trl-kto" if "kto" in name else "trl-dpo"
    out = tmp_path / "o"
    _run(SHARED_DATA / name, out, profile=profile)
    assert not [d for d in _lines(out / "duplicates.jsonl") if d["kind"] == "near"]
