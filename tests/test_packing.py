"""The packing estimate against TRL's own ``pack_dataset`` (the fetched wheel's data_utils.py),
on real token counts and on generated ones."""

from __future__ import annotations

import importlib.util
import json
import random

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import cli
from pipeline.stages.packing import PackingEstimate, pack_block
from tests.chat_models import CACHE
from tests.conftest import SHARED_DATA, needs_shared_data


def _trl():
    path = CACHE / "trl" / "data_utils.py"
    if not path.is_file():
        pytest.skip(f"{path} is missing (PyPI trl wheel); run `make tokenizers`")
    pytest.importorskip("transformers")
    spec = importlib.util.spec_from_file_location("trl_data_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _trl_sequences(lengths: list[int], seq_len: int) -> int:
    from datasets import Dataset

    data = Dataset.from_dict({"input_ids": [[1] * n for n in lengths]})
    return len(_trl().pack_dataset(data, seq_len, strategy="bfd"))


@pytest.mark.parametrize("seed, seq_len", [(0, 512), (1, 2048), (2, 100)])
def test_sequences_equal_trl_pack_dataset(seed, seq_len):
    rng = random.Random(seed)
    lengths = [rng.choice([rng.randint(1, 300), rng.randint(1, 3000)]) for _ in range(2500)]
    estimate = PackingEstimate(seq_len)
    for n in lengths:
        estimate.add(n)
    assert estimate.result()["sequences"] == _trl_sequences(lengths, seq_len)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=60), st.integers(1, 60))
def test_packing_holds_every_token_and_never_overfills(lengths, seq_len):
    made = pack_block([min(n, seq_len) for n in lengths], seq_len)
    kept = sum(min(n, seq_len) for n in lengths)
    assert made * seq_len >= kept
    assert made <= sum(1 for n in lengths if n > 0)
    assert (made == 0) == (kept == 0)


@needs_shared_data
def test_count_reports_packing_on_a_real_file(tmp_path):
    out = tmp_path / "out"
    data = SHARED_DATA / "mlx_examples" / "wwdc25_train.jsonl"
    assert (
        CliRunner().invoke(cli, ["run", str(data), "--out", str(out), "--no-cache"]).exit_code == 0
    )
    result = CliRunner().invoke(
        cli,
        [
            "count",
            str(out / "train.jsonl"),
            "--model",
            "gpt-4o-mini",
            "--max-seq-len",
            "512",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    packing = json.loads(result.output)["packing"]
    lengths = json.loads(
        CliRunner()
        .invoke(
            cli, ["count", str(out / "train.jsonl"), "--model", "gpt-4o-mini", "--format", "json"]
        )
        .output
    )
    assert packing["examples"] == lengths["examples"]
    assert 0 < packing["sequences"] < packing["examples"]
    assert packing["truncated_tokens"] == 0 and packing["packed_fill"] > 0.9


def test_run_estimates_packing_per_split_as_count_does(tmp_path):
    """``run --max-seq-len`` puts each split's estimate in the manifest and the summary; it is
    the one ``count --max-seq-len`` gives for the split's file, and its sequences are TRL's."""
    import pyarrow.parquet as pq

    from tests.conftest import many_chats, write_jsonl

    src = tmp_path / "in.jsonl"
    write_jsonl(src, many_chats(300))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["run", str(src), "--out", str(out), "--max-seq-len", "256"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "  packing   train: at 256 tokens: " in result.output
    assert "  packing   validation: at 256 tokens: " in result.output
    written = json.loads((out / "manifest.json").read_text())
    packing, model = written["packing"], written["model"]
    for split in ("train", "validation"):
        file = str(out / f"{split}.jsonl")
        counted = CliRunner().invoke(
            cli,
            ["count", file, "--model", model, "--max-seq-len", "256", "--format", "json"],
            catch_exceptions=False,
        )
        assert json.loads(counted.stdout)["packing"] == packing[split]
    lengths = pq.read_table(out / "train.parquet", columns=["n_tokens"]).column(0).to_pylist()
    assert packing["train"]["examples"] == len(lengths) == 270
    assert packing["train"]["sequences"] == _trl_sequences(lengths, 256)
