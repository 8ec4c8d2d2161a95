"""Near dedupe: planted near copies are found; distinct examples are never merged, whatever
boilerplate they share; every merge is verified exactly against its representative; conflicts."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stages.dedupe import minhash
from pipeline.stages.dedupe import near_features as nf
from pipeline.stages.dedupe import near_index as ni
from pipeline.stages.dedupe.near_dedupe import NearIndex, NearSettings, describe
from pipeline.stages.write import append_rows

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
    return " ".join(words) + rng.choice([".", "?", "!"])


def _text(rng: random.Random, low: int = 30, high: int = 200) -> str:
    target = rng.randint(low, high)
    out: list[str] = []
    while sum(len(s.split()) for s in out) < target:
        out.append(_sentence(rng))
    return " ".join(out)


def chat(user: str, assistant: str, system: str | None = None, **extra) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"kind": "sft", "messages": messages, **extra}


def _conversation(rng: random.Random) -> dict:
    text = _text(rng).split(" ")
    cut = max(5, len(text) // 3)
    return chat(" ".join(text[:cut]), " ".join(text[cut:]))


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
    elif how == "punctuation":
        words = [w.rstrip(".?!") + ("," if i % 7 == 3 else "") for i, w in enumerate(words)]
    m["content"] = " ".join(words)
    return {"kind": "sft", "messages": msgs}


class Decided:
    """The decision on a list of Examples, with their sets to check it against."""

    def __init__(self, examples: list[dict], folder: Path, **settings):
        self.settings = NearSettings(**settings)
        index = NearIndex(folder, self.settings)
        parts = []
        for start in range(0, len(examples), 64):  # batches of 64, as workers would write them
            part = examples[start : start + 64]
            batch = nf.featurise_batch(part, prompt_only=self.settings.key == "prompt")
            ref = append_rows(folder / "_rows-near-test.arrow", batch.serialize())
            index.add(ref, None, len(part))
            parts.append((ref, np.arange(len(part)), np.arange(start, start + len(part))))
        index.build()
        self.index = index
        self.decision = index.decide()
        # every Example's sets (the run writes only those of Examples with candidates)
        every = ni.sets_task(str(folder), index.boilerplate, (999, parts))
        self.reader = ni.SetReader(folder, [every])
        self.rep = self.decision.rep

    def exact(self, i: int, j: int) -> tuple[float, float]:
        a, b = self.reader.get(i), self.reader.get(j)
        return (
            ni.side_similarity(a.prompt, a.prompt_boiler, b.prompt, b.prompt_boiler),
            ni.side_similarity(a.response, a.response_boiler, b.response, b.response_boiler),
        )


def decided(examples: list[dict], tmp_path: Path, **settings) -> Decided:
    return Decided(examples, tmp_path, **settings)


def test_planted_near_copies_found_and_distinct_never_merged(tmp_path: Path) -> None:
    rng = random.Random(7)
    originals = [_conversation(rng) for _ in range(400)]
    kinds = ("word_changed", "word_dropped", "sentence_appended", "case_spacing", "punctuation")
    copies = [_mutate(ex, kinds[i % len(kinds)], rng) for i, ex in enumerate(originals[:200])]
    d = decided(originals + copies, tmp_path)
    planted = [(i, len(originals) + i) for i in range(200)]
    exact = [(o, c) for o, c in planted if min(d.exact(o, c)) >= 0.8]
    found = sum(1 for o, c in planted if d.rep[c] == o)
    assert len(exact) >= 180  # the edits keep most copies above the threshold...
    assert found / len(planted) >= 0.95, (found, len(planted))  # ... and LSH finds them
    assert all(d.rep[i] == i for i in range(len(originals)))  # distinct: each its own cluster
    for i in np.flatnonzero(d.rep != np.arange(len(d.rep))):
        p, r = d.exact(i, d.rep[i])
        assert min(p, r) >= 0.8
        assert d.decision.similarity[i] == pytest.approx(min(p, r), abs=1e-6)


def test_shared_tool_spec_and_short_answers_merge_nothing(tmp_path: Path) -> None:
    """Bedrock-style prompts: the same long tool specification pasted before each question, and
    answers that are short. Different questions with different (or equal) answers stay apart."""
    rng = random.Random(3)
    spec = "You can call these tools. " + _text(rng, 400, 400)
    questions = [_sentence(rng) for _ in range(120)]
    answers = [f"Call get_weather with city {rng.choice(WORDS)}." for _ in range(120)]
    answers[10] = answers[11] = "Yes."
    examples = [
        chat(f"{spec}\n\nQuestion: {q}", a) for q, a in zip(questions, answers, strict=True)
    ]
    d = decided(examples, tmp_path)
    assert (d.rep == np.arange(120)).all()
    assert len(d.index.boilerplate) > 300  # the spec's 5-grams


def test_one_passage_many_questions_merges_nothing_but_copies(tmp_path: Path) -> None:
    """A reading-comprehension file: one passage, 200 questions about it. Each asks something
    else, some answers coincide; only the planted copies merge."""
    rng = random.Random(5)
    passage = _text(rng, 250, 250)
    examples = []
    for k in range(200):
        answer = "Yes." if k % 20 == 0 else f"{rng.choice(WORDS)} {rng.randint(1, 99)}"
        examples.append(chat(f"{passage}\n\nQ{k}: {_sentence(rng)}", answer))
    copies = [dict(examples[7]), dict(examples[42])]
    copies[0] = chat(
        examples[7]["messages"][0]["content"].upper(), examples[7]["messages"][1]["content"]
    )
    copies[1] = chat(
        examples[42]["messages"][0]["content"] + "  ", examples[42]["messages"][1]["content"] + "!"
    )
    d = decided(examples + copies, tmp_path)
    assert (d.rep[:200] == np.arange(200)).all()
    assert d.rep[200] == 7 and d.rep[201] == 42


@pytest.mark.parametrize(
    ("a", "b", "merged"),
    [
        ("Are you davinci-001?", "Tell me who you are.", False),
        ("Are you davinci-001?", "Are you davinci-003?", False),
        ("What is the capital of France?", "What is the capital of Spain?", False),
        ("What is 2+2?", "What is 3+3?", False),
        ("What is the capital of France?", "what is the capital of france", True),
        ("What is the capital of France?", "What is the capital of France ?!", True),
    ],
)
def test_short_prompts(tmp_path: Path, a: str, b: str, merged: bool) -> None:
    d = decided(
        [chat(a, "No, I am a language model."), chat(b, "No, I am a language model.")], tmp_path
    )
    assert (d.rep[1] == 0) == merged


def test_same_prompt_other_answer_is_a_conflict_not_a_copy(tmp_path: Path) -> None:
    rng = random.Random(9)
    q = _sentence(rng)
    examples = [
        chat(q, _text(rng, 40, 60)),
        chat(_text(rng), _text(rng)),
        chat(q, _text(rng, 40, 60)),
    ]
    d = decided(examples, tmp_path)
    assert list(d.rep) == [0, 1, 2]
    assert list(d.decision.group) == [0, 1, 0]
    assert d.decision.group_similarity[2] == 1.0


def test_context_is_compared_apart(tmp_path: Path) -> None:
    """The same conversation under another system prompt is not a copy, and one shared system
    prompt does not make two conversations alike."""
    rng = random.Random(4)
    system = _text(rng, 300, 300)
    u, a = _text(rng, 40, 40), _text(rng, 60, 60)
    examples = [
        chat(u, a, system),
        chat(u, a, "Answer as a pirate."),
        chat(_sentence(rng), _sentence(rng), system),
    ]
    d = decided(examples, tmp_path)
    assert list(d.rep) == [0, 1, 2]


def test_merges_never_chain(tmp_path: Path) -> None:
    """A~B and B~C but not A~C: C never joins A through B."""
    rng = random.Random(12)
    base = _text(rng, 60, 60).split(" ")
    a = " ".join(base)
    b = " ".join(base[:50] + ["zebra"] * 10)
    c = " ".join(base[:40] + ["zebra"] * 20)
    examples = [chat("Tell me about it.", t) for t in (a, b, c)]
    d = decided(examples, tmp_path, threshold=0.6)
    sims = {(i, j): d.exact(i, j)[1] for i, j in ((1, 0), (2, 1), (2, 0))}
    assert sims[(1, 0)] >= 0.6 and sims[(2, 1)] >= 0.6 and sims[(2, 0)] < 0.6
    assert d.rep[1] == 0 and d.rep[2] == 2


def test_keep_longest_and_first(tmp_path: Path) -> None:
    rng = random.Random(3)
    a = _conversation(rng)
    b = _mutate(a, "sentence_appended", rng)
    other = _conversation(rng)
    for name in ("first", "longest"):
        (tmp_path / name).mkdir()
    first = decided([a, other, b], tmp_path / "first")
    assert list(first.rep) == [0, 1, 0]
    longest = decided([a, other, b], tmp_path / "longest", keep="longest")
    assert list(longest.rep) == [2, 1, 2]


def test_unpaired_same_completion_other_label_is_a_conflict(tmp_path: Path) -> None:
    prompt = [{"role": "user", "content": "Summarise the report in one line."}]
    completion = [{"role": "assistant", "content": "The report says sales rose."}]
    examples = [
        {"kind": "unpaired", "messages": prompt, "completion": completion, "label": True},
        {"kind": "unpaired", "messages": prompt, "completion": completion, "label": False},
    ]
    d = decided(examples, tmp_path)
    assert list(d.rep) == [0, 1] and list(d.decision.group) == [0, 0]


def test_prompt_key_ignores_answers(tmp_path: Path) -> None:
    rng = random.Random(1)
    q = _text(rng, 40, 40)
    examples = [chat(q, _text(rng)), chat(q.upper(), _text(rng))]
    assert list(decided(examples, tmp_path, key="prompt").rep) == [0, 0]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(
                st.sampled_from("the a cat dog sat on mat red blue 7 big small".split()),
                min_size=1,
                max_size=40,
            ),
            st.lists(
                st.sampled_from("yes no maybe 1 2 3 sure thing ok".split()), min_size=1, max_size=30
            ),
        ),
        min_size=2,
        max_size=30,
    ),
    st.sampled_from([0.5, 0.7, 0.8, 0.9]),
)
def test_every_merge_is_at_or_above_the_threshold(tmp_path_factory, convs, threshold) -> None:
    examples = [chat(" ".join(u), " ".join(a)) for u, a in convs]
    d = decided(examples, tmp_path_factory.mktemp("near"), threshold=threshold)
    index = np.arange(len(examples))
    for i in np.flatnonzero(d.rep != index):
        r = int(d.rep[i])
        assert d.rep[r] == r  # a representative, never a member
        p, s = d.exact(i, r)
        assert min(p, s) >= threshold
        assert d.decision.similarity[i] == pytest.approx(min(p, s), abs=1e-6)
    for i in np.flatnonzero(d.decision.group != index):
        g = int(d.decision.group[i])
        assert d.exact(int(d.rep[i]), g)[0] >= threshold


def test_side_similarity_leaves_out_only_shared_boilerplate() -> None:
    s = lambda *v: np.array(sorted(v), dtype=np.uint32)  # noqa: E731
    none = s()
    assert ni.side_similarity(s(1, 2, 3), s(1, 2), s(1, 2, 4), s(1, 2)) == 0.0  # 3 vs 4
    assert ni.side_similarity(s(1, 2, 3), s(1, 2), s(1, 2, 3), s(1, 2)) == 1.0
    assert ni.side_similarity(s(1, 2), s(1, 2), s(1, 2), s(1, 2)) == 1.0  # all shared boilerplate
    assert (
        ni.side_similarity(s(1, 2), s(1), s(1, 3), s(1)) == 0.0
    )  # boilerplate only one has counts
    assert ni.side_similarity(none, none, none, none) == 1.0
    assert ni.side_similarity(s(5), none, none, none) == 0.0
    assert ni.jaccard(s(1, 2, 3, 4), s(2, 3, 4, 5)) == pytest.approx(3 / 5)


def test_boilerplate_counter_does_not_depend_on_batching() -> None:
    rng = np.random.default_rng(0)
    common = rng.integers(0, 2**32, 50, dtype=np.uint64).astype(np.uint32)
    rows = [
        np.unique(
            np.concatenate(
                (
                    common[: rng.integers(0, 50)],
                    rng.integers(0, 2**32, 30, dtype=np.uint64).astype(np.uint32),
                )
            )
        )
        for _ in range(3000)
    ]
    results = []
    for batch in (1, 7, 500):
        counter = ni.BoilerplateCounter()
        for start in range(0, len(rows), batch):
            part = rows[start : start + batch]
            offsets = np.concatenate(([0], np.cumsum([len(r) for r in part])))
            counter.add([(np.concatenate(part), offsets)])
        results.append(counter.finish())
    assert all(np.array_equal(results[0], r) for r in results)
    floor = ni.boilerplate_floor(3000)
    truth = {int(v) for v in common if sum(int(v) in set(r.tolist()) for r in rows) >= floor}
    assert truth <= set(results[0].tolist())


def test_describe_records_method_and_parameters() -> None:
    d = describe(NearSettings())["near"]
    assert d["candidates"]["minhash"].startswith("one permutation hashing")
    assert (d["candidates"]["bands"], d["candidates"]["rows"]) == minhash.choose_bands(0.8)
    assert d["boilerplate"]["min_examples"] == ni.FLOOR and d["conflicts"] == "keep"


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9, 0.95, 1.0])
def test_bands_make_a_pair_at_the_threshold_a_candidate(threshold: float) -> None:
    bands, rows = minhash.choose_bands(threshold)
    assert bands * rows <= minhash.NUM_PERM
    assert 1 - (1 - threshold**rows) ** bands >= 0.995


@pytest.mark.parametrize(
    "bad",
    [
        NearSettings(mode="x"),
        NearSettings(threshold=0),
        NearSettings(keep="last"),
        NearSettings(conflicts="maybe"),
    ],
)
def test_bad_settings_are_reported(bad: NearSettings) -> None:
    assert bad.problems()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_fast_ascii_normalisation_equals_the_regex_definition(text: str) -> None:
    import re
    import unicodedata

    expected = re.sub(r"[^\w\s]+", " ", unicodedata.normalize("NFKC", text).lower())
    assert nf.normalise(text) == " ".join(expected.split()).encode("utf-8")


def test_features_do_not_depend_on_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    examples = [
        chat(
            " ".join(
                rng.choice(["Alpha", "beta,", "GAMMA", "d3lta", "épée", "ß"])
                for _ in range(rng.randrange(0, 40))
            ),
            "ok",
        )
        for _ in range(40)
    ]
    whole = nf.featurise_batch(examples)
    monkeypatch.setattr(nf, "CHUNK_BYTES", 300)
    nf._power_tables.cache_clear()
    try:
        chunked = nf.featurise_batch(examples)
    finally:
        nf._power_tables.cache_clear()
    assert whole.equals(chunked)


def test_a_text_longer_than_a_chunk_is_compared_on_its_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(nf, "CHUNK_BYTES", 200)
    nf._power_tables.cache_clear()
    try:
        head = " ".join(f"word{i}" for i in range(60))
        batch = nf.featurise_batch(
            [chat("q", head + " and then one ending"), chat("q", head + " but another")]
        )
    finally:
        nf._power_tables.cache_clear()
    words = batch.column("r_words").to_pylist()
    assert words[0] == words[1] and words[0]  # the same first 200 bytes


def test_boilerplate_without_some_examples_equals_counting_the_rest() -> None:
    """The survivors' boilerplate: the run's sketch less the removed Examples' counts is the
    sketch of the survivors alone, so both find the same 5-grams."""
    rng = np.random.default_rng(1)
    common = rng.integers(0, 2**32, 40, dtype=np.uint64).astype(np.uint32)
    rows = []
    for k in range(2000):
        shared = common[: 10 + k % 30]
        own = rng.integers(0, 2**32, 20, dtype=np.uint64).astype(np.uint32)
        rows.append(np.unique(np.concatenate((shared, own))))

    def column(chosen):
        part = [rows[i] for i in chosen]
        return [(np.concatenate(part), np.concatenate(([0], np.cumsum([len(r) for r in part]))))]

    everything = ni.BoilerplateCounter()
    everything.add(column(range(2000)))
    everything.finish()
    gone = [i for i in range(2000) if i % 3 == 0 or i > 1700]
    rest = ni.BoilerplateCounter()
    rest.add(column([i for i in range(2000) if i not in set(gone)]))
    expected = rest.finish()
    assert len(expected) and np.array_equal(everything.without(column(gone)), expected)
    assert everything.without(column(range(1200))) is None  # over half gone: count afresh
