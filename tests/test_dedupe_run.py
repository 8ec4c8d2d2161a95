"""Near duplicates, conflicts and contamination through `ftprep run`: what each mode does to the
artifacts, the summary lines, the exit codes, and that every record is still accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from tests.conftest import chat, many_chats, write_jsonl


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", *args, "--no-cache"])
    return result.exit_code, result.output


def conserved(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["inputs"]:
        assert entry["records"] == (
            entry["train"] + entry["validation"] + entry["rejected"] + entry["duplicates"]
        )
    return manifest


ANSWERS = [
    "Boil it for ten minutes, then let it rest with the lid on for five more.",
    "Soak it overnight first; it cooks in half the time and stays firm.",
    "Use a rice cooker: two cups of water to one of rice, and press start.",
]


def conflicting(tmp_path: Path) -> Path:
    """30 distinct examples, and the same question asked three times with three answers."""
    records = many_chats(30)
    question = "How should I cook brown rice so that it is soft but not mushy?"
    records[3:3] = [chat(question, ANSWERS[0])]
    records[10:10] = [chat(question, ANSWERS[1])]
    records[20:20] = [chat(question.upper(), ANSWERS[2])]
    return write_jsonl(tmp_path / "rice.jsonl", records)


@pytest.mark.parametrize(
    ("mode", "kept", "dropped_to"),
    [("keep", 33, None), ("first", 31, "duplicates"), ("drop", 30, "rejected")],
)
def test_conflicts_modes(tmp_path: Path, mode: str, kept: int, dropped_to: str | None) -> None:
    src = conflicting(tmp_path)
    out = tmp_path / "out"
    code, output = run_cli(str(src), "--out", str(out), "--profile", "trl-sft", "--conflicts", mode)
    assert code == 0, output
    manifest = conserved(out)
    counts = manifest["counts"]
    assert counts["train"] + counts["validation"] == kept
    lines = read_jsonl(out / "conflicts.jsonl")
    assert [(c["line"], c["conflicts_with_line"]) for c in lines] == [(11, 4), (21, 4)]
    action = {"keep": "kept", "first": "removed", "drop": "rejected"}[mode]
    assert {c["action"] for c in lines} == {action}
    assert lines[0]["prompt_similarity"] == 1.0
    assert lines[0]["response"] == ANSWERS[1] and lines[0]["other_response"] == ANSWERS[0]
    assert "  conflicts 2 example(s) ask what an earlier one asks, with another answer" in output
    if dropped_to == "duplicates":
        assert [(d["line"], d["kind"]) for d in read_jsonl(out / "duplicates.jsonl")] == [
            (11, "conflict"),
            (21, "conflict"),
        ]
    if dropped_to == "rejected":
        rejected = read_jsonl(out / "rejected.jsonl")
        assert [(r["line"], r["rule"]) for r in rejected] == [
            (4, "dedupe.conflict"),
            (11, "dedupe.conflict"),
            (21, "dedupe.conflict"),
        ]
    # a conflict group stays in one split
    splits = {}
    for split in ("train", "validation"):
        for row in read_jsonl(out / f"{split}.jsonl"):
            if row["messages"][0]["content"].lower().startswith("how should i cook brown rice"):
                splits[row["messages"][1]["content"]] = split
    assert len(set(splits.values())) <= 1


def test_loss_alarm_and_max_duplicate_share(tmp_path: Path) -> None:
    """A run that removes over 10% of its records as duplicates says so and names the biggest
    clusters; --max-duplicate-share makes it exit 1 (the artifacts are still written)."""
    records = many_chats(20)
    records += [records[2]] * 4 + [records[7]] * 2  # 6 exact copies
    src = write_jsonl(tmp_path / "copies.jsonl", records)
    out = tmp_path / "out"
    code, output = run_cli(str(src), "--out", str(out), "--profile", "trl-sft")
    assert code == 0, output
    expected = (
        "  warning: 23.1% of the records (6 of 26) were removed as duplicates; biggest clusters: "
        f"4 copies of {src}:3 (e.g. {src}:21); 2 copies of {src}:8 (e.g. {src}:25)."
    )
    assert expected in output
    code, output = run_cli(
        str(src), "--out", str(out), "--profile", "trl-sft", "--max-duplicate-share", "0.2"
    )
    assert code == 1
    assert "23.1% of records were removed as duplicates, over --max-duplicate-share 20.0%" in output
    assert conserved(out)["dedupe"]["largest_clusters"][0]["copies"] == 4


GSM8K = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
    "How much did she earn?",
    "Betty is saving money for a new wallet which costs $100. Betty has only half of the money "
    "she needs. How much more money does Betty need to buy the wallet?",
]


@pytest.mark.parametrize("mode", ["report", "remove"])
def test_decontaminate(tmp_path: Path, mode: str) -> None:
    """Planted eval questions, verbatim and inside a longer prompt, are found; a reworded one
    that shares no 13-word run is not; remove rejects them, report keeps them."""
    evals = write_jsonl(
        tmp_path / "gsm8k_test.jsonl", [{"question": q, "answer": "1"} for q in GSM8K]
    )
    records = many_chats(25)
    records[4] = chat(GSM8K[0], "72 clips.")
    records[9] = chat(f"Please solve, step by step: {GSM8K[2]} Thanks!", "She needs 50 more.")
    records[14] = chat("Weng makes $12 per hour babysitting; she worked 50 minutes. Pay?", "$10.")
    src = write_jsonl(tmp_path / "train.jsonl", records)
    out = tmp_path / "out"
    code, output = run_cli(
        str(src), "--out", str(out), "--profile", "trl-sft",
        "--decontaminate", str(evals), "--contaminated", mode,
    )  # fmt: skip
    assert code == 0, output
    manifest = conserved(out)
    found = read_jsonl(out / "contaminated.jsonl")
    assert [(f["line"], f["eval_line"]) for f in found] == [(5, 1), (10, 3)]
    action = "removed" if mode == "remove" else "kept"
    assert {f["action"] for f in found} == {action}
    assert found[0]["ngram"] == "natalia sold clips to 48 of her friends in april and then she"
    assert manifest["contamination"]["matched"] == 2
    assert manifest["contamination"]["eval_sets"][0]["items"] == 3
    rejected = [r["rule"] for r in read_jsonl(out / "rejected.jsonl")]
    assert rejected == (["decontaminate.eval_overlap"] * 2 if mode == "remove" else [])
    assert "  contamination 2 example(s) contain an item of the eval set(s)" in output
    assert any(e["path"] == "contaminated.jsonl" for e in manifest["outputs"])


def test_decontaminate_names_a_missing_eval_file(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "train.jsonl", many_chats(5))
    code, output = run_cli(str(src), "--out", str(tmp_path / "o"), "--decontaminate", "remove")
    assert code == 2
    assert (
        "eval file remove does not exist (to remove matches, give --contaminated remove)" in output
    )
