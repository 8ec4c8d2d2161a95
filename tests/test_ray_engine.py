"""--engine ray: the same ids, splits, rejections and duplicates as the embedded engine.

Runs on a local Ray instance with 2 CPUs, started once for the module (starting Ray takes ~10 s).
"""

from __future__ import annotations

import collections
import hashlib
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.artifacts import ARTIFACTS
from pipeline.config import RunConfig
from pipeline.engines.embedded import run as run_embedded
from tests.conftest import chat, write_jsonl
from tests.test_run import assert_conserved, read_jsonl, run_cli

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install '.[ray]'")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")  # Ray's own


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    yield
    if started:
        ray.shutdown()


WORDS = (
    "tent boot jacket stove lamp pack map river trail summit camp fire water filter rope knot "
    "valley ridge forest storm snow rain wind sun shade bridge stream lake canyon meadow cliff "
    "compass route permit ranger cabin shelter blanket sleeping bag pad pole stake zipper seam "
    "wash dry store fold repair patch clean check replace carry pour boil cook eat rest walk climb"
).split()


def chats(n: int, start: int = 0) -> list[dict]:
    """Distinct chats whose texts differ in many words (no accidental near copies)."""
    import random

    out = []
    for i in range(start, start + n):
        rnd = random.Random(i)
        question = " ".join(rnd.choices(WORDS, k=18)) + "?"
        answer = " ".join(rnd.choices(WORDS, k=30)) + "."
        out.append(chat(question, answer))
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    """Two files with defects, exact copies (within and across files, one only after
    whitespace normalisation) and a near copy; the second is a JSON array."""
    folder = tmp_path_factory.mktemp("raw")
    first = chats(300)
    first[10] = chat("Hi", "")  # openai.content.empty
    first[20] = {
        "messages": [{"role": "usr", "content": "x"}, {"role": "assistant", "content": "y"}]
    }
    first.append(first[5])  # exact copy, same file
    copy = json.loads(json.dumps(first[6]))
    copy["messages"][0]["content"] = "  " + copy["messages"][0]["content"].replace(" ", "   ")
    first.append(copy)  # the same id after normalisation
    near = json.loads(json.dumps(first[7]))
    near["messages"][1]["content"] += " Thanks!"
    first.append(near)  # a near copy
    second = chats(150, start=280)  # 20 copies of the first file's records, 18 left after:
    second[3] = {"prompt": "a legacy record in a chat file"}
    second[4] = {"messages": [first[8]["messages"][0], chat("", "another answer")["messages"][1]]}
    a = write_jsonl(folder / "a.jsonl", first)
    with open(a, "a", encoding="utf-8") as f:
        f.write('{"messages": [broken\n')  # ingest.invalid_json
        f.write('"just a string"\n')
    (folder / "b.json").write_text(json.dumps(second, indent=1), encoding="utf-8")
    return [a, folder / "b.json"]


def outcome(out: Path) -> dict:
    """What must match between engines: ids per split, rejections, duplicates."""
    return {
        "splits": {s: _parquet_ids(out / f"{s}.parquet") for s in ("train", "validation")},
        "rejected": {
            (r["source"], r["line"], r["rule"]) for r in read_jsonl(out / "rejected.jsonl")
        },
        "duplicates": {
            (d["source"], d["line"], d["id"], d["duplicate_of"], d.get("kind"))
            for d in read_jsonl(out / "duplicates.jsonl")
        },
    }


def _parquet_ids(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["id"])["id"].to_pylist()


def digests(out: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((out / name).read_bytes()).hexdigest()
        for name in ARTIFACTS
        if name != "manifest.json" and (out / name).exists()  # an empty upload file is not written
    }


