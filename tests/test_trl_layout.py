"""trl-sft's two layouts: ``messages`` (the default; TRL trains what ``assistant_only_loss``
selects) and ``--trl-layout prompt-completion`` (TRL trains the completion only)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pipeline.cli import cli
from tests.conftest import many_chats, write_jsonl


def _rows():
    pairs = [
        {"prompt": f"question {i} about tents?", "completion": f"answer {i}."} for i in range(6)
    ]
    chats = many_chats(6)
    chats[0]["messages"].append({"role": "user", "content": "and more?"})
    chats[0]["messages"].append({"role": "assistant", "content": "more."})
    return pairs, chats


def _written(tmp_path, *extra):
    pairs, chats = _rows()
    a = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    b = write_jsonl(tmp_path / "chats.jsonl", chats)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["run", str(a), str(b), "--profile", "trl-sft", "--out", str(out), "--no-cache"]
        + ["--near-dupes", "off", "--val-ratio", "0", *extra],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    return lines, json.loads((out / "manifest.json").read_text())


def test_default_layout_is_messages_for_every_input(tmp_path):
    lines, manifest = _written(tmp_path)
    assert len(lines) == 12 and all(set(line) == {"messages"} for line in lines)
    assert manifest["config"]["trl_layout"] == "messages"


def test_prompt_completion_layout_splits_at_the_trailing_assistant_turns(tmp_path):
    lines, manifest = _written(tmp_path, "--trl-layout", "prompt-completion")
    assert all(set(line) == {"prompt", "completion"} for line in lines)
    assert manifest["config"]["trl_layout"] == "prompt-completion"
    pair = next(line for line in lines if line["prompt"][0]["content"] == "question 0 about tents?")
    assert pair["completion"] == [{"role": "assistant", "content": "answer 0."}]
    multi = next(line for line in lines if line["completion"][0]["content"] == "more.")
    assert [m["role"] for m in multi["prompt"]] == ["user", "assistant", "user"]
