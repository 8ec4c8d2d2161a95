"""Rows that would train on nothing: rejected with a rule that says why, for every tokenizer."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pipeline.cli import cli
from tests.conftest import many_chats, write_jsonl


def _run(tmp_path, rows, *extra):
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["run", str(data), "--out", str(out), "--no-cache", "--near-dupes", "off", *extra]
    )
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines()]
    return result, rejected


def test_a_row_whose_assistant_turns_all_have_weight_0_is_rejected(tmp_path):
    rows = many_chats(12)
    rows[3]["messages"][-1]["weight"] = 0
    result, rejected = _run(tmp_path, rows, "--profile", "trl-sft")
    assert result.exit_code == 0, result.output
    assert [(r["line"], r["rule"]) for r in rejected] == [(4, "count.no_trained_tokens")]
    assert "teaches the model nothing" in rejected[0]["message"]


def test_truncation_that_leaves_only_the_prompt_is_rejected(tmp_path):
    rows = many_chats(12)
    rows[5]["messages"][0]["content"] = "word " * 3000
    result, rejected = _run(
        tmp_path,
        rows,
        "--profile",
        "trl-sft",
        "--length-policy",
        "truncate",
        "--max-tokens",
        "1000",
    )
    assert result.exit_code == 0, result.output
    assert [(r["line"], r["rule"]) for r in rejected] == [(6, "length.no_trained_tokens")]
    assert "holds no trained token" in rejected[0]["message"]
