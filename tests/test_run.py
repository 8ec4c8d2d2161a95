"""The run command end to end: conservation, determinism, stability, round trip, bad input, exits."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.artifacts import ARTIFACTS
from pipeline.cli import cli
from tests.conftest import SHARED_DATA, chat, many_chats, needs_shared_data, write_jsonl


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def assert_conserved(out: Path) -> None:
    """Every input record is in exactly one of train, validation, rejected, duplicates."""
    m = manifest(out)
    for entry in m["inputs"]:
        assert (
            entry["records"]
            == entry["train"] + entry["validation"] + entry["rejected"] + entry["duplicates"]
        ), entry
    for split in ("train", "validation"):  # an upload file with no example is not written
        assert (out / f"{split}.jsonl").exists() == bool(m["counts"][split]), split
    rows = {
        "train": read_jsonl(out / "train.jsonl") if m["counts"]["train"] else [],
        "validation": read_jsonl(out / "validation.jsonl") if m["counts"]["validation"] else [],
        "rejected": read_jsonl(out / "rejected.jsonl"),
        "duplicates": read_jsonl(out / "duplicates.jsonl"),
    }
    assert len(rows["train"]) == m["counts"]["train"]
    assert len(rows["validation"]) == m["counts"]["validation"]
    assert len(rows["rejected"]) == m["counts"]["rejected"]
    assert len(rows["duplicates"]) == m["counts"]["duplicates"]
    assert m["counts"]["records"] == sum(len(v) for v in rows.values())
    import pyarrow.parquet as pq

    where = set()
    for split in ("train", "validation"):
        table = pq.read_table(out / f"{split}.parquet")
        assert table.num_rows == m["counts"][split]
        where |= {
            (s, line)
            for s, line in zip(table["source"].to_pylist(), table["line"].to_pylist(), strict=True)
        }
    where_dropped = [(r["source"], r["line"]) for r in rows["rejected"] + rows["duplicates"]]
    assert len(where_dropped) == len(set(where_dropped))
    assert not where & set(where_dropped), "a record is both kept and dropped"


@pytest.fixture
def mixed_input(tmp_path: Path) -> Path:
    """Chat lines with every kind of defect the run must survive."""
    records = many_chats(30)
    path = tmp_path / "in.jsonl"
    lines = [json.dumps(r) for r in records]
    lines.insert(3, '{"messages": [{"role": "user", "content": "cut off')  # invalid JSON
    lines.insert(5, "[1, 2, 3]")  # not an object
    lines.insert(7, json.dumps(records[0]))  # exact copy
    lines.insert(9, json.dumps({"colour": "red", "size": 3}))  # unknown shape
    lines.insert(11, json.dumps(chat("hi", "")))  # empty reply
    raw = ("\n".join(lines) + "\n").encode() + b'{"messages": "\xff\xfe"}\n'  # invalid UTF-8
    path.write_bytes(raw)
    return path


def test_run_reports_every_record(mixed_input: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run_cli("run", str(mixed_input), "--out", str(out), "--seed", "3")
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == sorted(ARTIFACTS)
    assert_conserved(out)
    m = manifest(out)
    assert m["counts"] == {
        "records": 36,
        "train": m["counts"]["train"],
        "validation": m["counts"]["validation"],
        "rejected": 5,
        "duplicates": 1,
    }
    assert m["counts"]["train"] + m["counts"]["validation"] == 30
    rules = {r["rule"]: r for r in read_jsonl(out / "rejected.jsonl")}
    assert set(rules) == {
        "ingest.invalid_json",
        "ingest.invalid_utf8",
        "convert.not_object",
        "convert.unknown_shape",
        "openai.content.empty",
    }
    assert rules["ingest.invalid_json"]["line"] == 4
    assert rules["convert.not_object"]["line"] == 6
    assert rules["openai.content.empty"]["stage"] == "validate"
    assert rules["openai.content.empty"]["pointer"] == "/messages/1/content"
    assert all(r["source"] == str(mixed_input) for r in rules.values())
    dup = read_jsonl(out / "duplicates.jsonl")[0]
    assert (dup["line"], dup["duplicate_of_line"]) == (8, 1)
    assert "rejected by rule:" in output and "ingest.invalid_json" in output


def test_two_runs_give_identical_bytes(mixed_input: Path, tmp_path: Path) -> None:
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert run_cli("run", str(mixed_input), "--out", str(out))[0] == 0
    for name in ARTIFACTS:
        if name == "manifest.json":
            a, b = (json.loads((o / name).read_text()) for o in outs)
            for m in (a, b):  # the folders differ, and so does the run key that names them
                del m["config"]["out"], m["run_key"]
            assert a == b
        else:
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_parallel_run_matches_inline_run(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(700))
    for workers, out in (("1", "one"), ("2", "two")):
        assert run_cli("run", str(data), "--out", str(tmp_path / out), "--workers", workers)[0] == 0
    for name in ("train.jsonl", "validation.jsonl", "train.parquet", "duplicates.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_batch_size_leaves_no_trace_in_the_artifacts(tmp_path: Path) -> None:
    """Parquet row groups are written from contiguous columns, so the bytes do not depend on how
    the rows came in batches (nor, by the same token, on the engine). The texts are long enough
    to outgrow Parquet's dictionary page, whose fallback point otherwise moved with the batches."""
    from pipeline.config import RunConfig
    from pipeline.engines.embedded import run

    chats = many_chats(2600)
    for c in chats:
        c["messages"][1]["content"] *= 4
    lines = [json.dumps(c) for c in chats]
    lines[5:5] = ["{broken"] * 3  # batches of uneven sizes
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(lines) + "\n")
    for size in (7, 256):
        run(RunConfig(inputs=[data], out=tmp_path / str(size), batch_size=size, use_cache=False))
    for name in ARTIFACTS[:-1]:
        assert (tmp_path / "7" / name).read_bytes() == (tmp_path / "256" / name).read_bytes(), name


