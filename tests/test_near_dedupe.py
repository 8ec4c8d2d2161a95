"""Near dedupe: planted near copies are found, distinct conversations are never merged."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import near_dedupe as nd

WORDS = (
    "the model data train answer question user assistant file line token record split cluster "
    "river mountain city market garden kitchen window paper letter story music color animal "
    "teacher student doctor patient engine bridge harbor forest desert island winter summer "
    "quickly slowly carefully honest bright quiet heavy simple modern ancient small large "
    "write read build explain compare describe measure improve return open close carry follow "
    "because although while before after during without within between across under over"
).split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 14))]
    words[0] = words[0].capitalize()
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), str(rng.randint(1, 2030)))
    return " ".join(words) + rng.choice([".", "?", "!", ","]).replace(",", ".")


def _text(rng: random.Random) -> str:
    target = rng.randint(30, 200)
    out: list[str] = []
    while sum(len(s.split()) for s in out) < target:
        out.append(_sentence(rng))
    return " ".join(out)


def _conversation(rng: random.Random) -> dict:
    text = _text(rng).split(" ")
    cut = max(5, len(text) // 3)
    return {
        "kind": "sft",
        "messages": [
            {"role": "user", "content": " ".join(text[:cut])},
            {"role": "assistant", "content": " ".join(text[cut:])},
        ],
    }


def _mutate(ex: dict, how: str, rng: random.Random) -> dict:
    msgs = [dict(m) for m in ex["messages"]]
    m = msgs[-1]
    words = m["content"].split(" ")
    if how == "word_changed":
        words[rng.randrange(len(words))] = "zephyr"
    elif how == "word_dropped":
        del words[rng.randrange(len(words))]
    elif how == "sentence_appended":
        words.append("Thanks, that helps.")
    elif how == "case_spacing":
        msgs[0]["content"] = "  " + msgs[0]["content"].upper().replace(" ", "   ") + "\n"
    m["content"] = " ".join(words)
    return {"kind": "sft", "messages": msgs}


def _true_jaccard(a: dict, b: dict) -> float:
    sa = set(nd.shingles(nd.normalise_words(nd.conversation_text(a))))
    sb = set(nd.shingles(nd.normalise_words(nd.conversation_text(b))))
    return len(sa & sb) / len(sa | sb)


def _decide(examples: list[dict], tmp_path: Path, threshold: float = 0.8, keep: str = "first"):
    index = nd.NearIndex(tmp_path)
    index.add_batch(nd.featurise_examples(examples), len(examples))
    try:
        return index.decide(threshold, keep)
    finally:
        index.remove_files()


def test_normalise_words() -> None:
    assert nd.normalise_words("Hello,   WORLD!\n It's 2024.") == [
        "hello",
        "world",
        "it",
        "s",
        "0000",
    ]


def test_planted_near_copies_found_and_distinct_never_merged(tmp_path: Path) -> None:
    rng = random.Random(7)
    originals = [_conversation(rng) for _ in range(400)]
    kinds = ("word_changed", "word_dropped", "sentence_appended", "case_spacing")
    copies, planted = [], []
    for i, ex in enumerate(originals[:200]):
        copy = _mutate(ex, kinds[i % len(kinds)], rng)
        if _true_jaccard(ex, copy) >= 0.85:  # recall is measured at true Jaccard >= 0.85
            planted.append((i, len(originals) + len(copies)))
        copies.append(copy)
    assert len(planted) >= 150
    decision = _decide(originals + copies, tmp_path)
    found = sum(1 for orig, copy in planted if decision.rep[copy] == orig)
    assert found / len(planted) >= 0.95, (found, len(planted))
    # distinct conversations: every original is its own representative
    assert all(decision.rep[i] == i for i in range(len(originals)))
    for orig, copy in planted:
        if decision.rep[copy] == orig:
            assert decision.similarity[copy] >= 0.8


def test_keep_longest_and_first(tmp_path: Path) -> None:
    rng = random.Random(3)
    a = _conversation(rng)
    b = _mutate(a, "sentence_appended", rng)
    other = _conversation(rng)
    first = _decide([a, other, b], tmp_path)
    assert list(first.rep) == [0, 1, 0]
    longest = _decide([a, other, b], tmp_path, keep="longest")
    assert list(longest.rep) == [2, 1, 2]
    assert list(longest.first) == [0, 1, 0]


def test_short_texts_get_exact_dedupe_only(tmp_path: Path) -> None:
    short = {"kind": "sft", "messages": [{"role": "user", "content": "what is two plus two"}]}
    feats = nd.featurise_examples([short])
    assert not feats.has[0] and not feats.sigs[0].any() and not feats.bands[0].any()
    decision = _decide([short, dict(short)], tmp_path)
    assert list(decision.rep) == [0, 1]


def test_prompt_key_text_ignores_answers() -> None:
    a = {
        "kind": "sft",
        "messages": [{"role": "user", "content": "q " * 12}, {"role": "assistant", "content": "x"}],
    }
    b = {
        "kind": "sft",
        "messages": [{"role": "user", "content": "q " * 12}, {"role": "assistant", "content": "y"}],
    }
    assert nd.conversation_text(a, "prompt") == nd.conversation_text(b, "prompt")
    pref = {
        "kind": "preference",
        "messages": [{"role": "user", "content": "p"}],
        "chosen": [{"role": "assistant", "content": "good"}],
        "rejected": [{"role": "assistant", "content": "bad"}],
    }
    assert nd.conversation_text(pref) == "p good bad"
    assert nd.conversation_text(pref, "prompt") == "p"


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=40))
def test_union_find_roots_are_smallest_members(pairs: list[int]) -> None:
    uf = nd.UnionFind(31)
    edges = list(zip(pairs[::2], pairs[1::2], strict=False))
    for a, b in edges:
        uf.union(a, b)
    roots = uf.roots()
    for i in range(31):
        members = np.flatnonzero(roots == roots[i])
        assert roots[i] == members.min()
    for a, b in edges:
        assert roots[a] == roots[b]


def test_describe_records_backend_and_parameters() -> None:
    d = nd.describe(nd.NearSettings())
    assert d["near"]["backend"].startswith("rensa.RMinHash")
    assert d["near"]["num_perm"] == 128 and d["near"]["bands"] == 16 and d["near"]["rows"] == 8
    assert d["near"]["seed"] == nd.SEED and d["near"]["backend_version"]


@pytest.mark.parametrize(
    "bad", [nd.NearSettings(mode="x"), nd.NearSettings(threshold=0), nd.NearSettings(keep="last")]
)
def test_bad_settings_are_reported(bad: nd.NearSettings) -> None:
    assert bad.problems()


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_fast_ascii_normalisation_equals_the_regex_definition(text: str) -> None:
    import re
    import unicodedata

    def by_regex(t: str) -> list[str]:
        t = unicodedata.normalize("NFKC", t).lower()
        t = re.sub(r"\d", "0", re.sub(r"[^\w\s]+", " ", t))
        return re.sub(r"\s+", " ", t).split()

    assert nd.normalise_words(text) == by_regex(text)


def test_batch_features_do_not_depend_on_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    texts = [
        " ".join(
            rng.choice(["Alpha", "beta,", "GAMMA", "d3lta", "épée", "ß"])
            for _ in range(rng.randrange(0, 30))
        )
        for _ in range(40)
    ]
    whole = nd.featurise_texts(texts)
    monkeypatch.setattr(nd, "CHUNK_BYTES", 300)  # a few texts per chunk, none cut
    monkeypatch.setattr(nd, "_POWERS", None)
    chunked = nd.featurise_texts(texts)
    for a, b in zip(
        (whole.lengths, whole.has, whole.sigs, whole.bands),
        (chunked.lengths, chunked.has, chunked.sigs, chunked.bands),
        strict=True,
    ):
        assert np.array_equal(a, b)
    for i, text in enumerate(texts):
        words = nd.normalise_words(text)
        assert whole.lengths[i] == len(" ".join(words))  # characters, not bytes
        assert whole.has[i] == (len(words) >= nd.MIN_WORDS)


def test_a_text_longer_than_a_chunk_is_compared_on_its_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory stays bounded for a huge record: its features come from its first CHUNK_BYTES
    (cut at a space); --keep longest still sees its whole length."""
    monkeypatch.setattr(nd, "CHUNK_BYTES", 200)
    monkeypatch.setattr(nd, "_POWERS", None)
    head = " ".join(f"word{i}" for i in range(40))  # 309 bytes
    a, b = head + " and then one ending", head + " but another ending entirely"
    features = nd.featurise_texts([a, b, "short text of a few words only here and there ok"])
    assert features.has.all()
    assert nd.jaccard(features.sigs[0], features.sigs[1]) == 1.0  # the same first 200 bytes
    assert features.lengths[0] == len(" ".join(nd.normalise_words(a)))
    assert len(nd._POWERS[0]) == 200


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from("the a cat dog sat on mat red blue 7 big small".split()),
        min_size=10,
        max_size=80,
    ),
    st.integers(0, 10**6),
)
def test_estimated_jaccard_tracks_the_true_jaccard_of_word_5_grams(
    words: list[str], seed: int
) -> None:
    rng = random.Random(seed)
    other = list(words)
    for _ in range(rng.randrange(0, 4)):
        other[rng.randrange(len(other))] = rng.choice(["zebra", "quartz", "Cat!"])
    features = nd.featurise_texts([" ".join(words), " ".join(other)])
    sa = set(nd.shingles(nd.normalise_words(" ".join(words))))
    sb = set(nd.shingles(nd.normalise_words(" ".join(other))))
    true = len(sa & sb) / len(sa | sb)
    estimate = nd.jaccard(features.sigs[0], features.sigs[1])
    assert abs(estimate - true) < 0.3  # 128 permutations: the standard error is at most 0.045
    if sa == sb:
        assert estimate == 1.0
