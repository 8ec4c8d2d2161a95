"""The scan in ``ftprep run``, ``validate`` and ``gate``: what each --secrets/--pii mode does to a
record, and that after redaction no planted secret or PII value remains in any artifact."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import cli
from pipeline.stages.scan import scanner
from pipeline.stages.scan.kinds import RULES
from tests import scan_corpus
from tests.conftest import chat, many_chats, write_jsonl


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def one_case_per_kind() -> dict[str, tuple[str, str]]:
    """(a text of the labelled corpus, the value planted in it) for every kind: the value is set
    in text as the corpus sets it (an AWS secret key after its name, a password in a URL)."""
    cases: dict[str, tuple[str, str]] = {}
    for case in scan_corpus.planted(scan_corpus.Gen(5), per_kind=3):
        for rule, value in case.planted:
            if rule not in cases and value in case.text and len(case.planted) == 1:
                cases[rule] = (case.text, value)
    return cases


CASES = one_case_per_kind()
VALUES = {rule: value for rule, (_, value) in CASES.items()}
TOOL = {"type": "function", "function": {"name": "send_mail", "parameters": {"type": "object"}}}


def planted_records() -> list:
    """Chats that carry every kind in every place a record holds text, plus a duplicate, a
    conflict, a record the profile rejects and a line that is not JSON."""
    v = VALUES
    records = many_chats(40)
    for n, (_, (value, _)) in enumerate(sorted(CASES.items())):
        if n % 3 == 0:
            records.append(chat(f"here it is: {value} thanks", f"noted {n}"))
        elif n % 3 == 1:
            records.append(chat(f"question {n}", f"the value is {value}.", system=f"ctx {value}"))
        else:
            args = json.dumps({"to": "ops", "body": f"use {value}"})
            records.append(
                {
                    "messages": [
                        {"role": "user", "content": f"send it {n}"},
                        {
                            "role": "assistant",
                            "tool_calls": [
                                {
                                    "id": f"c{n}",
                                    "type": "function",
                                    "function": {"name": "send_mail", "arguments": args},
                                }
                            ],
                        },
                        {"role": "tool", "tool_call_id": f"c{n}", "content": "sent"},
                        {"role": "assistant", "content": f"done {n}"},
                    ],
                    "tools": [TOOL],
                }
            )
    email, aws = v["pii.email"], v["secret.aws_access_key"]
    records.append(chat(f"mail {email} about it", "duplicate answer"))
    records.append(chat(f"mail {email} about it", "duplicate answer"))  # an exact duplicate
    records.append(chat(f"key {aws} conflict", "answer one"))
    records.append(chat(f"key {aws} conflict", "answer two"))  # a conflict
    records.append({"messages": [{"role": "user", "content": f"no reply {v['pii.card']}"}]})
    return records


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scan_in")
    path = write_jsonl(folder / "planted.jsonl", planted_records())
    with path.open("a", encoding="utf-8") as f:  # a line that is not JSON, holding a secret
        f.write(f'{{"messages": [ {VALUES["secret.github_token"]} broken\n')
    return path


def artifact_text(out: Path) -> str:
    """Every artifact of a run as text: the JSONL files and manifest as written, the Parquet
    files as their rows."""
    texts = []
    for path in sorted(out.rglob("*")):
        if path.suffix == ".parquet":
            texts.append(json.dumps(pq.read_table(path).to_pylist(), default=str))
        elif path.is_file():
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


def test_every_kind_is_planted():
    assert set(VALUES) == set(RULES)


@pytest.fixture(scope="module")
def redacted_run(inputs, tmp_path_factory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("scan_out") / "run"
    code, output = run_cli(
        "run", str(inputs), "--out", str(out), "--secrets", "redact", "--pii", "redact",
        "--no-cache", "--val-size", "2",
    )  # fmt: skip
    return out, code, output


def test_redaction_leaves_no_secret_in_any_artifact(redacted_run):
    out, code, output = redacted_run
    assert code == 0, output
    text = artifact_text(out)
    assert (out / "duplicates.jsonl").read_text() and (out / "conflicts.jsonl").read_text()
    assert (out / "rejected.jsonl").read_text()
    for rule, value in VALUES.items():
        needle = value.strip().splitlines()[1] if "\n" in value else value
        assert needle not in text, rule
        assert json.dumps(needle)[1:-1] not in text, rule
    for rule in RULES:
        placeholder = "<" + rule.split(".", 1)[1].upper() + ">"
        assert placeholder in text, rule


def test_redacted_counts_in_manifest_and_summary(redacted_run):
    out, _, output = redacted_run
    scan = json.loads((out / "manifest.json").read_text())["scan"]
    assert set(scan["redacted_by_rule"]) == set(RULES)
    assert scan["redacted_by_rule"] == scan["findings_by_rule"]
    assert scan["secrets"] == "redact" and scan["pii"] == "redact"
    assert "redacted by kind (replaced with a placeholder):" in output
    assert (
        f"    {'secret.openai_key':<40} {scan['redacted_by_rule']['secret.openai_key']}" in output
    )


def test_redacted_output_passes_validate_and_gate(redacted_run):
    out, _, _ = redacted_run
    code, output = run_cli(
        "validate", str(out / "train.jsonl"), "--validation-file", str(out / "validation.jsonl"),
        "--profile", "openai-chat", "--secrets", "error", "--pii", "error", "--strict",
    )  # fmt: skip
    assert code == 0, output
    code, output = run_cli("gate", str(out))
    assert code == 0, output
    assert "pass  scan.secrets" in output


def test_token_counts_are_taken_after_redaction(redacted_run, tmp_path):
    out, _, _ = redacted_run
    rows = pq.read_table(out / "train.parquet").to_pylist()
    row = next(r for r in rows if "<EMAIL> about it" in (r["messages"][0]["content"] or ""))
    same = write_jsonl(tmp_path / "same.jsonl", [chat("mail <EMAIL> about it", "duplicate answer")])
    code, _ = run_cli("run", str(same), "--out", str(tmp_path / "o"), "--no-cache", "-q")
    assert code in (0, 1)  # one example is below the training minimum: reported, not a crash
    again = pq.read_table(tmp_path / "o" / "train.parquet").to_pylist()
    assert row["n_tokens"] == again[0]["n_tokens"]


def test_warn_keeps_records_and_gate_fails_on_secrets(inputs, tmp_path):
    out = tmp_path / "run"
    code, output = run_cli("run", str(inputs), "--out", str(out), "--no-cache", "--val-size", "2")
    assert code == 0, output
    m = json.loads((out / "manifest.json").read_text())
    assert m["scan"]["redacted_by_rule"] == {}
    assert m["warnings_by_rule"]["secret.openai_key"] >= 1
    assert "scan: secrets in " in output and "(--secrets warn)" in output
    code, output = run_cli("gate", str(out))
    assert code == 1
    assert "FAIL  scan.secrets" in output


def test_error_rejects_with_stage_scan_and_a_redacted_copy(inputs, tmp_path):
    out = tmp_path / "run"
    code, output = run_cli(
        "run", str(inputs), "--out", str(out), "--no-cache", "--secrets", "error",
        "--pii", "off", "--val-size", "2",
    )  # fmt: skip
    m = json.loads((out / "manifest.json").read_text())
    assert m["stages"]["scan"]["rejected"] == m["rejected_by_rule"].get(
        "secret.openai_key", 0
    ) + sum(
        n
        for r, n in m["rejected_by_rule"].items()
        if r.startswith("secret.") and r != "secret.openai_key"
    )
    assert "  scan      " in output
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines()]
    scan = [r for r in rejected if r["stage"] == "scan"]
    assert {r["rule"] for r in scan} <= {r for r in RULES if r.startswith("secret.")}
    assert len({r["rule"] for r in scan}) >= 10
    tool = next(r for r in scan if "/tool_calls/" in r["pointer"])
    assert (
        tool["pointer"].endswith("/function/arguments")
        and 'in the argument "body"' in tool["message"]
    )
    assert all("--secrets error" in r["message"] for r in scan)
    text = artifact_text(out)
    for rule, value in VALUES.items():
        if rule.startswith("secret."):
            needle = value.strip().splitlines()[1] if "\n" in value else value
            assert needle not in text, rule
    assert m["scan"]["records_with_pii"] == 0  # --pii off: not looked for
    assert code in (0, 1)


def test_validate_reports_pointer_rule_and_masked_match(tmp_path):
    email = "maria.keller@posteo.de"
    records = many_chats(10)
    records[3] = {
        "messages": [
            {"role": "user", "content": "mail the report"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "send_mail", "arguments": json.dumps({"to": email})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sent"},
            {"role": "assistant", "content": "Sent."},
        ],
        "tools": [TOOL],
    }
    path = write_jsonl(tmp_path / "t.jsonl", records)
    code, output = run_cli("validate", str(path), "--profile", "openai-chat")
    line = (
        f"{path}:4: /messages/1/tool_calls/0/function/arguments: an e-mail address (maria…e) in "
        'the argument "to": it would be uploaded and could be learned: remove it, or prepare the '
        "data with `ftprep run --pii redact` (it becomes <EMAIL>) [pii.email]"
    )
    assert code == 0 and output.splitlines()[0] == line, output
    assert email not in output
    code, output = run_cli("validate", str(path), "--profile", "openai-chat", "--pii", "error")
    assert code == 1 and "1 error(s)" in output
    code, output = run_cli("validate", str(path), "--profile", "openai-chat", "--pii", "off")
    assert code == 0 and "pii.email" not in output


def test_config_keys_and_bad_values(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [*many_chats(11), chat("call +44 20 7946 0958", "ok")])
    config = tmp_path / "ftprep.toml"
    config.write_text(
        f'[run]\ninputs = ["{path.name}"]\nout = "out"\npii = "redact"\nsecrets = "error"\n'
    )
    code, output = run_cli("run", "--config", str(config), "--no-cache")
    assert code == 0, output
    scan = json.loads((tmp_path / "out" / "manifest.json").read_text())["scan"]
    assert scan["redacted_by_rule"] == {"pii.phone": 1} and scan["secrets"] == "error"
    config.write_text(f'[run]\ninputs = ["{path.name}"]\npii = "mask"\n')
    code, output = run_cli("run", "--config", str(config), "--no-cache")
    assert code == 2 and "pii must be one of error, warn, redact, off, not 'mask'" in output


TEXTS = [c.text for c in scan_corpus.corpus()]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TEXTS), min_size=1, max_size=4), st.text(max_size=40))
def test_redacting_leaves_nothing_to_find(parts, noise):
    """A redacted text holds no match, and redaction keeps the text outside the matches."""
    text = f"\n{noise}\n".join(parts)  # glued together, a placeholder could give a word a boundary
    matches = scanner.scan_text(text)
    redacted = scanner.redact_text(text, matches)
    assert scanner.scan_text(redacted) == []
    if not matches:
        assert redacted == text