def test_parquet_dictionary_encodes_repeated_values_only(tmp_path: Path) -> None:
    """Roles and splits repeat: dictionary-encoded. Ids and message text are unique: plain, with
    no dictionary built and abandoned."""
    import pyarrow.parquet as pq

    from pipeline.config import RunConfig
    from pipeline.engines.embedded import run

    data = write_jsonl(tmp_path / "in.jsonl", many_chats(50))
    run(RunConfig(inputs=[data], out=tmp_path / "out", use_cache=False))
    group = pq.ParquetFile(tmp_path / "out" / "train.parquet").metadata.row_group(0)
    encodings = {
        group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)
    }
    for dictionary in ("messages.list.element.role", "split", "source"):
        assert "RLE_DICTIONARY" in encodings[dictionary], dictionary
    for plain in ("id", "messages.list.element.content", "text"):
        assert "RLE_DICTIONARY" not in encodings[plain], plain


def split_ids(out: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    ids = {}
    for split in ("train", "validation"):
        for i in pq.read_table(out / f"{split}.parquet")["id"].to_pylist():
            ids[i] = split
    return ids


def test_appending_records_never_moves_a_split(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", many_chats(200))
    more = write_jsonl(tmp_path / "more.jsonl", many_chats(200) + many_chats(300, start=200))
    assert run_cli("run", str(first), "--out", str(tmp_path / "a"), "--val-ratio", "0.2")[0] == 0
    assert run_cli("run", str(more), "--out", str(tmp_path / "b"), "--val-ratio", "0.2")[0] == 0
    before, after = split_ids(tmp_path / "a"), split_ids(tmp_path / "b")
    assert len(before) == 200 and len(after) == 500
    assert all(after[i] == s for i, s in before.items())
    assert 0 < list(before.values()).count("validation") < 200


def test_val_size_gives_an_exact_count(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(50))
    assert run_cli("run", str(data), "--out", str(tmp_path / "o"), "--val-size", "7")[0] == 0
    assert manifest(tmp_path / "o")["counts"]["validation"] == 7


def test_small_data_still_gets_a_validation_example(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(3))
    args = ["run", str(data), "--val-ratio", "0.01", "--profile", "trl-sft"]
    assert run_cli(*args, "--out", str(tmp_path / "o"))[0] == 0
    assert manifest(tmp_path / "o")["counts"]["validation"] == 1


def test_train_keeps_the_providers_minimum(tmp_path: Path) -> None:
    """OpenAI needs 10 training examples: with 12, validation takes at most 2 (whatever is
    asked), with 10 none, and validation.jsonl is then not written (an empty file is refused)."""
    for n, val_size, validation in ((12, 5, 2), (10, 1, 0)):
        data = write_jsonl(tmp_path / f"in{n}.jsonl", many_chats(n))
        out = tmp_path / f"o{n}"
        code, output = run_cli("run", str(data), "--out", str(out), "--val-size", str(val_size))
        assert code == 0, output
        m = manifest(out)
        assert (m["counts"]["train"], m["counts"]["validation"]) == (n - validation, validation)
        assert m["split"]["target"] == validation and m["split"]["min_train"] == 10
        assert (out / "validation.jsonl").exists() == bool(validation)
        if n == 12:
            assert (
                "note: validation holds 2 cluster(s), not the 5 that --val-size 5 asks of 12: "
                "train keeps at least 10 for openai-chat" in output
            )
    assert (
        "note: validation.jsonl was not written: the 10 kept example(s) all went to train, "
        "which needs at least 10 for openai-chat" in output
    )


def test_no_train_file_is_exit_1_saying_why(tmp_path: Path) -> None:
    rows = [{"Title": f"q{i}?", "Tag": f"a{i}."} for i in range(20)]  # no shape, even by name
    data = tmp_path / "qa.csv"
    data.write_text("Title,Tag\n" + "".join(f"{r['Title']},{r['Tag']}\n" for r in rows))
    code, output = run_cli("run", str(data), "--out", str(tmp_path / "o"))
    assert code == 1
    assert (
        "FAILED    train.jsonl: no example was kept for training, so train.jsonl was not "
        "written: of 20 record(s), 20 were rejected (most often convert.unknown_shape 20)" in output
    )
    assert not (tmp_path / "o" / "train.jsonl").exists()
    assert_conserved(tmp_path / "o")


def test_written_files_pass_validate(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(150))
    out = tmp_path / "o"
    assert run_cli("run", str(data), "--out", str(out))[0] == 0
    code, output = run_cli("validate", str(out / "train.jsonl"), "--profile", "openai-chat")
    assert code == 0, output
    assert manifest(out)["counts"]["validation"] >= 10
    code, output = run_cli("validate", str(out / "validation.jsonl"), "--profile", "openai-chat")
    assert code == 0, output


@pytest.mark.parametrize(
    "name, content",
    [
        ("binary.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"),
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n\n  \n"),
        ("odd.json", b'{"nothing": "known"}'),
        ("trunc.jsonl.gz", gzip.compress(b'{"prompt": "a", "completion": "b"}\n' * 50)[:-30]),
        ("surrogate.json", b'[{"instruction": "say \\ud800", "output": "b"}]'),
        (
            "deep.jsonl",
            b'{"messages": [{"role": "user", "content": "x", "x": '
            + b"[" * 900
            + b"1"
            + b"]" * 900
            + b"}]}\n",
        ),
    ],
)
def test_hostile_files_never_crash(tmp_path: Path, name: str, content: bytes) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    good = write_jsonl(tmp_path / "good.jsonl", many_chats(12))
    out = tmp_path / "o"
    code, output = run_cli("run", str(bad), str(good), "--out", str(out))
    assert code == 0, output
    assert_conserved(out)
    assert manifest(out)["counts"]["train"] + manifest(out)["counts"]["validation"] >= 12


def test_missing_input_is_exit_2_without_artifacts(tmp_path: Path) -> None:
    out = tmp_path / "o"
    code, output = run_cli("run", str(tmp_path / "nope.jsonl"), "--out", str(out))
    assert (code, output) == (2, f"Error: input {tmp_path / 'nope.jsonl'} does not exist\n")
    assert not out.exists()


def test_an_empty_path_is_exit_2_not_the_current_folder(tmp_path: Path) -> None:
    """An unset shell variable (``ftprep run "$DATA"``) must not read the whole current folder."""
    out = tmp_path / "o"
    code, output = run_cli("run", "", "--out", str(out))
    assert code == 2
    assert output.endswith(
        "Error: Invalid value for '[INPUTS]...': is empty: name a file or folder\n"
    )
    assert not out.exists()
    code, output = run_cli("validate", "")
    assert code == 2
    assert output.endswith(
        "Error: Invalid value for '[FILES]...': is empty: name a file or folder\n"
    )
    config = tmp_path / "ftprep.toml"
    config.write_text('[run]\ninputs = [""]\n')
    code, output = run_cli("run", "--config", str(config), "--out", str(out))
    assert (code, output) == (
        2,
        f"Error: {config}: run.inputs needs non-empty path strings, got ''\n",
    )


def test_unknown_profile_is_exit_2_without_artifacts(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(3))
    out = tmp_path / "o"
    code, output = run_cli("run", str(data), "--out", str(out), "--profile", "nope")
    assert code == 2
    assert output.startswith("Error: unknown profile 'nope': choose one of ")
    assert output.count("\n") == 1
    assert not out.exists()


def test_max_rejected_share_fails_the_run_but_keeps_artifacts(
    mixed_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    result = CliRunner().invoke(
        cli, ["run", str(mixed_input), "--out", str(out), "--max-rejected-share", "0.05"]
    )
    assert result.exit_code == 1
    assert "13.9% of records were rejected, over --max-rejected-share 5.0%" in result.output
    assert (out / "manifest.json").exists()
    assert (
        run_cli("run", str(mixed_input), "--out", str(out), "--max-rejected-share", "0.2")[0] == 0
    )


def test_config_file_runs_like_the_command_line(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "raw.jsonl", [{"instruction": f"Say {i}", "output": f"{i}!"} for i in range(20)]
    )
    (tmp_path / "ftprep.toml").write_text(
        '[run]\ninputs = ["raw.jsonl"]\nout = "out"\nval_size = 2\nsystem_prompt = "Be brief."\n'
    )
    code, output = run_cli("run", "--config", str(tmp_path / "ftprep.toml"))
    assert code == 0, output
    train = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert len(train) == 18
    assert train[0]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_bad_config_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[run]\nval_ratio = 'lots'\n")
    code, output = run_cli("run", "--config", str(tmp_path / "c.toml"))
    assert code == 2
    assert "run.val_ratio has the wrong type" in output


def test_interrupted_run_leaves_previous_artifacts(tmp_path: Path, monkeypatch) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(20))
    out = tmp_path / "o"
    assert run_cli("run", str(data), "--out", str(out))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import pipeline.engines.embedded as engine
    import pipeline.engines.tally as tally

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tally, "write_splits", boom)
    with pytest.raises(KeyboardInterrupt):
        engine.run(engine.RunConfig(inputs=[data], out=out, seed=1))  # a new run, not up to date
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


REAL_FILES = (
    sorted(p for p in SHARED_DATA.rglob("*") if p.is_file() and p.name != "PROVENANCE.md")
    if SHARED_DATA.is_dir()
    else []
)


@needs_shared_data
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_file_is_conserved(path: Path, tmp_path: Path) -> None:
    """Every record accounted for; the exit code is the verdict on the written files (exit 1
    when the provider would refuse them, e.g. too few examples for OpenAI's minimum)."""
    out = tmp_path / "o"
    code, output = run_cli("run", str(path), "--out", str(out))
    assert code in (0, 1), output
    assert_conserved(out)
    assert (code == 0) == manifest(out)["verdict"]["ok"], output


def test_azure_files_are_written_with_the_bom_azure_expects(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(40))
    out = tmp_path / "o"
    assert run_cli("run", str(data), "--out", str(out), "--profile", "azure-openai-chat")[0] == 0
    assert (out / "train.jsonl").read_bytes().startswith(b"\xef\xbb\xbf{")
    code, output = run_cli(
        "validate", str(out / "train.jsonl"), "--profile", "azure-openai-chat", "--strict"
    )
    assert code == 0, output


def assert_one_internal_error(tmp_path: Path, records: list, line: int, error: str) -> None:
    """A run over ``records`` succeeds, with one rejection: ``internal.error`` at ``line``, its
    message naming ``error``; every other record is accounted for."""
    data = write_jsonl(tmp_path / "in.jsonl", records)
    code, output = run_cli("run", str(data), "--out", str(tmp_path / "o"), "--workers", "1")
    assert code == 0, output
    rejected = read_jsonl(tmp_path / "o" / "rejected.jsonl")
    assert [(r["line"], r["rule"]) for r in rejected] == [(line, "internal.error")]
    assert error in rejected[0]["message"]
    assert_conserved(tmp_path / "o")


def test_an_unexpected_error_costs_one_record_not_the_run(tmp_path: Path, monkeypatch) -> None:
    from pipeline.stages import convert

    real = convert.convert_record

    def flaky(obj, source, line, *args):
        if line == 3:
            raise ValueError("boom")
        return real(obj, source, line, *args)

    monkeypatch.setattr(convert, "convert_record", flaky)
    assert_one_internal_error(tmp_path, many_chats(12), 3, "ValueError: boom")


def test_validate_reports_a_too_deep_line_and_goes_on(tmp_path: Path) -> None:
    deep = b'{"messages": ' + b"[" * 300 + b"]" * 300 + b"}\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(
        deep
        + b'{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n'
    )
    code, output = run_cli("validate", str(path), "--profile", "openai-chat")
    assert code == 1
    assert f"{path}:1: the record nests lists or objects more than 64 levels deep" in output
    assert "[ingest.too_deep]" in output and "2 records" in output


