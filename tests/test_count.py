"""`ftprep count`: exact output, epochs heuristic, billing cap, prices and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.commands.count import default_epochs, distribution
from pipeline.profiles.prices import PRICES, training_price
from pipeline.stages.tokens import get_encoding

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _n(enc, s: str) -> int:
    return len(enc.encode(s))


def _file(tmp_path: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Say hi"},
                {"role": "assistant", "content": "Hi!"},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Count to three"},
                {"role": "assistant", "content": "One, two, three."},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "x " * 300},
                {"role": "assistant", "content": "ok"},
            ]
        },
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    return path


def test_epochs_heuristic():
    assert default_epochs(5) == 20  # 100 // 5
    assert default_epochs(3) == 25  # capped at 25
    assert default_epochs(34) == 3  # 102 example-epochs: the target
    assert default_epochs(100) == 3
    assert default_epochs(8_334) == 2  # 25,000 // 8,334
    assert default_epochs(30_000) == 1


def test_distribution_uses_linear_quantiles():
    assert distribution([10, 20, 30, 40, 50]) == {
        "min": 10,
        "p5": 12.0,
        "p50": 30.0,
        "p95": 48.0,
        "max": 50,
        "mean": 30.0,
    }


def test_count_json_exact(tmp_path):
    path = _file(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["count", str(path), "--model", "gpt-4o-mini", "--max-tokens", "100", "--format", "json"],
    )
    assert result.exit_code == 1, result.output  # the file's broken line was not counted
    enc = get_encoding("o200k_base")
    sizes = [
        3 + (3 + 1 + _n(enc, "Say hi")) + (3 + 1 + _n(enc, "Hi!")),
        3
        + (3 + 1 + _n(enc, "Be brief."))
        + (3 + 1 + _n(enc, "Count to three"))
        + (3 + 1 + _n(enc, "One, two, three.")),
        3 + (3 + 1 + _n(enc, "x " * 300)) + (3 + 1 + _n(enc, "ok")),
    ]
    trained = _n(enc, "Hi!") + _n(enc, "One, two, three.") + _n(enc, "ok")
    billing = sum(min(s, 100) for s in sizes)
    expected = {
        "model": "gpt-4o-mini",
        "encoding": "o200k_base",
        "examples": 3,
        "total_tokens": sum(sizes),
        "trained_tokens": trained,
        "billing_tokens": billing,
        "epochs": 25,
        "estimated_cost_usd": round(billing * 25 * 3.00 / 1e6, 4),
        "over_limit": [{"file": str(path), "line": 3, "tokens": sizes[2]}],
        "distribution": distribution(sizes),
    }
    lines = result.output.split("\n")
    body = "\n".join(line for line in lines if not line.startswith("ftprep count:"))
    assert json.loads(body) == expected
    assert list(json.loads(body)) == list(expected)  # key order as documented


def test_count_text_exact(tmp_path):
    path = _file(tmp_path)
    result = CliRunner().invoke(
        cli,
        [
            "count",
            str(path),
            "--model",
            "gpt-4o-mini-2024-07-18",
            "--epochs",
            "2",
            "--price",
            "10",
            "--max-tokens",
            "100",
        ],
    )
    assert result.exit_code == 1, result.output  # a line could not be read: a data problem
    enc = get_encoding("o200k_base")
    long = 3 + 3 + 1 + _n(enc, "x " * 300) + 3 + 1 + _n(enc, "ok")
    assert result.stdout.splitlines()[0] == "model             gpt-4o-mini-2024-07-18 (o200k_base)"
    assert "examples          3" in result.stdout
    assert "epochs            2 (--epochs)" in result.stdout
    assert f"  {path}:3: {long:,} tokens" in result.stdout
    assert f"  {path}:4: " in result.stdout  # the broken line is listed as skipped
    assert "ftprep count: 1 record(s) could not be read and were not counted" in result.stderr
    billing = int(result.stdout.split("billing tokens    ")[1].split(" ")[0].replace(",", ""))
    assert (
        f"${billing * 2 * 10 / 1e6:,.2f} = {billing:,} x 2 x $10 per 1M (--price)" in result.stdout
    )


def test_prices_have_date_and_source_and_go_through_base_models():
    assert all(p.date and p.source and p.usd_per_1m > 0 for p in PRICES.values())
    assert training_price("ft:gpt-4o-mini-2024-07-18:org::x").usd_per_1m == 3.00
    assert training_price("gpt-4.1-nano").model == "gpt-4.1-nano-2025-04-14"
    assert training_price("gpt-35-turbo-0125") is None  # Azure: no per-token price on record


def test_unknown_price_and_errors(tmp_path):
    path = _file(tmp_path)
    result = CliRunner().invoke(
        cli, ["count", str(path), "--model", "gpt-4-turbo", "--format", "json"]
    )
    assert result.exit_code == 1  # the broken line
    assert json.loads(result.stdout)["estimated_cost_usd"] is None
    result = CliRunner().invoke(cli, ["count", str(path), "--model", "llama-3"])
    assert result.exit_code == 2 and "unknown model 'llama-3'" in result.output
    result = CliRunner().invoke(cli, ["count", str(tmp_path / "nope.jsonl"), "--model", "gpt-4o"])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = CliRunner().invoke(cli, ["count", str(path)])
    assert result.exit_code == 2 and "--model" in result.output


@pytest.mark.skipif(not DATA.is_dir(), reason="shared data sets not present")
def test_count_on_real_file_matches_the_formula():
    path = DATA / "misc_openai_chat" / "pirate_training_set.jsonl"
    result = CliRunner().invoke(
        cli, ["count", str(path), "--model", "gpt-3.5-turbo", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    enc = get_encoding("cl100k_base")
    sizes, trained = [], 0
    for line in path.read_text().splitlines():
        msgs = json.loads(line)["messages"]
        sizes.append(3 + sum(3 + _n(enc, m["role"]) + _n(enc, m["content"]) for m in msgs))
        trained += sum(_n(enc, m["content"]) for m in msgs if m["role"] == "assistant")
    assert (got["examples"], got["total_tokens"], got["trained_tokens"]) == (
        10,
        sum(sizes),
        trained,
    )
    assert got["epochs"] == 10 and got["encoding"] == "cl100k_base"
    assert got["estimated_cost_usd"] == round(sum(sizes) * 10 * 8.0 / 1e6, 4)


def test_count_on_the_worker_pool_equals_count_in_one_process(tmp_path, monkeypatch):
    """Both cores, same numbers; and a file whose first records mislead about its shape is
    counted with the shape of all its records (the plain chats lack the KTO label)."""
    from pipeline.commands.count import count_file
    from pipeline.engines import runner
    from tests.conftest import many_chats, write_jsonl

    plain = [{"messages": c["messages"]} for c in many_chats(300)]
    labelled = [{**c, "label": True} for c in many_chats(700, start=300)]
    path = write_jsonl(tmp_path / "mixed.jsonl", plain + labelled)
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"broken\n')
    inline = count_file(path, model="gpt-4o-mini-2024-07-18").as_dict()
    monkeypatch.setattr(runner, "INLINE_BYTES", 0)  # the pool, even for a small file
    pooled = count_file(path, model="gpt-4o-mini-2024-07-18")
    assert pooled.as_dict() == inline
    assert pooled.examples == 700
    rules = sorted({s["rule"] for s in pooled.skipped})
    assert rules == ["convert.missing_field", "ingest.invalid_json"]
    assert len(pooled.skipped) == 301


def test_count_of_a_run_folder_counts_its_training_file(tmp_path: Path) -> None:
    """A run's folder holds rejected.jsonl and duplicates.jsonl too, which are not training
    examples: count reads train.jsonl alone and says so."""
    from tests.conftest import many_chats, write_jsonl

    data = write_jsonl(tmp_path / "in.jsonl", many_chats(30) + [{"colour": "red"}])
    out = tmp_path / "o"
    assert CliRunner().invoke(cli, ["run", str(data), "--out", str(out)]).exit_code == 0
    result = CliRunner().invoke(cli, ["count", str(out), "--model", "gpt-4o-mini"])
    assert result.exit_code == 0, result.output
    train = json.loads((out / "manifest.json").read_text())["counts"]["train"]
    assert f"examples          {train}" in result.stdout
    assert "is an ftprep run: counting its train.jsonl" in result.stderr
    assert "could not be read" not in result.stderr
