"""`make run`'s sample data: every planted defect and duplicate lands where data/raw/README.md says."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli
from tests.conftest import REPO


def travel_line(item: int) -> int:
    """The line where the item-th (1-based) record of travel_sharegpt.json starts."""
    lines = (
        (REPO / "data" / "raw" / "travel_sharegpt.json").read_text(encoding="utf-8").splitlines()
    )
    starts = [n for n, text in enumerate(lines, start=1) if text == "  {"]
    return starts[item - 1]


def test_sample_run_accounts_for_every_planted_defect(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    result = CliRunner().invoke(
        cli, ["run", "--config", str(REPO / "ftprep.toml"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["counts"]["records"] == 400
    assert m["counts"]["duplicates"] == 11
    assert m["counts"]["train"] + m["counts"]["validation"] == 381
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    where = sorted((Path(r["source"]).name, r["line"], r["rule"]) for r in rejected)
    assert where == [
        ("recipes_alpaca.json", 395, "openai.content.empty"),  # the 74th item starts here
        ("support_chat.jsonl", 18, "openai.content.empty"),
        ("support_chat.jsonl", 42, "ingest.invalid_json"),
        ("support_chat.jsonl", 56, "openai.role.unknown"),
        ("support_chat.jsonl", 69, "convert.not_object"),
        ("support_chat.jsonl", 81, "openai.weight.invalid"),
        ("support_chat.jsonl", 95, "openai.content.special_token"),
        ("travel_sharegpt.json", travel_line(24), "convert.unknown_role"),
    ]
    duplicates = [json.loads(line) for line in (out / "duplicates.jsonl").read_text().splitlines()]
    support = sorted(
        (d["line"], d["duplicate_of_line"])
        for d in duplicates
        if d["source"].endswith("support_chat.jsonl")
    )
    assert support == [(88, 37), (97, 32), (99, 20), (116, 34)]
    faq = sorted(
        (d["line"], d["duplicate_of_line"]) for d in duplicates if d["source"].endswith("faq.csv")
    )
    assert faq == [(62, 15), (83, 38)]  # row 31 holds two embedded newlines
