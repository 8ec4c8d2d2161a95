"""Hostile inputs: values of the wrong type or range, damaged containers, odd file names and
files that are not files. Each bad record is rejected with a message, the others are kept, and
nothing stops the run with a traceback."""

from __future__ import annotations

import gzip
import json
import os
import resource
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from tests.conftest import many_chats, write_jsonl
from tests.test_run import assert_conserved, manifest


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def chat_line(**extra) -> dict:
    return {
        "messages": [
            {"role": "user", "content": "Pack a stove?"},
            {"role": "assistant", "content": "Yes."},
        ],
        **extra,
    }


@pytest.mark.parametrize("profile", ["openai-chat", "together", "trl-sft", "mistral"])
def test_values_of_the_wrong_type_reject_their_record_only(profile: str, tmp_path: Path) -> None:
    bad = [
        chat_line(parallel_tool_calls="yes"),
        {
            "input": {"messages": [{"role": "user", "content": "p"}], "parallel_tool_calls": 1},
            "preferred_output": [{"role": "assistant", "content": "a"}],
            "non_preferred_output": [{"role": "assistant", "content": "b"}],
        },
    ]
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(12) + bad)
    code, output = invoke("run", str(data), "--out", str(tmp_path / "out"), "--profile", profile)
    assert code == 0, output
    assert_conserved(tmp_path / "out")
    rejected = [
        json.loads(x) for x in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()
    ]
    by_line = {r["line"]: r for r in rejected}
    assert by_line[13]["rule"] == "convert.invalid_field"
    assert by_line[13]["message"].startswith(
        "parallel_tool_calls must be true or false, not a string"
    )
    assert by_line[14]["message"].startswith(
        "parallel_tool_calls must be true or false, not a number"
    )


def test_a_weight_beyond_64_bits_is_kept_as_it_is(tmp_path: Path) -> None:
    """A profile that does not check weights keeps the record; the weight goes to the message's
    ``extra`` in Parquet instead of overflowing its int64 column."""
    huge = chat_line()
    huge["messages"][1]["weight"] = 2**63
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(12) + [huge])
    code, output = invoke("run", str(data), "--out", str(tmp_path / "out"), "--profile", "trl-sft")
    assert code == 0, output
    assert_conserved(tmp_path / "out")
    assert manifest(tmp_path / "out")["counts"]["rejected"] == 0


def test_a_small_gzip_file_with_trailing_bytes_keeps_its_records(tmp_path: Path) -> None:
    lines = "".join(json.dumps(c) + "\n" for c in many_chats(12)).encode()
    data = tmp_path / "in.jsonl.gz"
    data.write_bytes(gzip.compress(lines) + b"garbage")
    code, output = invoke("run", str(data), "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert_conserved(tmp_path / "out")
    counts = manifest(tmp_path / "out")["counts"]
    assert (counts["records"], counts["rejected"]) == (13, 1)


def test_more_inputs_than_open_files_allowed(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    folder = tmp_path / "many"
    for i, record in enumerate(many_chats(300)):
        write_jsonl(folder / f"part-{i:03d}.jsonl", [record])
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 200), hard))
    try:
        code, output = invoke("run", str(folder), "--out", str(tmp_path / "out"), "--workers", "1")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert code == 0, output
    assert_conserved(tmp_path / "out")
    assert manifest(tmp_path / "out")["counts"]["records"] == 300


def test_count_reports_tools_that_are_not_a_list(tmp_path: Path) -> None:
    line = {
        "input": {"messages": [{"role": "user", "content": "p"}], "tools": 1.5},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "b"}],
    }
    data = write_jsonl(tmp_path / "dpo.jsonl", [line])
    code, output = invoke("count", str(data), "--model", "gpt-4o-mini-2024-07-18")
    assert code == 1, output  # reported, not counted: a data problem
    assert f"{data}:1: tools must be a list, not a number [convert.invalid_field]" in output


def test_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/\xff\xfe.jsonl"
    with open(raw, "w") as f:
        f.writelines(json.dumps(c) + "\n" for c in many_chats(12))
    name = os.fsdecode(raw)
    code, output = invoke("run", str(folder), "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert manifest(tmp_path / "out")["inputs"][0]["path"] == f"{folder}/\\xff\\xfe.jsonl"
    code, output = invoke("run", name, "--out", str(tmp_path / "out2"))
    assert code == 0, output
    code, output = invoke("validate", name, "--profile", "openai-chat", "--format", "json")
    assert code == 0, output
    assert json.loads(output)["files"] == [f"{folder}/\\xff\\xfe.jsonl"]


def test_a_pipe_or_device_is_not_an_input(tmp_path: Path) -> None:
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    code, output = invoke("run", str(fifo), "--out", str(tmp_path / "out"))
    assert (code, output) == (
        2,
        f"Error: {fifo}: not a regular file (a device, pipe or socket is not read): save the data "
        "to a file, or remove it from the folder\n",
    )
    folder = tmp_path / "raw"
    write_jsonl(folder / "a.jsonl", many_chats(3))
    (folder / "b.jsonl").symlink_to("/dev/zero")
    code, output = invoke("run", str(folder), "--out", str(tmp_path / "out"))
    assert code == 2 and output.startswith(f"Error: {folder}/b.jsonl: not a regular file")
    (folder / "b.jsonl").unlink()
    (folder / "c.jsonl").symlink_to(tmp_path / "gone.jsonl")
    code, output = invoke("run", str(folder), "--out", str(tmp_path / "out"))
    assert (code, output) == (
        2,
        f"Error: {folder}/c.jsonl: a broken link: point it at a file or remove it\n",
    )


@pytest.mark.parametrize("splits", [5, [None], ["../elsewhere"], [""]])
def test_a_damaged_dataset_dict_is_a_usage_error(splits, tmp_path: Path) -> None:
    folder = tmp_path / "dd"
    folder.mkdir()
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": splits}))
    code, output = invoke("run", str(folder), "--out", str(tmp_path / "out"))
    assert code == 2
    assert output.startswith(f"Error: {folder}/dataset_dict.json: its splits must be a list of")


@pytest.mark.parametrize("profile", ["together", "openai-chat", "mistral"])
def test_an_empty_conversation_is_rejected(profile: str, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(12) + [{"messages": []}])
    code, output = invoke("run", str(data), "--out", str(tmp_path / "out"), "--profile", profile)
    assert code == 0, output
    assert_conserved(tmp_path / "out")
    assert manifest(tmp_path / "out")["rejected_by_rule"] == {"profile.messages.empty": 1}


def test_a_bad_code_unit_in_utf16_rejects_its_line_only(tmp_path: Path) -> None:
    lines = [json.dumps(c) for c in many_chats(12)]
    lines[7] = lines[7].replace('"content": "', '"content": "\ud800', 1)
    data = tmp_path / "in.jsonl"
    data.write_bytes(("\n".join(lines) + "\n").encode("utf-16", "surrogatepass"))
    code, output = invoke("run", str(data), "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert_conserved(tmp_path / "out")
    counts = manifest(tmp_path / "out")["counts"]
    assert (counts["records"], counts["rejected"]) == (12, 1)
    (rejected,) = [
        json.loads(x) for x in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()
    ]
    assert (rejected["line"], rejected["rule"]) == (8, "ingest.invalid_utf8")
