"""The length policy through `ftprep run`: flag, drop and truncate, with conservation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import cli
from pipeline.stages.length import POLICIES, truncate_messages
from pipeline.stages.tokens import Counter

LIMIT = 120


def _rows() -> list[dict]:
    rows = []
    for i in range(12):
        long = i % 4 == 0  # rows 1, 5, 9 are long
        rng = random.Random(i)  # distinct words per row: no near copies
        filler = " ".join("".join(rng.choices("abcdefghij", k=5)) for _ in range(150))
        answer = f"Answer {i}: " + (filler if long else "ok")
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": f"Question number {i}?"},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    # a long row whose cut leaves no trained tokens: the user message alone is over the limit
    rows.append(
        {
            "messages": [
                {"role": "user", "content": "word " * 400},
                {"role": "assistant", "content": "short"},
            ]
        }
    )
    return rows


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("len") / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    return path


def _run(data: Path, out: Path, policy: str | None) -> tuple[dict, str]:
    args = [
        "run",
        str(data),
        "--out",
        str(out),
        "--max-tokens",
        str(LIMIT),
        "--model",
        "gpt-4o-mini",
    ]
    if policy:
        args += ["--length-policy", policy]
    result = CliRunner().invoke(cli, args)
    _assert_done(result, out)
    return json.loads((out / "manifest.json").read_text()), result.output


def _conserved(manifest: dict) -> None:
    for entry in manifest["inputs"]:
        assert entry["records"] == (
            entry["train"] + entry["validation"] + entry["rejected"] + entry["duplicates"]
        )
    c = manifest["counts"]
    assert c["records"] == c["train"] + c["validation"] + c["rejected"] + c["duplicates"] == 13


def _assert_done(result, out: Path) -> None:
    """The run completed; exit 1 only for its verdict that too few rows are left for OpenAI's
    minimum of 10 training examples (13 rows, 4 of them dropped)."""
    assert result.exit_code in (0, 1), result.output
    verdict = json.loads((out / "manifest.json").read_text())["verdict"]
    assert (result.exit_code == 0) == verdict["ok"]
    assert {f["rule"] for f in verdict["findings"]} <= {"file.min_examples"}


def _kept(out: Path) -> list[dict]:
    return [
        r for s in ("train", "validation") for r in pq.read_table(out / f"{s}.parquet").to_pylist()
    ]


def test_flag_is_the_default_and_names_the_rows(data, tmp_path):
    manifest, output = _run(data, tmp_path / "o", None)
    _conserved(manifest)
    assert manifest["length"]["policy"] == "flag"
    assert manifest["length"]["flagged_rows"] == 4
    assert manifest["counts"]["rejected"] == 0
    assert sorted(o["line"] for o in manifest["tokens"]["over_limit"]) == [1, 5, 9, 13]
    assert manifest["warnings_by_rule"]["length.over_limit"] == 4
    for line in (1, 5, 9, 13):
        assert f"chat.jsonl:{line}: " in output
    over = {o["line"]: o["tokens"] for o in manifest["tokens"]["over_limit"]}
    assert manifest["length"]["flagged_tokens_over"] == sum(t - LIMIT for t in over.values())


def test_drop_rejects_with_rule_and_stage(data, tmp_path):
    out = tmp_path / "o"
    manifest, _ = _run(data, out, "drop")
    _conserved(manifest)
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert sorted(r["line"] for r in rejected) == [1, 5, 9, 13]
    assert {(r["stage"], r["rule"]) for r in rejected} == {("count", "length.over_limit")}
    assert all(r["tokens"] > LIMIT and "over the 120-token limit" in r["message"] for r in rejected)
    assert manifest["stages"]["count"]["rejected"] == 4
    assert manifest["length"]["dropped_rows"] == 4
    assert manifest["length"]["dropped_tokens"] == sum(r["tokens"] for r in rejected)
    assert all(r["n_tokens"] <= LIMIT for r in _kept(out))


def test_truncate_keeps_the_start_and_records_it(data, tmp_path):
    out = tmp_path / "o"
    manifest, output = _run(data, out, "truncate")
    _conserved(manifest)
    kept = {r["line"]: r for r in _kept(out)}
    counter = Counter("o200k_base")
    for line in (1, 5, 9):
        row = kept[line]
        meta = json.loads(row["meta"])
        assert meta["truncated_from"] > LIMIT >= row["n_tokens"] > LIMIT - 10
        answer = row["messages"][-1]["content"]
        original = _rows()[line - 1]["messages"][-1]["content"]
        assert original.startswith(answer) and len(answer) < len(original)
        assert row["n_tokens"] == counter.messages(row["messages"])[0]
    # line 13: cutting it leaves no assistant turn, so it is rejected, not kept broken
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert [(r["line"], r["rule"]) for r in rejected] == [(13, "length.no_trained_tokens")]
    assert "holds no trained token" in rejected[0]["message"]
    length = manifest["length"]
    assert (length["truncated_rows"], length["dropped_rows"]) == (3, 1)
    removed = sum(
        json.loads(kept[n]["meta"])["truncated_from"] - kept[n]["n_tokens"] for n in (1, 5, 9)
    )
    assert length["truncated_tokens_removed"] == removed
    assert "truncated 3" in output
    train = (out / "train.jsonl").read_text() + (out / "validation.jsonl").read_text()
    assert "truncated_from" not in train  # the upload file carries no bookkeeping


def test_policy_from_config_file_and_bad_policy(data, tmp_path):
    cfg = tmp_path / "ftprep.toml"
    cfg.write_text(f'[run]\nlength_policy = "drop"\nmax_tokens = {LIMIT}\n')
    result = CliRunner().invoke(
        cli, ["run", str(data), "--config", str(cfg), "--out", str(tmp_path / "o")]
    )
    _assert_done(result, tmp_path / "o")
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["length"]["dropped_rows"] == 4
    cfg.write_text('[run]\nlength_policy = "shorten"\n')
    result = CliRunner().invoke(
        cli, ["run", str(data), "--config", str(cfg), "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 2
    assert "unknown length policy 'shorten': choose one of flag, drop, truncate" in result.output
    assert set(POLICIES) == {"flag", "drop", "truncate"}


words = st.text(alphabet="abc xyz.", min_size=0, max_size=300)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["user", "assistant"]), words), min_size=1, max_size=6),
    st.integers(8, 200),
)
def test_truncation_fits_and_is_a_prefix(turns, limit):
    counter = Counter("cl100k_base")
    messages = [{"role": r, "content": c} for r, c in turns]
    kept = truncate_messages(counter, messages, None, limit)
    if kept is None:
        return
    assert counter.messages(kept, None)[0] <= limit
    assert kept[:-1] == messages[: len(kept) - 1]
    assert messages[len(kept) - 1]["content"].startswith(kept[-1]["content"])
