"""rs-bpe's token counts are tiktoken's: on the probe texts, on generated text, on real files."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stages import bpe_count
from pipeline.stages.tokens import Counter, get_encoding
from tests.conftest import SHARED_DATA

rs_bpe = pytest.importorskip("rs_bpe", reason="rs-bpe is not installed: tiktoken counts")
ENCODINGS = ("o200k_base", "cl100k_base")


@pytest.mark.parametrize("name", ENCODINGS)
def test_probe_counts_are_tiktoken_counts(name: str) -> None:
    encode = get_encoding(name).encode_ordinary
    assert tuple(len(encode(p)) for p in bpe_count.PROBES) == bpe_count.PROBE_COUNTS[name]
    assert bpe_count.fast_counter(name) is not None
    assert bpe_count.backend(name).startswith("rs-bpe ")


@settings(max_examples=400, deadline=None)
@given(st.text(), st.sampled_from(ENCODINGS))
def test_counts_equal_tiktoken_on_any_text(text: str, name: str) -> None:
    assert bpe_count.fast_counter(name)(text) == len(get_encoding(name).encode_ordinary(text))


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not beside the project")
def test_counts_equal_tiktoken_on_real_files() -> None:
    texts = []
    for path in SHARED_DATA.rglob("*.json*"):
        if path.suffix == ".gz":
            continue
        raw = path.read_text(encoding="utf-8")
        texts += [s for s in _strings(_load(raw)) if s]
    assert len(texts) > 10_000
    for name in ENCODINGS:
        count, encode = bpe_count.fast_counter(name), get_encoding(name).encode_ordinary
        assert [count(t) for t in texts] == [len(encode(t)) for t in texts]


def test_counter_uses_it_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Counter("o200k_base")._count is bpe_count.fast_counter("o200k_base")
    bpe_count.fast_counter.cache_clear()
    monkeypatch.setitem(bpe_count.PROBE_COUNTS, "o200k_base", (0,) * len(bpe_count.PROBES))
    try:
        counter = Counter("o200k_base")  # rs-bpe disagrees with the probes: tiktoken counts
        assert counter.once("hello world") == 2
        assert bpe_count.backend("o200k_base") == "tiktoken"
    finally:
        bpe_count.fast_counter.cache_clear()


def _load(raw: str):
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return [json.loads(line) for line in raw.splitlines() if line.strip()]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