def test_a_record_that_breaks_the_batch_featuriser_costs_only_itself(
    tmp_path: Path, monkeypatch
) -> None:
    from pipeline.engines import workers

    real = workers.featurise_batch

    def flaky(examples, prompt_only=False):
        if any("poison" in m["content"] for ex in examples for m in ex["messages"]):
            raise ValueError("bad text")
        return real(examples, prompt_only)

    monkeypatch.setattr(workers, "featurise_batch", flaky)
    chats = many_chats(12)
    chats[4]["messages"][-1]["content"] += " poison"
    assert_one_internal_error(tmp_path, chats, 5, "ValueError: bad text")


def test_batches_made_only_of_exact_copies(tmp_path: Path) -> None:
    """Exact copies stay in the spill, marked; a batch of nothing else writes nothing, and the
    rows after it still line up with their near-duplicate features and splits."""
    from pipeline.config import RunConfig
    from pipeline.engines.embedded import run

    originals = many_chats(6)
    records = originals[:2] + originals[:2] + originals[2:4] + originals[2:4] + originals[4:]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    run(RunConfig(inputs=[src], out=out, batch_size=2, workers=1, use_cache=False))
    assert_conserved(out)
    copies = {(d["line"], d["duplicate_of_line"]) for d in read_jsonl(out / "duplicates.jsonl")}
    assert copies == {(3, 1), (4, 2), (7, 5), (8, 6)}
    kept = [
        r
        for s in ("train", "validation")
        if (out / f"{s}.jsonl").exists()
        for r in read_jsonl(out / f"{s}.jsonl")
    ]
    assert sorted(json.dumps(r, sort_keys=True) for r in kept) == sorted(
        json.dumps(r, sort_keys=True) for r in originals
    )
    import pyarrow.parquet as pq

    lines = sorted(
        line
        for s in ("train", "validation")
        for line in pq.read_table(out / f"{s}.parquet")["line"].to_pylist()
    )
    assert lines == [1, 2, 5, 6, 9, 10]


