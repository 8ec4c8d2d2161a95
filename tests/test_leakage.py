"""ftprep leakage: exact and near pairs across two files, exact output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli

A = (
    "The harbor town kept a small library where sailors traded novels for maps, and the "
    "librarian wrote down every trade in a green ledger that nobody else was allowed to read."
)
B = (
    "To measure the height of a tree without climbing it, stand back until the top sits at "
    "a forty five degree angle, then measure your distance to the trunk and add your eye height. "
    "A phone app can stand in for the angle: hold it level with your eye, walk until it reads "
    "forty five degrees, and mark the spot. Repeat the measurement from the other side of the "
    "tree and take the average, because slopes and leaning trunks throw a single reading off."
)
C = (
    "Bread dough rises faster in a warm kitchen because the yeast ferments sugar more quickly, "
    "releasing carbon dioxide that stretches the gluten network into a light and airy crumb."
)


def _chat(question: str, answer: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def _files(tmp_path: Path) -> tuple[Path, Path]:
    train = tmp_path / "train.jsonl"
    val = tmp_path / "validation.json"
    train.write_text(
        "\n".join(json.dumps(_chat(q, a)) for q, a in [("Tell me", A), ("Explain", B), ("Why", C)])
        + "\n"
    )
    # an Alpaca-shaped JSON array: the shape does not matter, the content does
    items = [
        {"instruction": "Tell me", "input": "", "output": A},  # exact copy of train:1
        {"instruction": "Explain", "input": "", "output": B.replace("climbing", "scaling")},
        {"instruction": "Something else", "input": "", "output": "A short answer."},
    ]
    # an Alpaca-shaped JSON array, one item per line (lines 2-4): the shape does not matter
    val.write_text("[\n" + ",\n".join(json.dumps(i) for i in items) + "\n]\n")
    return train, val


def test_leakage_text_output_and_exit_1(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    train, val = _files(tmp_path)
    result = CliRunner().invoke(cli, ["leakage", "train.jsonl", "validation.json"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == "validation.json:2: exact copy of train.jsonl:1 [leakage.exact]"
    # the same prompt; the answers share 82 of their 93 distinct word 5-grams
    assert (
        lines[1] == "validation.json:3: near copy of train.jsonl:2, similarity 0.882 [leakage.near]"
    )
    assert lines[2] == (
        "FAILED: 2 pair(s): 1 exact, 1 near (similarity >= 0.8) across 3 train and 3 "
        "validation records"
    )
    assert len(lines) == 3


def test_leakage_json_output(tmp_path: Path) -> None:
    train, val = _files(tmp_path)
    result = CliRunner().invoke(cli, ["leakage", str(train), str(val), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False
    assert data["summary"] == {"pairs": 2, "exact": 1, "near": 1, "eval": 0}
    near = data["pairs"][1]
    assert near["kind"] == "near" and near["rule"] == "leakage.near"
    assert near["train"] == {"source": str(train), "line": 2}
    assert near["validation"] == {"source": str(val), "line": 3}
    assert 0.8 <= near["similarity"] < 1


def test_leakage_threshold_and_prompt_key(tmp_path: Path) -> None:
    train, val = _files(tmp_path)
    strict = CliRunner().invoke(cli, ["leakage", str(train), str(val), "--near-threshold", "0.99"])
    assert strict.exit_code == 1
    assert "1 exact, 0 near" in strict.output
    prompts = CliRunner().invoke(cli, ["leakage", str(train), str(val), "--dedupe-key", "prompt"])
    assert "2 exact" in prompts.output  # "Tell me" and "Explain" are the same prompts


def test_leakage_none_exit_0(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.jsonl").write_text(json.dumps(_chat("Tell me", A)) + "\n")
    (tmp_path / "v.jsonl").write_text(json.dumps(_chat("Why", C)) + "\nnot json\n")
    result = CliRunner().invoke(cli, ["leakage", "t.jsonl", "v.jsonl"])
    assert result.exit_code == 0
    assert result.output == (
        "ok: no exact or near duplicate pair across 1 train and 2 validation records; "
        "1 record(s) could not be read and were not compared\n"
    )


def test_leakage_usage_errors_exit_2(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text(json.dumps(_chat("Tell me", A)) + "\n")
    missing = CliRunner().invoke(
        cli, ["leakage", str(tmp_path / "t.jsonl"), str(tmp_path / "nope")]
    )
    assert missing.exit_code == 2
    assert "no such file or folder" in missing.output
    assert "Traceback" not in missing.output
    bad = CliRunner().invoke(cli, ["leakage", str(tmp_path / "t.jsonl")])
    assert bad.exit_code == 2
    assert "give a VALIDATION file to compare with, or --against EVAL, or both" in bad.output
    threshold = CliRunner().invoke(
        cli,
        ["leakage", str(tmp_path / "t.jsonl"), str(tmp_path / "t.jsonl"), "--near-threshold", "0"],
    )
    assert threshold.exit_code == 2


def test_leakage_with_a_side_it_could_not_read_at_all_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text("not json\n{broken\n")
    (tmp_path / "v.jsonl").write_text(json.dumps(_chat("Why", C)) + "\n")
    result = CliRunner().invoke(
        cli, ["leakage", str(tmp_path / "t.jsonl"), str(tmp_path / "v.jsonl")]
    )
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path / 't.jsonl'}: none of its 2 record(s) could be read, so nothing was "
        "compared; check the file (`ftprep validate` says what is wrong)\n"
    )


GSM8K = [
    (
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
        "in May. How many clips did Natalia sell altogether in April and May?",
        "Natalia sold 48/2 = 24 clips in May. #### 72",
    ),
    (
        "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
        "babysitting. How much did she earn?",
        "Weng earns 12/60 = $0.2 per minute. #### 10",
    ),
    ("What is the capital of France?", "Paris"),
    ("Who wrote it?", "Nobody"),
]


def test_leakage_against_an_eval_set(tmp_path: Path, monkeypatch) -> None:
    """GSM8K-shaped eval items planted in a training file: verbatim, inside a longer prompt,
    lowercased, and reworded (the reworded one shares no 13-word run and is not a match)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gsm8k_test.jsonl").write_text(
        "".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in GSM8K)
    )
    rows = [
        _chat(f"Question {i}: how long do I boil {i} eggs?", f"{i + 5} minutes.") for i in range(8)
    ]
    rows[1] = _chat(GSM8K[0][0], "72")
    rows[3] = _chat("Solve this and show your work: " + GSM8K[1][0].lower(), "10")
    rows[5] = _chat("Weng makes $12 per hour babysitting; she worked 50 minutes. Earnings?", "10")
    rows[6] = _chat("Quick one: what is the capital of France", "Paris")
    rows[7] = _chat("who wrote it", "Me")  # a 3-word item is too short to tell
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["leakage", "train.jsonl", "--against", "gsm8k_test.jsonl"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        'train.jsonl:2: contains the eval item gsm8k_test.jsonl:1 ("natalia sold clips to 48 of '
        'her friends in april and then she") [leakage.eval]',
        'train.jsonl:4: contains the eval item gsm8k_test.jsonl:2 ("weng earns 12 an hour for '
        'babysitting yesterday she just did 50 minutes") [leakage.eval]',
        'train.jsonl:7: contains the eval item gsm8k_test.jsonl:3 ("what is the capital of '
        'france") [leakage.eval]',
        "FAILED: 3 record(s) containing an eval item across 8 train records",
    ]
    data = json.loads(
        CliRunner()
        .invoke(
            cli, ["leakage", "train.jsonl", "--against", "gsm8k_test.jsonl", "--format", "json"]
        )
        .output
    )
    assert data["eval_sets"][0]["items"] == 4 and data["eval_sets"][0]["too_short"] == 1
    assert [m["line"] for m in data["eval_matches"]] == [2, 4, 7]