def test_ray_run_matches_the_embedded_engine(inputs: list[Path], tmp_path: Path) -> None:
    embedded = run_embedded(RunConfig(inputs=inputs, out=tmp_path / "embedded")).manifest
    code, output = run_cli(
        "run", *map(str, inputs), "--out", str(tmp_path / "ray"), "--engine", "ray"
    )
    assert code == 0, output
    assert_conserved(tmp_path / "ray")
    got, want = outcome(tmp_path / "ray"), outcome(tmp_path / "embedded")
    assert got == want
    kinds = collections.Counter(d[4] for d in want["duplicates"])
    assert kinds["exact"] == 20 and kinds["near"] >= 1  # 18 across files, 2 within; the near copy
    assert {r[2] for r in want["rejected"]} == {
        "openai.content.empty",
        "openai.role.unknown",
        "ingest.invalid_json",
        "convert.not_object",
        "convert.unknown_shape",
    }
    assert digests(tmp_path / "ray") == digests(tmp_path / "embedded")  # byte for byte
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest.pop("engine") == "ray"
    assert manifest["versions"].pop("ray") == ray.__version__
    embedded["config"]["out"] = manifest["config"]["out"]
    embedded.pop("run_key", None)  # the embedded engine's stage cache; Ray runs are not cached
    assert manifest == json.loads(json.dumps(embedded))


def test_prompt_key_stratified_size_split_matches(inputs: list[Path], tmp_path: Path) -> None:
    """The other dedupe key (copies point at the kept copy's id) and the order-dependent split
    (stratified, exact size), in small batches that straddle the file boundary."""
    from pipeline.engines.ray import run as run_ray

    options = dict(
        dedupe_key="prompt", near_dupes="off", stratify_by="source", val_size=37, batch_size=50
    )
    from ray.data.context import DataContext

    before = DataContext.get_current().target_max_block_size
    run_embedded(RunConfig(inputs=inputs, out=tmp_path / "embedded", **options))
    result = run_ray(RunConfig(inputs=inputs, out=tmp_path / "ray", **options))
    assert DataContext.get_current().target_max_block_size == before  # the caller's settings back
    assert result.manifest["engine"] == "ray"
    assert_conserved(tmp_path / "ray")
    got, want = outcome(tmp_path / "ray"), outcome(tmp_path / "embedded")
    assert got == want
    assert len(want["splits"]["validation"]) == 37
    assert any(d[2] != d[3] for d in want["duplicates"])  # prompt copies with other answers
    assert digests(tmp_path / "ray") == digests(tmp_path / "embedded")


@settings(max_examples=5, deadline=None)
@given(st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=60), st.randoms())
def test_first_copies_is_the_minimum_seq_of_each_repeated_key(keys, rnd) -> None:
    import ray.data

    from pipeline.engines.ray import _data_context, first_copies

    rows = [{"seq": i * 3, "key": k, "status": "kept"} for i, k in enumerate(keys)]
    rows.append({"seq": -1, "key": None, "status": "rejected"})
    rnd.shuffle(rows)
    with _data_context():
        got = first_copies(ray, ray.data.from_items(rows, override_num_blocks=3), partitions=2)
    want = {k: keys.index(k) * 3 for k in set(keys) if keys.count(k) > 1}
    assert got == want


def test_without_ray_the_engine_is_a_usage_error(
    inputs: list[Path], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    code, output = run_cli("run", str(inputs[0]), "--out", str(tmp_path / "x"), "--engine", "ray")
    assert code == 2
    assert "pip install 'ftprep[ray]'" in output
    assert not (tmp_path / "x").exists()


def test_an_unreachable_cluster_address_fails_fast() -> None:
    import socket

    from pipeline.engines.ray import _check_reachable

    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError):
        _check_reachable(f"127.0.0.1:{port}", timeout=2)
    _check_reachable("auto")  # left to Ray


def test_a_misleading_first_batch_gets_the_shape_of_the_whole_file(tmp_path: Path) -> None:
    """The first 300 records are plain chats, the other 700 carry a KTO label: the guess from the
    first batch is wrong, both engines run again with the file's shape, and agree byte for byte."""
    from tests.conftest import many_chats

    plain = [{"messages": c["messages"]} for c in many_chats(300)]
    labelled = [{**c, "label": True} for c in many_chats(700, start=300)]
    path = write_jsonl(tmp_path / "mixed.jsonl", plain + labelled)
    from pipeline.engines.ray import run as run_ray

    run_embedded(RunConfig(inputs=[path], out=tmp_path / "embedded", batch_size=100))
    manifest = run_ray(RunConfig(inputs=[path], out=tmp_path / "ray", batch_size=100)).manifest
    assert manifest["inputs"][0]["shape"] == "kto_messages"
    assert manifest["rejected_by_rule"]["convert.missing_field"] == 300
    assert digests(tmp_path / "ray") == digests(tmp_path / "embedded")