def test_run_refuses_an_out_folder_it_would_destroy(tmp_path: Path) -> None:
    """The output folder is replaced whole, so a run refuses (exit 2, nothing touched) an --out
    that is an input, holds one, lies in an input folder, or holds files of the user's own."""
    raw = tmp_path / "raw"
    raw.mkdir()
    data = write_jsonl(raw / "data.jsonl", many_chats(5))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    mine = tmp_path / "mine"
    (tmp_path / "named").mkdir()
    (tmp_path / "named" / "train.jsonl").write_text("mine, named like an output\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is needed")
    cases = [
        (data, data, f"Error: --out {data} overlaps the input {data}"),
        (data, raw, f"Error: --out {raw} overlaps the input {data}"),
        (raw, raw / "out", f"Error: --out {raw / 'out'} overlaps the input {raw}"),
        (data, mine, f"Error: --out {mine} holds files that are not a previous run's (notes.txt)"),
        (data, tmp_path / "named", f"Error: --out {tmp_path / 'named'} holds files that are not a"),
        (data, blocker / "out", f"Error: --out {blocker / 'out'}: {blocker} is a file; give a"),
    ]
    for given, out, message in cases:
        code, output = run_cli("run", str(given), "--out", str(out), "--quiet")
        assert code == 2 and output.startswith(message), (out, output)
    assert data.read_text().count("\n") == 5
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "named" / "train.jsonl").read_text() == "mine, named like an output\n"
    out = tmp_path / "out"
    args = ["run", str(data), "--out", str(out), "--quiet", "--profile", "trl-sft"]
    assert run_cli(*args)[0] == 0
    (out / "quality").mkdir()  # what `ftprep gate` adds: a re-run may replace it
    assert run_cli(*args)[0] == 0


