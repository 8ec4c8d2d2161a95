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
    # 113 of 128 MinHash values agree (ftprep shingle hashes, rensa 0.5, seed 42)
    assert (
        lines[1] == "validation.json:3: near copy of train.jsonl:2, similarity 0.883 [leakage.near]"
    )
    assert lines[2] == (
        "FAILED: 2 pair(s) across 3 train and 3 validation records: 1 exact, 1 near "
        "(estimated Jaccard >= 0.8)"
    )
    assert len(lines) == 3


def test_leakage_json_output(tmp_path: Path) -> None:
    train, val = _files(tmp_path)
    result = CliRunner().invoke(cli, ["leakage", str(train), str(val), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False
    assert data["summary"] == {"pairs": 2, "exact": 1, "near": 1}
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
