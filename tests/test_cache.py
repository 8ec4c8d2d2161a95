"""Incremental runs: content-keyed stage cache and the up-to-date check never serve stale results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.artifacts import ARTIFACTS
from pipeline.config import RunConfig
from pipeline.engines import cache as cache_module
from pipeline.engines.embedded import run
from tests.conftest import many_chats, write_jsonl


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    a = write_jsonl(tmp_path / "a.jsonl", many_chats(60))
    b = write_jsonl(tmp_path / "b.jsonl", many_chats(60, start=60) + many_chats(3))  # 3 copies of a
    return [a, b]


def artifacts(out: Path) -> dict[str, object]:
    """Every artifact's bytes; the manifest without what names the output folder."""
    found: dict[str, object] = {
        name: (out / name).read_bytes() for name in ARTIFACTS if (out / name).exists()
    }
    manifest = json.loads(found.pop("manifest.json"))
    del manifest["config"]["out"], manifest["run_key"]
    found["manifest.json"] = manifest
    return found


def fresh(inputs: list[Path], out: Path, **settings) -> dict[str, bytes]:
    run(RunConfig(inputs=inputs, out=out, use_cache=False, **settings))
    return artifacts(out)


def test_rerun_with_nothing_changed_reuses_the_folder(inputs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run(RunConfig(inputs=inputs, out=out))
    assert (first.up_to_date, first.cache_hits, first.cache_misses) == (False, 0, 2)
    before = artifacts(out)
    again = run(RunConfig(inputs=inputs, out=out))
    assert again.up_to_date and again.manifest == first.manifest
    assert artifacts(out) == before


def test_a_damaged_output_is_rebuilt_from_the_cache(inputs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(RunConfig(inputs=inputs, out=out))
    before = artifacts(out)
    (out / "train.jsonl").write_text("tampered\n")
    again = run(RunConfig(inputs=inputs, out=out))
    assert not again.up_to_date and again.cache_hits == 2
    assert artifacts(out) == before


def test_an_edited_input_is_recomputed_and_only_it(inputs: list[Path], tmp_path: Path) -> None:
    run(RunConfig(inputs=inputs, out=tmp_path / "first"))
    write_jsonl(inputs[1], many_chats(40, start=200))  # same name, new content
    again = run(RunConfig(inputs=inputs, out=tmp_path / "second"))
    assert (again.cache_hits, again.cache_misses) == (1, 1)
    assert artifacts(tmp_path / "second") == fresh(inputs, tmp_path / "fresh")


def test_global_settings_reuse_every_stage_entry(inputs: list[Path], tmp_path: Path) -> None:
    run(RunConfig(inputs=inputs, out=tmp_path / "first"))
    again = run(RunConfig(inputs=inputs, out=tmp_path / "second", seed=7, near_threshold=0.9))
    assert (again.cache_hits, again.cache_misses) == (2, 0)
    assert artifacts(tmp_path / "second") == fresh(
        inputs, tmp_path / "fresh", seed=7, near_threshold=0.9
    )


def test_entries_keep_their_rows_where_files_cannot_be_linked(
    inputs: list[Path], tmp_path: Path, monkeypatch
) -> None:
    """Rows files go between a run's staging folder and the cache as hard links, or as copies
    where links cannot be made (another device): a later run gets the same rows either way, and
    no rows file is left in an output folder."""

    def no_links(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    run(RunConfig(inputs=inputs, out=tmp_path / "first"))
    again = run(RunConfig(inputs=inputs, out=tmp_path / "second", seed=7))
    assert again.cache_hits == 2
    assert artifacts(tmp_path / "second") == fresh(inputs, tmp_path / "fresh", seed=7)
    for out in ("first", "second"):
        assert sorted(p.name for p in (tmp_path / out).iterdir()) == sorted(ARTIFACTS)


@pytest.mark.parametrize("damage", ["rows file cut short", "rows file gone", "shape unreadable"])
def test_a_damaged_entry_is_a_miss(inputs: list[Path], tmp_path: Path, damage: str) -> None:
    cache_dir = tmp_path / "cache"
    run(RunConfig(inputs=inputs, out=tmp_path / "first", cache_dir=cache_dir))
    entry = sorted(cache_dir.iterdir())[0]
    rows = sorted(entry.glob("*.arrow"))[0]
    if damage == "rows file cut short":
        rows.write_bytes(rows.read_bytes()[:-10])
    elif damage == "rows file gone":
        rows.unlink()
    else:
        (entry / "shape.pkl").write_bytes(b"not a pickle")
    again = run(RunConfig(inputs=inputs, out=tmp_path / "second", cache_dir=cache_dir, seed=7))
    assert (again.cache_hits, again.cache_misses) == (1, 1)
    assert artifacts(tmp_path / "second") == fresh(inputs, tmp_path / "fresh", seed=7)


def test_stage_settings_and_code_changes_miss(
    inputs: list[Path], tmp_path: Path, monkeypatch
) -> None:
    run(RunConfig(inputs=inputs, out=tmp_path / "first"))
    other = run(RunConfig(inputs=inputs, out=tmp_path / "second", system_prompt="Be brief."))
    assert other.cache_hits == 0
    monkeypatch.setattr(cache_module, "code_version", lambda: "a different ftprep")
    changed = run(RunConfig(inputs=inputs, out=tmp_path / "third"))
    assert changed.cache_hits == 0 and not changed.up_to_date


def test_no_cache_reads_and_writes_nothing(inputs: list[Path], tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    run(RunConfig(inputs=inputs, out=tmp_path / "o", cache_dir=cache_dir, use_cache=False))
    assert not cache_dir.exists()
    run(RunConfig(inputs=inputs, out=tmp_path / "p", cache_dir=cache_dir))
    assert len([p for p in cache_dir.iterdir() if (p / "complete").exists()]) == 2


def test_an_interrupted_run_leaves_no_cache_entry(
    inputs: list[Path], tmp_path: Path, monkeypatch
) -> None:
    import pipeline.engines.tally as tally

    cache_dir = tmp_path / "cache"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tally, "duplicate_record", boom)  # fails while the second input streams
    with pytest.raises(KeyboardInterrupt):
        run(RunConfig(inputs=inputs, out=tmp_path / "o", cache_dir=cache_dir))
    entries = [p for p in cache_dir.iterdir()]
    assert all((p / "complete").exists() for p in entries) and len(entries) == 1


def test_manifest_records_the_run_key(inputs: list[Path], tmp_path: Path) -> None:
    result = run(RunConfig(inputs=inputs, out=tmp_path / "o"))
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["run_key"] == result.manifest["run_key"] and len(manifest["run_key"]) == 64


def test_no_cache_recomputes_even_an_up_to_date_folder(inputs: list[Path], tmp_path: Path) -> None:
    run(RunConfig(inputs=inputs, out=tmp_path / "o"))
    again = run(RunConfig(inputs=inputs, out=tmp_path / "o", use_cache=False))
    assert not again.up_to_date and (again.cache_hits, again.cache_misses) == (0, 2)


def test_a_file_whose_first_records_mislead_gets_the_shape_of_all_its_records(
    tmp_path: Path,
) -> None:
    """The shape is guessed from the first batch; the counts of every record overrule it. Here
    the first 300 records are plain chats and the other 700 carry a KTO label, so the file is
    kto_messages and the plain chats lack its ``label``: the same verdict as deciding first."""
    plain = [{"messages": c["messages"]} for c in many_chats(300)]
    labelled = [{**c, "label": True} for c in many_chats(700, start=300)]
    path = write_jsonl(tmp_path / "mixed.jsonl", plain + labelled)
    cache_dir = tmp_path / "cache"
    outs = []
    for name in ("first", "again"):
        result = run(
            RunConfig(inputs=[path], out=tmp_path / name, cache_dir=cache_dir, batch_size=100)
        )
        outs.append(result)
        entry = result.manifest["inputs"][0]
        assert entry["shape"] == "kto_messages"
        assert result.manifest["rejected_by_rule"]["convert.missing_field"] == 300
    rejected = [
        json.loads(x) for x in (tmp_path / "first" / "rejected.jsonl").read_text().split("\n") if x
    ]
    missing = sorted(r["line"] for r in rejected if r["rule"] == "convert.missing_field")
    assert missing == list(range(1, 301))
    assert (outs[0].cache_misses, outs[1].cache_hits) == (2, 1)  # guessed, redone; then cached
    assert artifacts(tmp_path / "first") == artifacts(tmp_path / "again")
