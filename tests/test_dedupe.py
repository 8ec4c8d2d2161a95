"""Exact dedupe keys: the fast path of the text normalisation equals its definition."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stages.dedupe.exact import example_id, normalise_text

WHITESPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]
TRICKY = st.sampled_from([*WHITESPACE, "a", "Z", "\u00a8", "\u00b4", "\ufb01", "\x00", "\x7f", "é"])


@settings(max_examples=1000, deadline=None)
@given(st.text() | st.text(alphabet=TRICKY) | st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_normalise_text_equals_nfkc_then_collapsed_whitespace(text: str) -> None:
    assert normalise_text(text) == " ".join(unicodedata.normalize("NFKC", text).split())


def test_ids_ignore_whitespace_and_compatibility_forms_only() -> None:
    def ex(content: str) -> dict:
        return {"kind": "sft", "messages": [{"role": "user", "content": content}]}

    assert example_id(ex("the  \ufb01le\n")) == example_id(ex("the file"))
    assert example_id(ex("the file")) != example_id(ex("the File"))


JSON_TEXT = st.text(
    alphabet=st.sampled_from(
        [*WHITESPACE[:12], "a", "b", '"', "\\", "n", "é", "\u0301", "\ufb01", "\x01"]
        + ["\x85", "\u2028", "\u1680", "\u00a0", "\u3000", "日"]
    )
)  # "a" + U+0301 and the ligature change under NFKC; U+0085, U+1680, U+2028 are spaces it keeps
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(
                st.dictionaries(st.sampled_from(["role", "content", "name", "x"]), JSON_VALUE)
            ),
            st.none() | JSON_VALUE,
            st.none() | JSON_TEXT | st.text(alphabet=' ab"'),  # spaces alone, beside quotes
        ),
        min_size=1,
        max_size=6,
    )
)
def test_content_key_fast_path_equals_the_definition(contents) -> None:
    """The keys of a batch, found normal or not on the batch's bytes at once, are each the
    definition's: normalised strings, nulls dropped, keys sorted."""
    import orjson

    from pipeline.stages.dedupe.exact import CONTENT_FIELDS, _normalise, content_keys

    batch = [
        {"kind": "sft", "messages": messages, "tools": tools, "text": text}
        for messages, tools, text in contents
    ]
    definitions = [
        orjson.dumps(
            {f: _normalise(ex.get(f)) for f in CONTENT_FIELDS}, option=orjson.OPT_SORT_KEYS
        )
        for ex in batch
    ]
    assert content_keys(batch) == definitions


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 40), max_size=300),
    st.lists(st.integers(1, 50), min_size=1, max_size=10),
    st.booleans(),
)
def test_exact_index_answers_like_a_dict(keys: list[int], sizes: list[int], keep_ids: bool) -> None:
    """Batches of any size, copies within and across batches, keys sharing their high half."""
    from pipeline.stages.dedupe.exact import ExactIndex

    def key(k: int) -> str:  # small numbers: many share the high 64 bits, some the whole key
        return f"{k % 3:016x}{k:016x}"

    examples = [
        {"id": f"{n:032x}", "source": f"f{n % 2}", "line": n + 1}
        | ({"dedupe_key": key(k)} if keep_ids else {"id": key(k)})
        for n, k in enumerate(keys)
    ]
    index, seen, got, want = ExactIndex(keep_ids=keep_ids), {}, [], []
    start = 0
    for size in sizes * (len(examples) // sum(sizes) + 1):
        batch = examples[start : start + size]
        if not batch:
            break
        got.extend(index.first_seen_batch(batch))
        start += size
    for ex in examples:
        k = ex.get("dedupe_key") or ex["id"]
        if k in seen:
            first = seen[k]
            want.append(
                (first["source"], first["line"], first["id"])
                if keep_ids
                else (first["source"], first["line"])
            )
        else:
            seen[k] = ex
            want.append(None)
    assert got == want
    assert len(index) == len(seen)
