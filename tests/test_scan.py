"""The secrets and PII scan: recall and false-positive lines per kind on the labelled corpus
(tests/scan_corpus.py), masking, pointers into a record, redaction."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stages.scan import scanner
from pipeline.stages.scan.kinds import RULES, mask
from tests import scan_corpus


@pytest.fixture(scope="module")
def measured():
    return scan_corpus.measure(scan_corpus.corpus(), scanner.scan_text)


@pytest.fixture(scope="module")
def measured_holdout():
    return scan_corpus.measure(scan_corpus.holdout_corpus(), scanner.scan_text)


@pytest.mark.parametrize("rule", RULES)
def test_recall_per_kind(measured, rule):
    assert measured.planted[rule] >= 30
    assert measured.recall(rule) >= 0.95, measured.missed[rule][:5]


@pytest.mark.parametrize("rule", RULES)
def test_false_positive_lines_per_kind(measured, rule):
    assert measured.false_share(rule) <= 0.02, measured.false_examples[rule][:5]


def test_corpus_has_lookalikes_and_clean_text(measured):
    cases = scan_corpus.corpus()
    families = {c.family for c in cases if c.group == "lookalike"}
    for family in ("uuid", "sha256", "git", "version", "isbn", "env", "placeholder", "arith"):
        assert any(family in f for f in families), (family, sorted(families))
    assert measured.negative_lines >= 1500
    assert measured.lines_with_false / len(cases) <= 0.02


def test_holdout_written_apart_from_the_detectors(measured_holdout):
    m = measured_holdout
    planted = sum(m.planted.values())
    assert sum(m.found.values()) / planted >= 0.95
    assert m.lines_with_false / (m.negative_lines or 1) <= 0.02


def test_mask_never_shows_the_match():
    key = "sk-proj-" + "Ab3" * 20
    assert mask(key) == "sk-pr…3"
    assert mask("jo@x.io") == "…"
    assert len(mask("john@mail.com").replace("…", "")) <= len("john@mail.com") // 3


def test_finding_in_tool_call_argument_has_its_pointer():
    record = {
        "messages": [
            {"role": "user", "content": "send the report"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {
                            "name": "send_mail",
                            "arguments": '{"to": "maria.keller@posteo.de", "body": "hi"}',
                        },
                    }
                ],
            },
        ]
    }
    hits = scanner.scan_value(record)
    assert [(h.pointer, h.rule) for h in hits] == [
        ("/messages/1/tool_calls/0/function/arguments", "pii.email")
    ]
    text = record["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert scanner.json_key_of(text, hits[0].match) == "to"
    redacted = scanner.redact_value(record, hits)
    assert "maria.keller" not in str(redacted)
    assert '"to": "<EMAIL>"' in redacted["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert "maria.keller" in str(record)  # the input is not changed


def test_reasoning_and_preference_fields_are_scanned():
    aws = "AKIA" + "Q7RZ2LMX4WB5N3VT"
    record = {
        "input": {"messages": [{"role": "user", "content": "hi", "reasoning": f"key {aws}"}]},
        "preferred_output": [{"role": "assistant", "content": "call +44 20 7946 0958"}],
        "non_preferred_output": [{"role": "assistant", "content": "no"}],
    }
    found = {(h.pointer, h.rule) for h in scanner.scan_value(record)}
    assert ("/input/messages/0/reasoning", "secret.aws_access_key") in found
    assert ("/preferred_output/0/content", "pii.phone") in found


def test_categories_off_find_nothing_of_them():
    text = "mail me at maria.keller@posteo.de, key AKIAQ7RZ2LMX4WB5N3VT"
    assert {m.rule for m in scanner.scan_text(text, frozenset({"pii"}))} == {"pii.email"}
    assert {m.rule for m in scanner.scan_text(text, frozenset({"secrets"}))} == {
        "secret.aws_access_key"
    }
    assert scanner.scan_text(text, frozenset()) == []


TEXTS = [c.text for c in scan_corpus.corpus() + scan_corpus.holdout_corpus()]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(TEXTS), max_size=3),
    st.text(max_size=60),
    st.booleans(),
)
def test_a_line_passed_from_its_bytes_holds_nothing(parts, noise, ascii_only):
    """The run's fast path: a JSONL line ``nothing_in`` passes without parsing holds no match in
    any string, however the text is escaped."""
    import orjson

    record = {"messages": [{"role": "user", "content": noise.join(parts)}, {"x": [noise]}]}
    line = json.dumps(record, ensure_ascii=True).encode() if ascii_only else orjson.dumps(record)
    if scanner.nothing_in(line):
        assert scanner.scan_value(record) == []


def test_lines_with_findings_are_not_passed():
    for case in scan_corpus.corpus():
        if case.planted:
            line = json.dumps({"content": case.text}, ensure_ascii=False).encode()
            assert not scanner.nothing_in(line), case.text