def test_console_script_turns_io_errors_and_bugs_into_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = write_jsonl(tmp_path / "data.jsonl", many_chats(3))
    command = [sys.executable, "-m", "pipeline", "run", str(data), "--quiet", "--workers", "1"]
    done = subprocess.run(  # a folder that cannot be made, even by root
        [*command, "--out", "/proc/ftprep-test/out"], capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (
        2,
        "Error: --out /proc/ftprep-test/out: No such file or directory (/proc/ftprep-test): "
        "ftprep writes the run beside --out, then renames it into place; give --out a folder "
        "whose parent you can write to\n",
    )
    bug = (
        "import sys, pipeline.engines.tally as e\n"
        "def broken(*a, **k): raise KeyError('boom')\n"
        "e.write_splits = broken\n"
        "from pipeline.cli import main\n"
        "sys.argv = ['ftprep', *sys.argv[1:]]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", bug, "run", str(data), "--out", str(tmp_path / "o"), "--quiet"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("Error: ftprep stopped on an internal error (KeyError: 'boom')")
    assert "Traceback" not in done.stderr


def test_run_refuses_an_input_given_twice_and_settings_out_of_range(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", many_chats(3))
    (tmp_path / "sub").mkdir()
    out = str(tmp_path / "o")
    for args, message in [
        ((str(data), str(data)), f"Error: input {data} is given twice: give each once"),
        ((str(tmp_path), str(data)), f"Error: input {data} is given twice: give each once"),
        (
            (str(data), f"{tmp_path}/sub/../data.jsonl"),
            f"Error: input {tmp_path}/sub/../data.jsonl is given twice (also as {data}): give "
            "each once",
        ),
        ((str(data), "--val-ratio", "nan"), "Error: val_ratio must be a share in [0, 1), not nan"),
        (
            (str(data), "--seed", str(2**64)),
            f"Error: seed must be an integer of 64 bits, not {2**64}",
        ),
        (
            (str(data), "--max-rejected-share", "nan"),
            "Error: max_rejected_share must be a share in [0, 1], not nan",
        ),
    ]:
        code, output = run_cli("run", *args, "--out", out, "--quiet")
        assert (code, output) == (2, message + "\n"), args
    config = tmp_path / "ftprep.toml"
    config.write_text(
        f'[run]\ninputs = ["{data.name}"]\nout = "o"\nval_ratio = 5\nworkers = 0\nmax_tokens = -3\n'
    )
    code, output = run_cli("run", "--config", str(config), "--quiet")
    assert code == 2 and output == (
        "Error: val_ratio must be a share in [0, 1), not 5; workers must be 1 to 1024 processes, "
        "not 0; max_tokens must be a positive token count, not -3\n"
    )
    assert not (tmp_path / "o").exists()


def test_files_a_folder_holds_but_no_reader_takes_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    write_jsonl(folder / "chats.jsonl", many_chats(12))
    write_jsonl(folder / "more.txt", many_chats(3, start=100))
    (folder / ".DS_Store").write_bytes(b"\0")
    code, out = run_cli("run", str(folder), "--out", str(tmp_path / "out"), "--no-cache")
    assert code == 0
    note = (
        f"  note: skipped 1 file(s) in input folders whose extension is not JSONL, JSON, CSV or "
        f"Parquet: {folder}/more.txt (name a file to read it as it is)"
    )
    assert note in out.splitlines()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["skipped_files"] == [f"{folder}/more.txt"]
    assert manifest["counts"]["records"] == 12
    code, out = run_cli(
        "run", str(folder), str(folder / "more.txt"), "--out", str(tmp_path / "out"), "--no-cache"
    )
    assert code == 0
    assert "skipped" not in out  # given by name: read, so not skipped
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["records"] == 15
    assert manifest["skipped_files"] == []


def test_a_failed_run_leaves_no_partial_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.engines import embedded as engine

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(engine.Tally, "split_and_write", fail)
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(12))
    config = engine.RunConfig(inputs=[data], out=tmp_path / "out", workers=1, use_cache=False)
    with pytest.raises(RuntimeError, match="disk full"):
        engine.run(config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_written_files_are_checked_with_the_profiles_whole_file_rules(tmp_path: Path) -> None:
    """Together takes one format per file: a run mixing chat and preference records says its
    files would be refused, at the lines `ftprep validate` names."""
    preference = {
        "input": {"messages": [{"role": "user", "content": "Which boots?"}]},
        "preferred_output": [{"role": "assistant", "content": "The leather ones."}],
        "non_preferred_output": [{"role": "assistant", "content": "Any."}],
    }
    chats = write_jsonl(tmp_path / "chats.jsonl", many_chats(12))
    prefs = write_jsonl(tmp_path / "prefs.jsonl", [preference])
    out = tmp_path / "out"
    code, output = run_cli(
        "run", str(chats), str(prefs), "--out", str(out), "--profile", "together"
    )
    assert code == 1, output  # the provider would refuse the files: the verdict fails
    assert "verdict   FAILED" in output
    found = manifest(out)["file_findings"]
    assert found["count"] == 1
    (finding,) = found["first"]
    assert finding["rule"] == "together.format.mixed"
    assert "  warning: the written files break together's whole-file rules in 1 place(s)" in output
    split_file = out / finding["path"]
    code, report = run_cli("validate", str(split_file), "--profile", "together")
    assert f"{split_file}:{finding['line']}: {finding['message']} [together.format.mixed]" in report
    code, output = run_cli(
        "run", str(chats), "--out", str(tmp_path / "plain"), "--profile", "together"
    )
    assert manifest(tmp_path / "plain")["file_findings"] == {"count": 0, "first": []}
    assert "whole-file rules" not in output


def test_an_empty_reply_is_rejected_whatever_the_profile(tmp_path: Path) -> None:
    """The gate fails an assistant reply with no text; run rejects it for every profile (here
    trl-dpo, whose own rules accept an empty chosen reply), naming the side and what to do."""
    pairs = [{"prompt": f"Q{i}?", "chosen": f"A{i}.", "rejected": f"No{i}."} for i in range(20)]
    pairs[4]["chosen"] = ""
    pairs[9]["rejected"] = "   "
    data = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    code, output = run_cli("run", str(data), "--out", str(tmp_path / "o"), "--profile", "trl-dpo")
    assert code == 0, output
    rejected = {r["line"]: r for r in read_jsonl(tmp_path / "o" / "rejected.jsonl")}
    assert sorted(rejected) == [5, 10]
    assert {r["rule"] for r in rejected.values()} == {"example.assistant.empty"}
    assert rejected[5]["message"].startswith("the chosen reply is empty or only whitespace")
    assert rejected[10]["pointer"] == "/rejected/0/content"
    assert_conserved(tmp_path / "o")
