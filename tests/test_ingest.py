"""Tests for pipeline.stages.ingest: every input shape, and every way an input can be bad."""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records import is_rejection
from pipeline.stages.ingest import (
    InputError,
    LineRange,
    Source,
    batch_items,
    discover,
    parse_line,
    read_batches,
    read_source,
)
from pipeline.stages.ingest import batches as ingest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def read(path: Path) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    """All (line, value) records and all rejections of every source under ``path``."""
    records, rejected = [], []
    for src in discover(path):
        for item in read_source(src):
            if isinstance(item, dict):
                assert is_rejection(item) and item["stage"] == "ingest"
                assert item["source"] == src.name
                rejected.append(item)
                continue
            line, payload = item
            if isinstance(payload, bytes):
                ok, payload = parse_line(src.name, line, payload)
                if not ok:
                    rejected.append(payload)
                    continue
            records.append((line, payload))
    return records, rejected


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def only_records(path: Path) -> list[tuple[int, Any]]:
    records, rejected = read(path)
    assert rejected == []
    return records


# --------------------------------------------------------------------------- JSONL


def test_jsonl_bom_crlf_blank_lines_and_missing_final_newline(tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \r\n{"a": 2}\r\n\n{"a": 3}')
    assert only_records(f) == [(1, {"a": 1}), (4, {"a": 2}), (6, {"a": 3})]


def test_jsonl_payload_is_undecoded_bytes_without_terminator(tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", b'\xef\xbb\xbf{"a": 1}\r\n{"b": 2}\n')
    (src,) = discover(f)
    assert src == Source(f.as_posix(), f, "jsonl", None)
    assert list(read_source(src)) == [(1, b'{"a": 1}'), (2, b'{"b": 2}')]


_LINE_PARTS = st.lists(
    st.sampled_from([b'{"a": 1}', b"", b"  ", b"\r", b"\xef\xbb\xbf", b"\xff", b"[", b"\xc3\xa9"]),
    max_size=4,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_LINE_PARTS, max_size=40),
    final_newline=st.booleans(),
    size=st.integers(1, 7),
    block=st.integers(1, 64),
    most=st.sampled_from([1, 5, 30, 1 << 20]),
)
def test_line_ranges_read_what_read_source_reads(
    tmp_path_factory, lines: list[bytes], final_newline: bool, size: int, block: int, most: int
) -> None:
    """Workers reading byte ranges get exactly the items the main process would have read, in
    order, whatever the line ends, BOMs, blank lines, batch size, scan block and byte cap."""
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    f = write(tmp_path_factory.mktemp("r") / "a.jsonl", b'{"a": 0}\n' + data)
    (src,) = discover(f)
    saved = ingest.RANGE_BLOCK, ingest.RANGE_BYTES
    ingest.RANGE_BLOCK, ingest.RANGE_BYTES = block, most
    try:
        batches = list(read_batches(src, size))
    finally:
        ingest.RANGE_BLOCK, ingest.RANGE_BYTES = saved
    assert all(isinstance(b, LineRange) for b in batches)
    content = f.read_bytes()
    first, at = 1, 0
    for b in batches:  # contiguous, whole lines, at most ``size`` of them, numbered on
        assert b.first == first and b.start == at < b.stop
        at = b.stop
        newlines = content[b.start : b.stop].count(b"\n")
        assert newlines <= size and (
            content[b.stop - 1 : b.stop] == b"\n" or b.stop == len(content)
        )
        first += newlines
    assert (batches[0].start, batches[-1].stop) == (0, len(content))
    if most > len(content):
        assert [b.first for b in batches] == [1 + i * size for i in range(len(batches))]
    assert [item for b in batches for item in batch_items(b)] == list(read_source(src))


def test_only_plain_jsonl_is_read_in_ranges(tmp_path: Path) -> None:
    plain = write(tmp_path / "a.jsonl", '{"a": 1}\n{"a": 2}\n')
    utf16 = write(tmp_path / "b.jsonl", '{"a": 1}\n'.encode("utf-16"))
    pretty = write(tmp_path / "c.jsonl", '[\n{"a": 1}\n]\n')
    zipped = write(tmp_path / "d.jsonl", gzip.compress(b'{"a": 1}\n'))
    assert [type(b) for b in read_batches(discover(plain)[0], 1)] == [LineRange, LineRange]
    for f in (utf16, pretty, zipped):
        (batch,) = read_batches(discover(f)[0], 10)
        assert batch == list(read_source(discover(f)[0]))


def test_a_range_of_a_file_cut_short_is_one_rejection(tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", '{"a": 1}\n{"a": 2}\n')
    (batch,) = read_batches(discover(f)[0], 10)
    f.write_bytes(b'{"a": 1}\n')
    (rej,) = batch_items(batch)
    assert (rej["rule"], rej["line"]) == ("ingest.unreadable", 1)


def test_invalid_utf8_rejects_only_that_line(tmp_path: Path) -> None:
    f = write(tmp_path / "a.ndjson", b'{"a": 1}\n{"a": "caf\xe9"}\n{"a": 3}\n')
    records, rejected = read(f)
    assert records == [(1, {"a": 1}), (3, {"a": 3})]
    (r,) = rejected
    assert (r["line"], r["rule"]) == (2, "ingest.invalid_utf8")
    assert "byte offset 10" in r["message"] and "0xe9" in r["message"]
    assert r["raw"] == '{"a": "caf\ufffd"}'


def test_invalid_json_line_says_why_and_what_to_do(tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", '{"a": 1}\n{"a": 1,}\n{"a": 3}\n')
    records, rejected = read(f)
    assert [line for line, _ in records] == [1, 3]
    (r,) = rejected
    assert (r["line"], r["rule"], r["raw"]) == (2, "ingest.invalid_json", '{"a": 1,}')
    assert r["message"].startswith("line is not valid JSON (trailing comma")
    assert "column 8" in r["message"]  # the comma


def test_lone_carriage_returns_are_named(tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", b'{"a": 1}\r{"a": 2}\r{"a": 3}\r')
    records, rejected = read(f)
    (r,) = rejected
    assert records == [] and "carriage returns (\\r) alone" in r["message"]


def test_parse_line_truncates_raw() -> None:
    ok, r = parse_line("x.jsonl", 7, b"{" + b"a" * 20_000)
    assert not ok and r["line"] == 7 and len(r["raw"]) == 10_000


def test_parse_line_ok() -> None:
    assert parse_line("x.jsonl", 1, b'{"messages": []}') == (True, {"messages": []})


def test_utf16_jsonl(tmp_path: Path) -> None:
    text = '{"a": "é"}\r\n\r\n{"a": "日本"}\r\n'
    f = write(tmp_path / "a.jsonl", codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert only_records(f) == [(1, {"a": "é"}), (3, {"a": "日本"})]


def test_binary_file_is_one_rejection(tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    records, rejected = read(f)
    assert records == []
    (r,) = rejected
    assert (r["line"], r["rule"]) == (1, "ingest.binary_file")
    assert "JSON Lines" in r["message"]


def test_stray_nul_bytes_cost_only_their_lines(tmp_path: Path) -> None:
    good = b'{"a": 1}\n'
    f = write(tmp_path / "a.jsonl", good + b'{"a": "x\x00y"}\n' + good * 2 + b"\x00\n" + good)
    records, rejected = read(f)
    assert [line for line, _ in records] == [1, 3, 4, 6]
    assert [(r["line"], r["rule"]) for r in rejected] == [(2, "ingest.invalid_json")] * 1 + [
        (5, "ingest.invalid_json")
    ]
    utf16 = write(tmp_path / "b.jsonl", '{"a": 1}\n'.encode("utf-16-le") * 20)  # no BOM
    assert [r["rule"] for r in read(utf16)[1]] == ["ingest.binary_file"]


def test_empty_files_have_no_records(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.json", "c.csv", "d.jsonl.gz"):
        write(tmp_path / name, b"")
    write(tmp_path / "e.json", b"  \n\n")
    write(tmp_path / "f.json", b"[]")
    assert read(tmp_path) == ([], [])


# --------------------------------------------------------------------------- gzip


def test_gzip_of_jsonl_json_and_csv(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl.gz", gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    write(tmp_path / "b.json.gz", gzip.compress(b'[\n  {"b": 1},\n  {"b": 2}\n]\n'))
    write(tmp_path / "c.csv.gz", gzip.compress(b"x,y\n1,2\n"))
    write(tmp_path / "d.jsonl", gzip.compress(b'{"d": 1}\n'))  # gzip without the .gz name
    sources = discover(tmp_path)
    assert [(s.format, s.compression) for s in sources] == [
        ("jsonl", "gzip"),
        ("json", "gzip"),
        ("csv", "gzip"),
        ("jsonl", "gzip"),
    ]
    assert only_records(tmp_path) == [
        (1, {"a": 1}),
        (2, {"a": 2}),
        (2, {"b": 1}),
        (3, {"b": 2}),
        (2, {"x": "1", "y": "2"}),
        (1, {"d": 1}),
    ]


def test_truncated_gzip_keeps_records_before_the_fault(tmp_path: Path) -> None:
    lines = b"".join(
        b'{"n": %d, "pad": "%s"}\n' % (i, os.urandom(40).hex().encode()) for i in range(3000)
    )
    blob = gzip.compress(lines)
    f = write(tmp_path / "a.jsonl.gz", blob[: len(blob) // 2])
    records, rejected = read(f)
    assert 0 < len(records) < 3000
    assert [line for line, _ in records] == list(range(1, len(records) + 1))
    (r,) = rejected
    assert r["rule"] == "ingest.unreadable" and r["line"] == len(records) + 1


def test_gzip_cut_within_its_first_kilobytes_keeps_the_records_before(tmp_path: Path) -> None:
    blob = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(400)))
    f = write(tmp_path / "a.jsonl.gz", blob[: len(blob) // 2])
    records, rejected = read(f)
    assert 0 < len(records) < 400
    assert [line for line, _ in records] == list(range(1, len(records) + 1))
    assert [(r["rule"], r["line"]) for r in rejected] == [("ingest.unreadable", len(records) + 1)]


def test_truncated_gzip_json_array(tmp_path: Path) -> None:
    items = [{"n": i, "pad": os.urandom(40).hex()} for i in range(3000)]
    blob = gzip.compress(json.dumps(items, indent=1).encode())
    f = write(tmp_path / "a.json.gz", blob[: len(blob) // 2])
    records, rejected = read(f)
    assert 0 < len(records) < 3000
    assert [v for _, v in records] == items[: len(records)]
    (r,) = rejected
    assert r["rule"] == "ingest.unreadable"


# --------------------------------------------------------------------------- JSON


def test_jsonl_in_a_json_file(tmp_path: Path) -> None:
    f = write(tmp_path / "a.json", '{"a": 1}\n{"a": 2,}\n\n{"a": 3}\n')
    records, rejected = read(f)
    assert records == [(1, {"a": 1}), (4, {"a": 3})]
    assert [(r["line"], r["rule"]) for r in rejected] == [(2, "ingest.invalid_json")]


def test_pretty_json_array_items_have_their_start_lines(tmp_path: Path) -> None:
    items = [{"instruction": f"do {i}", "input": "", "output": [1, {"x": "]"}]} for i in range(4)]
    f = write(tmp_path / "a.json", "\ufeff" + json.dumps(items, indent=2))
    records = only_records(f)
    assert [v for _, v in records] == items
    lines = json.dumps(items, indent=2).splitlines()
    starts = [i + 1 for i, text in enumerate(lines) if text == "  {"]
    assert [line for line, _ in records] == starts


def test_json_array_of_scalars_on_one_line(tmp_path: Path) -> None:
    f = write(tmp_path / "a.json", '[1, 2.5, "x", null, true, [3]]')
    assert only_records(f) == [(1, 1), (1, 2.5), (1, "x"), (1, None), (1, True), (1, [3])]


def test_single_object(tmp_path: Path) -> None:
    doc = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}
    f = write(tmp_path / "a.json", json.dumps(doc, indent=2) + "\n")
    assert only_records(f) == [(1, doc)]


def test_concatenated_pretty_objects(tmp_path: Path) -> None:
    docs = [{"a": i, "b": {"c": [1, 2]}} for i in range(3)]
    f = write(tmp_path / "a.json", "\n".join(json.dumps(d, indent=2) for d in docs))
    height = len(json.dumps(docs[0], indent=2).splitlines())
    assert only_records(f) == [(1 + i * height, d) for i, d in enumerate(docs)]


def test_broken_array_keeps_items_before_and_stops(tmp_path: Path) -> None:
    text = '[\n  {"a": 1},\n  {"a": 2},\n  {"a": 3\n   "b": 4},\n  {"a": 5}\n]\n'
    f = write(tmp_path / "a.json", text)
    records, rejected = read(f)
    assert records == [(2, {"a": 1}), (3, {"a": 2})]
    (r,) = rejected
    assert (r["line"], r["rule"]) == (5, "ingest.invalid_json")
    assert "rest of the file could not be read" in r["message"]
    assert "JSONL" in r["message"]


def test_a_too_deep_item_of_an_array_costs_only_itself(tmp_path: Path) -> None:
    deep = "[" * 5000 + "]" * 5000
    f = write(tmp_path / "a.json", '[{"a": 1},\n' + deep + ',\n{"s": "[[{"},\n{"a": 3}]')
    records, rejected = read(f)
    assert records == [(1, {"a": 1}), (3, {"s": "[[{"}), (4, {"a": 3})]
    assert [(r["line"], r["rule"]) for r in rejected] == [(2, "ingest.too_deep")]


def test_unclosed_array(tmp_path: Path) -> None:
    f = write(tmp_path / "a.json", '[\n{"a": 1},\n{"a": 2}\n')
    records, rejected = read(f)
    assert records == [(2, {"a": 1}), (3, {"a": 2})]
    assert [(r["line"], r["rule"]) for r in rejected] == [(4, "ingest.invalid_json")]


def test_invalid_utf8_in_json_array(tmp_path: Path) -> None:
    f = write(tmp_path / "a.json", b'[\n{"a": 1},\n{"a": "\xff"}\n]')
    records, rejected = read(f)
    assert records == [(2, {"a": 1})]
    assert [(r["line"], r["rule"]) for r in rejected] == [(3, "ingest.invalid_utf8")]


def test_json_items_spanning_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipeline.stages.ingest.json_documents.CHUNK_CHARS", 7)
    items = [{"s": "x" * 50, "n": 1234567890123}, 9876543210, {"t": "\\u00e9 \u00e9"}] * 5
    f = write(tmp_path / "a.json", json.dumps(items, indent=1))
    assert [v for _, v in only_records(f)] == items


def test_pretty_json_in_a_jsonl_file(tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", '[\n  {"a": 1},\n  {"a": 2}\n]\n')
    assert only_records(f) == [(2, {"a": 1}), (3, {"a": 2})]


def test_utf16_json(tmp_path: Path) -> None:
    f = write(tmp_path / "a.json", '[{"a": "é"},\n {"a": 2}]'.encode("utf-16"))
    assert only_records(f) == [(1, {"a": "é"}), (2, {"a": 2})]


# --------------------------------------------------------------------------- CSV / TSV


def test_csv_crlf_quoted_newlines_and_row_lengths(tmp_path: Path) -> None:
    text = (
        "\ufeffact,prompt\r\n"
        'a,"line one\r\nline two"\r\n'
        "\r\n"
        "b,plain\r\n"
        "c,too,many\r\n"
        "d\r\n"
        '"e","q ""x"""\r\n'
    )
    f = write(tmp_path / "p.csv", text)
    records, rejected = read(f)
    assert records == [
        (2, {"act": "a", "prompt": "line one\r\nline two"}),
        (5, {"act": "b", "prompt": "plain"}),
        (7, {"act": "d", "prompt": ""}),
        (8, {"act": "e", "prompt": 'q "x"'}),
    ]
    (r,) = rejected
    assert (r["line"], r["rule"]) == (6, "ingest.csv_row")
    assert "3 fields" in r["message"] and "header has 2" in r["message"]


def test_csv_invalid_utf8_rejects_only_that_row(tmp_path: Path) -> None:
    f = write(tmp_path / "p.csv", b"a,b\n1,caf\xe9\n2,ok\n")
    records, rejected = read(f)
    assert records == [(3, {"a": "2", "b": "ok"})]
    (r,) = rejected
    assert (r["line"], r["rule"]) == (2, "ingest.invalid_utf8")
    assert "'b'" in r["message"] and "0xe9" in r["message"]


def test_csv_big_field(tmp_path: Path) -> None:
    big = "x" * 300_000
    f = write(tmp_path / "p.csv", f'a\n"{big}"\n')
    assert only_records(f) == [(2, {"a": big})]


def test_tsv(tmp_path: Path) -> None:
    f = write(tmp_path / "p.tsv", 'q\ta\nwhat, then?\tyes, "no"\n')
    (src,) = discover(f)
    assert src.format == "tsv"
    assert only_records(f) == [(2, {"q": "what, then?", "a": 'yes, "no"'})]


def test_csv_matches_the_csv_module(tmp_path: Path) -> None:
    rows = [{"x": f"v{i}\n{i}", "y": str(i)} for i in range(50)]
    f = tmp_path / "p.csv"
    with open(f, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, ["x", "y"])
        writer.writeheader()
        writer.writerows(rows)
    records = only_records(f)
    assert [v for _, v in records] == rows
    assert [line for line, _ in records] == list(range(2, 2 + 2 * 50, 2))


def test_csv_quotes_that_break_rows_are_named(tmp_path: Path) -> None:
    f = write(tmp_path / "a.csv", 'q,a\nq1,a1\n"x"y,a2\nq3,a3\n"q4 never closed,a4\nq5,a5\n')
    records, rejected = read(f)
    assert records == [(2, {"q": "q1", "a": "a1"}), (4, {"q": "q3", "a": "a3"})]
    assert [(r["line"], r["rule"]) for r in rejected] == [
        (3, "ingest.csv_row"),
        (5, "ingest.csv_row"),
    ]
    assert rejected[0]["message"].startswith("row cannot be parsed (',' expected after '\"')")
    assert rejected[1]["message"] == (
        "a quoted field opened on this row is never closed, so lines 5 to 6 (the end of the "
        "file) were read into it: close the quote, and double the quotes inside quoted fields"
    )


# --------------------------------------------------------------------------- Parquet and HF


def test_parquet(tmp_path: Path) -> None:
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 5000
    table = pa.table(
        {
            "text": [f"t{i}" for i in range(n)],
            "blob": [b"\xff\x00" if i == 0 else b"ok" for i in range(n)],
            "when": [dt.datetime(2024, 1, 1)] * n,
            "msgs": [[{"role": "user", "content": "hi"}]] * n,
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=1000)
    records = only_records(tmp_path / "t.parquet")
    assert [line for line, _ in records] == list(range(1, n + 1))
    assert records[0][1] == {
        "text": "t0",
        "blob": "/wA=",
        "when": "2024-01-01T00:00:00",
        "msgs": [{"role": "user", "content": "hi"}],
    }
    assert records[-1][1]["blob"] == "ok"
    json.dumps([v for _, v in records])


def test_corrupt_parquet_is_one_rejection(tmp_path: Path) -> None:
    f = write(tmp_path / "t.parquet", b"PAR1 this is not really parquet PAR1")
    records, rejected = read(f)
    assert records == []
    assert [(r["line"], r["rule"]) for r in rejected] == [(1, "ingest.unreadable")]


def test_hf_dataset_and_dataset_dict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    rows = [{"prompt": f"p{i}", "completion": f"c{i}"} for i in range(3000)]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"), max_shard_size="50KB")
    (src,) = discover(tmp_path / "ds")
    assert (src.format, src.name) == ("hf", (tmp_path / "ds").as_posix())
    records = only_records(tmp_path / "ds")
    assert records == [(i + 1, r) for i, r in enumerate(rows)]

    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows[:5]),
            "test": datasets.Dataset.from_list(rows[5:7]),
        }
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    sources = discover(tmp_path / "dd", name="dd")
    assert sorted(s.name for s in sources) == ["dd/test", "dd/train"]
    by_name = {s.name: [item for item in read_source(s)] for s in sources}
    assert by_name["dd/train"] == [(i + 1, r) for i, r in enumerate(rows[:5])]
    assert by_name["dd/test"] == [(i + 1, r) for i, r in enumerate(rows[5:7])]


# --------------------------------------------------------------------------- discover


def test_folder_discovery_sorted_skipping_unknown_and_hidden(tmp_path: Path) -> None:
    for rel in ("b.jsonl", "a/z.csv", "a/y.json.gz", "c.tsv", "notes.md", "x.txt", ".hidden.jsonl"):
        write(tmp_path / "in" / rel, gzip.compress(b"[]") if rel.endswith(".gz") else b"")
    write(tmp_path / "in" / ".git" / "d.jsonl", b"")
    write(tmp_path / "in" / "d.PARQUET", b"")
    skipped: list[tuple[str, Path]] = []
    sources = discover(tmp_path / "in", name="in", skipped=skipped)
    assert skipped == [  # hidden files are not named
        ("in/notes.md", tmp_path / "in" / "notes.md"),
        ("in/x.txt", tmp_path / "in" / "x.txt"),
    ]
    assert [s.name for s in sources] == [
        "in/a/y.json.gz",
        "in/a/z.csv",
        "in/b.jsonl",
        "in/c.tsv",
        "in/d.PARQUET",
    ]
    assert [s.format for s in sources] == ["json", "csv", "jsonl", "tsv", "parquet"]


def test_relative_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "raw" / "a.jsonl", "{}\n")
    monkeypatch.chdir(tmp_path)
    assert [s.name for s in discover(Path("raw"))] == ["raw/a.jsonl"]
    assert [s.name for s in discover(tmp_path / "raw")] == ["raw/a.jsonl"]
    assert [s.name for s in discover(Path("raw/a.jsonl"))] == ["raw/a.jsonl"]


def test_unknown_extension_is_sniffed(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "p.bin")
    write(tmp_path / "j.txt", '  [{"a": 1}]')
    write(tmp_path / "l.txt", '"a"\n"b"\n')
    write(tmp_path / "g.dat", gzip.compress(b'{"a": 1}\n'))
    assert discover(tmp_path / "p.bin")[0].format == "parquet"
    assert discover(tmp_path / "j.txt")[0].format == "json"
    assert discover(tmp_path / "l.txt")[0].format == "jsonl"
    assert (
        discover(tmp_path / "g.dat")[0].format,
        discover(tmp_path / "g.dat")[0].compression,
    ) == (
        "json",
        "gzip",
    )


def test_missing_path_and_unknown_binary_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        discover(tmp_path / "nope.jsonl")
    write(tmp_path / "x.bin", b"\x00\x01\x02")
    with pytest.raises(InputError, match="format"):
        discover(tmp_path / "x.bin")


# --------------------------------------------------------------------------- the shared data

EXPECTED = {
    "awesome_chatgpt_prompts/prompts_2024-12.csv": 171,
    "axolotl/alpaca.json": 2,
    "axolotl/conversation.missingturns.json": 1,
    "bedrock/nova_tooluse_formatted_test_ft.jsonl": 120,
    "codealpaca/code_alpaca_2k.json": 2017,
    "fastchat/dummy_conversation.json": 500,
    "google_genai/patient_1_glucose_examples.jsonl": 1,
    "hh_rlhf/harmless-base_test.jsonl.gz": 2312,
    "llamafactory/alpaca_en_demo.json": 999,
    "llamafactory/dpo_en_demo.json": 300,
    "llamafactory/glaive_toolcall_en_demo.json": 300,
    "llamafactory/identity.json": 91,
    "llamafactory/kto_en_demo.json": 300,
    "misc_openai_chat/pirate_training_set.jsonl": 10,
    "mlx_examples/wwdc25_train.jsonl": 1800,
    "openai_cookbook/drone_training.jsonl": 103,
    "openai_cookbook/toy_chat_fine_tuning.jsonl": 5,
}


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not present")
def test_shared_data_record_counts() -> None:
    counts = {}
    for src in discover(SHARED_DATA, name="data"):
        records, rejected = read(src.path)
        assert rejected == [], src.name
        counts[src.name.removeprefix("data/")] = len(records)
    assert {k: v for k, v in counts.items() if k in EXPECTED} == EXPECTED


JSON_TEXTS = [
    '[\n  {"a": 1},\n  {"a": 2},\n  {"a": 3\n   "b": 4},\n  {"a": 5}\n]\n',
    '[\n{"a": 1},\n{"a": 2}\n',
    '{\n  "a": 1\n}\n{\n  "b": [1,\n 2]\n}\n\n  {"c": "\\u00e9"}',
    '[1, 22, 333, 4444, 55555, -6.5e10, true, false, null, "x", {}, []]',
    '[\n{"a": 1}\n]\n[\n{"b": 2}\n]\n',
    '[\n{"a": 1}\n] trailing',
    "\n\n  [\n\n]\n",
]


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_json_streaming_does_not_depend_on_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    f = write(tmp_path / "a.json", text)
    expected = read(f)
    for size in (1, 2, 3, 7, 64):
        monkeypatch.setattr("pipeline.stages.ingest.json_documents.CHUNK_CHARS", size)
        assert read(f) == expected, size


def test_truncated_gzip_csv(tmp_path: Path) -> None:
    lines = b"".join(b"%d,%s\n" % (i, os.urandom(30).hex().encode()) for i in range(5000))
    blob = gzip.compress(b"n,x\n" + lines)
    f = write(tmp_path / "t.csv.gz", blob[: len(blob) // 2])
    records, rejected = read(f)
    assert 0 < len(records) < 5000
    assert [line for line, _ in records] == list(range(2, len(records) + 2))
    (r,) = rejected
    assert (r["rule"], r["line"]) == ("ingest.unreadable", len(records) + 2)
    assert "gzip stream" in r["message"]


def test_csv_duplicate_header_names_keep_every_cell(tmp_path: Path) -> None:
    f = write(tmp_path / "p.csv", "a,a,b,a\n1,2,3,4\n")
    assert only_records(f) == [(2, {"a": "1", "a.1": "2", "b": "3", "a.2": "4"})]


# ---------------------------------------------------------------- lines too long, blank lines


@pytest.mark.parametrize("compressed", [False, True])
def test_a_line_over_the_cap_is_rejected_as_it_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compressed: bool
) -> None:
    """A line over MAX_LINE_BYTES is one rejection with its size; the lines around it are read
    (plain JSONL by the workers' byte ranges, gzip by the streaming reader)."""
    import gzip

    from pipeline.stages.ingest import batches, jsonl

    for module in (jsonl, batches):
        monkeypatch.setattr(module, "MAX_LINE_BYTES", 5_000)
    monkeypatch.setattr(batches, "RANGE_BLOCK", 1_024)
    monkeypatch.setattr(jsonl, "SKIP_CHUNK", 700)
    monkeypatch.setattr(batches, "SKIP_CHUNK", 700)
    good = b'{"messages": [{"role": "user", "content": "hi"}]}\n'
    huge = b'{"messages": [{"role": "user", "content": "' + b"x" * 20_000 + b'"}]}\n'
    data = good * 3 + huge + good * 2 + huge.rstrip(b"\n")
    path = tmp_path / ("in.jsonl.gz" if compressed else "in.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    [src] = discover(path, str(path))
    items = [item for batch in read_batches(src, 2) for item in batch_items(batch)]
    lines = [item[0] if isinstance(item, tuple) else (item["line"], item["rule"]) for item in items]
    assert lines == [1, 2, 3, (4, "ingest.line_too_long"), 5, 6, (7, "ingest.line_too_long")]
    assert "the line is 0 MB, over ftprep's limit of 0 MB" in items[3]["message"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([b'{"a": 1}', b"", b" ", b"\t \r", b"\xef\xbb\xbf", b"x" * 30, b" y "]),
        max_size=25,
    ),
    st.sampled_from([b"", b"\n", b" ", b"\n\n"]),
)
def test_blank_lines_are_counted_block_by_block(lines: list[bytes], end: bytes) -> None:
    """blank_lines reads a block at a time; it counts what reading line by line would."""
    import io
    import tempfile

    from pipeline.stages.ingest import jsonl

    data = b"\n".join(lines) + end
    expected, first = 0, None
    for number, line in enumerate(io.BytesIO(data), 1):  # lines end at a newline only
        if not line.strip(b" \t\r\n\xef\xbb\xbf"):
            expected, first = expected + 1, first or number
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.jsonl"
        path.write_bytes(data)
        saved = jsonl.BLANK_BLOCK
        try:
            for block in (3, 7, 1 << 20):
                jsonl.BLANK_BLOCK = block
                assert jsonl.blank_lines(path, "jsonl") == (expected, first)
        finally:
            jsonl.BLANK_BLOCK = saved
