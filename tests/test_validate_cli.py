"""`ftprep validate` and `ftprep profiles` through click: every output format exactly, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.profiles import profiles
from pipeline.stages import validate
from tests.conftest import chat, write_jsonl


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def bad_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Ten chat lines: line 3 has weight 2 (error), line 5 has no user message (warning)."""
    monkeypatch.chdir(tmp_path)
    lines = [chat(f"Question {i}?", f"Answer {i}.") for i in range(10)]
    lines[2]["messages"][1]["weight"] = 2
    lines[4] = {
        "messages": [{"role": "system", "content": "x"}, {"role": "assistant", "content": "y"}]
    }
    write_jsonl(tmp_path / "t.jsonl", lines)
    return "t.jsonl"


@pytest.fixture
def good_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "ok.jsonl", [chat(f"Q{i}?", f"A{i}.") for i in range(10)])
    return "ok.jsonl"


ERROR_LINE = "t.jsonl:3: /messages/1/weight: 2 is not 0 or 1 [openai.weight.invalid]"
WARNING_LINE = (
    "t.jsonl:5: /messages: the example has no user message: the model learns replies without "
    "a question [openai.user.missing]"
)


def test_text(bad_file: str) -> None:
    result = invoke("validate", bad_file, "--profile", "openai-chat")
    assert result.exit_code == 1
    assert result.stdout == (
        f"{ERROR_LINE}\n{WARNING_LINE}\n"
        "FAILED: 10 records in 1 file(s), 1 error(s), 1 warning(s) [openai-chat]\n"
    )


def test_text_clean_and_strict(good_file: str, bad_file: str) -> None:
    result = invoke("validate", good_file, "--profile", "openai-chat")
    assert (result.exit_code, result.stdout) == (
        0,
        "ok: 10 records in 1 file(s), 0 error(s), 0 warning(s) [openai-chat]\n",
    )
    Path("w.jsonl").write_text(
        "".join(
            json.dumps(
                chat("Q?", "A.")
                if i != 4
                else {"messages": [{"role": "assistant", "content": "y"}]}
            )
            + "\n"
            for i in range(10)
        )
    )
    assert invoke("validate", "w.jsonl", "--profile", "openai-chat").exit_code == 0
    strict = invoke("validate", "w.jsonl", "--profile", "openai-chat", "--strict")
    assert strict.exit_code == 1
    assert strict.stdout.endswith(
        "FAILED: 10 records in 1 file(s), 0 error(s), 1 warning(s) [openai-chat]\n"
    )


def test_json(bad_file: str) -> None:
    result = invoke("validate", bad_file, "--profile", "openai-chat", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "ok": False,
        "profile": "openai-chat",
        "files": ["t.jsonl"],
        "records": 10,
        "findings": [
            {
                "file": "t.jsonl",
                "line": 3,
                "pointer": "/messages/1/weight",
                "rule": "openai.weight.invalid",
                "severity": "error",
                "message": "2 is not 0 or 1",
            },
            {
                "file": "t.jsonl",
                "line": 5,
                "pointer": "/messages",
                "rule": "openai.user.missing",
                "severity": "warning",
                "message": "the example has no user message: the model learns replies without a question",
            },
        ],
        "summary": {
            "errors": 1,
            "warnings": 1,
            "by_rule": {"openai.user.missing": 1, "openai.weight.invalid": 1},
        },
    }


def test_github(bad_file: str) -> None:
    result = invoke("validate", bad_file, "--profile", "openai-chat", "--format", "github")
    assert result.exit_code == 1
    assert result.stdout == (
        "::error file=t.jsonl,line=3,title=openai.weight.invalid::/messages/1/weight: 2 is not 0 or 1\n"
        "::warning file=t.jsonl,line=5,title=openai.user.missing::/messages: the example has no "
        "user message: the model learns replies without a question\n"
        "FAILED: 10 records in 1 file(s), 1 error(s), 1 warning(s) [openai-chat]\n"
    )


def test_junit(bad_file: str, good_file: str) -> None:
    result = invoke(
        "validate", bad_file, good_file, "--profile", "openai-chat", "--format", "junit"
    )
    assert result.exit_code == 1
    assert result.stdout == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<testsuites name="ftprep validate [openai-chat]" tests="3" failures="1" errors="0">\n'
        '  <testsuite name="t.jsonl" tests="2" failures="1" errors="0">\n'
        '    <testcase classname="t.jsonl" name="line 3 /messages/1/weight [openai.weight.invalid]">\n'
        '      <failure message="2 is not 0 or 1" type="openai.weight.invalid">'
        f"{ERROR_LINE}</failure>\n"
        "    </testcase>\n"
        '    <testcase classname="t.jsonl" name="line 5 /messages [openai.user.missing]">\n'
        f"      <system-out>warning: {WARNING_LINE}</system-out>\n"
        "    </testcase>\n"
        "  </testsuite>\n"
        '  <testsuite name="ok.jsonl" tests="1" failures="0" errors="0">\n'
        '    <testcase classname="ok.jsonl" name="no findings" />\n'
        "  </testsuite>\n"
        "</testsuites>\n"
    )


def test_max_errors_shows_the_first_and_counts_all(bad_file: str) -> None:
    result = invoke("validate", bad_file, "--profile", "openai-chat", "--max-errors", "1")
    assert result.exit_code == 1
    assert result.stdout == (
        f"{ERROR_LINE}\n... 1 more finding(s) not shown (--max-errors)\n"
        "FAILED: 10 records in 1 file(s), 1 error(s), 1 warning(s) [openai-chat]\n"
    )


def test_file_level_findings_and_azure_bom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "few.jsonl", [chat("Q?", "A.")] * 3)
    result = invoke("validate", "few.jsonl", "--profile", "azure-openai-chat")
    assert result.exit_code == 1
    assert result.stdout == (
        "few.jsonl: the provider expects UTF-8 with a byte-order mark; save the file as 'UTF-8 "
        "with BOM' [file.bom.missing]\n"
        "few.jsonl: 3 example(s); the provider requires at least 10 in a training file: add "
        "examples (or send fewer to validation) [file.min_examples]\n"
        "FAILED: 3 records in 1 file(s), 1 error(s), 1 warning(s) [azure-openai-chat]\n"
    )
    # a validation file has no stated minimum (S3, S16 speak of training examples)
    result = invoke("validate", "--validation-file", "few.jsonl", "--profile", "azure-openai-chat")
    assert result.exit_code == 0, result.stdout
    assert "[file.min_examples]" not in result.stdout
    Path("bom.jsonl").write_bytes(b"\xef\xbb\xbf" + Path("few.jsonl").read_bytes() * 4)
    assert invoke("validate", "bom.jsonl", "--profile", "azure-openai-chat").exit_code == 0
    result = invoke("validate", "bom.jsonl", "--profile", "together")
    assert result.exit_code == 1
    assert "[file.bom.present]" in result.stdout


def test_providers_that_take_json_lines_refuse_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [chat("Q?", "A.")] * 10
    Path("array.json").write_text(json.dumps(rows))
    Path("pretty.jsonl").write_text(json.dumps(rows, indent=2))
    Path("wide.jsonl").write_bytes("".join(json.dumps(r) + "\n" for r in rows).encode("utf-16"))
    document = (
        "the provider takes JSON Lines in UTF-8; this file is a JSON document (an array or a "
        "pretty-printed object): convert it to JSON Lines, one JSON object per line (`ftprep run` "
        "writes them) [file.not_jsonl]\n"
    )
    for name, finding in [
        ("array.json", document),
        ("pretty.jsonl", document),
        (
            "wide.jsonl",
            "the provider takes JSON Lines in UTF-8; this file is UTF-16 or UTF-32 text: save it "
            "as UTF-8 [file.not_jsonl]\n",
        ),
    ]:
        result = invoke("validate", name, "--profile", "openai-chat")
        assert result.exit_code == 1
        assert result.stdout == (
            f"{name}: {finding}FAILED: 10 records in 1 file(s), 1 error(s), 0 warning(s) "
            "[openai-chat]\n"
        )
        assert invoke("validate", name, "--profile", "trl-sft").exit_code == 0  # TRL reads JSON


def test_bad_json_line_is_a_finding_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("x.jsonl").write_text('{"text": "a"}\n{"text": \n[1]\n')
    result = invoke("validate", "x.jsonl", "--profile", "trl-sft")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("x.jsonl:2: line is not valid JSON")
    assert lines[0].endswith("[ingest.invalid_json]")
    assert lines[1] == (
        "x.jsonl:3: line is a JSON array, not an object: each line must be one JSON object "
        "[json.not_object]"
    )


def test_auto_says_which_profile(good_file: str) -> None:
    result = invoke("validate", good_file, "--profile", "auto")
    assert result.exit_code == 0
    assert result.stderr.startswith(
        "profile: openai-chat (--profile auto: records with the keys messages are in its format"
    )
    assert result.stderr.endswith("0 error(s), 0 warning(s), as reported below\n")
    assert result.stdout == "ok: 10 records in 1 file(s), 0 error(s), 0 warning(s) [openai-chat]\n"


def test_exit_2_unknown_profile(good_file: str) -> None:
    result = invoke("validate", good_file, "--profile", "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: unknown profile 'nope': choose one of ")


def test_exit_2_missing_file(good_file: str) -> None:
    result = invoke("validate", good_file, "missing.jsonl", "--profile", "openai-chat")
    assert (result.exit_code, result.stderr) == (2, "Error: missing.jsonl: no such file\n")


def test_exit_2_no_profile_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "odd.jsonl", [{"foo": 1}])
    result = invoke("validate", "odd.jsonl", "--profile", "auto")
    assert result.exit_code == 2
    assert "no profile fits records with the keys foo" in result.stderr


@pytest.mark.parametrize(
    "content, says",
    [
        ("{not json", "is not valid JSON"),
        ('{"type": "object", "required": "messages"}', "is not a valid JSON Schema"),
    ],
)
def test_exit_2_broken_schema(
    good_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, says: str
) -> None:
    broken = tmp_path / "broken.schema.json"
    broken.write_text(content)
    monkeypatch.setattr(profiles, "_schema_path", lambda name: broken)
    profiles.load_schema.cache_clear()
    validate._validators.cache_clear()
    try:
        result = invoke("validate", good_file, "--profile", "openai-chat")
    finally:
        profiles.load_schema.cache_clear()
        validate._validators.cache_clear()
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: schema file {broken} {says}")


def test_profiles_lists_every_profile_with_sources() -> None:
    result = invoke("profiles")
    assert result.exit_code == 0
    for name in profiles.PROFILES:
        assert f"\n  {name}: " in result.stdout
    assert "under 512,000,000 bytes [S16: the file must be less than 512 MB]" in result.stdout
    assert "min 16 examples in the messages format [S41" in result.stdout
    assert "model gemini-2.5-flash: 131,072 tokens per example [S41]" in result.stdout


def test_pre_commit_hook() -> None:
    import yaml

    hooks = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / ".pre-commit-hooks.yaml").read_text()
    )
    assert hooks[0]["id"] == "ftprep-validate"
    assert hooks[0]["entry"] == "ftprep validate"
    assert hooks[0]["language"] == "python"
    assert hooks[0]["files"] == r"\.jsonl$"


def test_values_in_messages_are_shown_as_json_and_cut(tmp_path: Path) -> None:
    from pipeline.findings import shown

    assert [shown(v) for v in (True, None, "user", 2, [1])] == [
        "true",
        "null",
        '"user"',
        "2",
        "[1]",
    ]
    assert shown("r" * 100) == '"' + "r" * 56 + "..."
    line = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    line["messages"][1]["weight"] = True
    write_jsonl(tmp_path / "t.jsonl", [line])
    result = invoke("validate", str(tmp_path / "t.jsonl"), "--profile", "openai-chat")
    assert f"{tmp_path / 't.jsonl'}:1: /messages/1/weight: true is not 0 or 1" in result.stdout
    assert (
        "/messages/1/weight: true is not of type integer: make it an integer [schema.type]"
        in result.stdout
    )


def test_findings_shown_are_capped_by_default(tmp_path: Path) -> None:
    """Memory holds the findings shown: 10,000 unless --max-errors says otherwise."""
    path = tmp_path / "bad.jsonl"
    path.write_text("x\n" * 10_003)
    result = invoke("validate", str(path), "--profile", "openai-chat", "--format", "json")
    report = json.loads(result.stdout)
    assert len(report["findings"]) == 10_000
    assert report["findings"][-1]["line"] == 10_000
    assert report["summary"]["errors"] == 10_003
    result = invoke("validate", str(path), "--profile", "openai-chat")
    assert "... 3 more finding(s) not shown (--max-errors)" in result.stdout


def test_auto_picks_the_format_the_file_was_written_for(tmp_path: Path) -> None:
    """A broken OpenAI file stays openai-chat (trl-sft, the most lenient, used to win), and the
    note counts errors as the report does (whole file, file-level findings included)."""
    lines = [chat("Q?", "A.")] * 11 + [{"messages": [{"role": "human", "content": "hi"}]}]
    path = write_jsonl(tmp_path / "broken.jsonl", lines)
    result = invoke("validate", str(path), "--profile", "auto", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["profile"] == "openai-chat"
    errors = report["summary"]["errors"]
    assert errors == 2  # no assistant message, unknown role "human"
    assert f"; {errors} error(s), {report['summary']['warnings']} warning(s)" in result.stderr
    bom = tmp_path / "azure.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = invoke("validate", str(bom), "--profile", "auto")
    assert result.stderr.startswith("profile: azure-openai-chat ")
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "Q", "chosen": "A", "rejected": "B"}])
    result = invoke("validate", str(pairs), "--profile", "auto")
    assert result.stderr.startswith("profile: trl-dpo ")


def test_every_schema_finding_says_what_to_change() -> None:
    """Each case file's schema findings end in an action (the profile's rules already do)."""
    from pipeline.profiles.profiles import PROFILES, load_schema
    from pipeline.stages.validate import schema_issues

    cases = Path(__file__).parent / "cases"
    seen = 0
    for name, profile in PROFILES.items():
        load_schema(name)
        for case in (cases / name).glob("*.json"):
            for line in json.loads(case.read_text())["lines"]:
                for _, _rule, _, message in schema_issues(profile, line):
                    seen += 1
                    head, _, action = message.rpartition(": ")
                    assert head and action.split()[0] in {
                        "make",
                        "add",
                        "remove",
                        "use",
                        "give",
                        "write",
                        "shorten",
                        "change",
                    }, (name, case.name, message)
    assert seen >= 10
    bad = {"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "x"}]}
    ((_, _, _, message),) = schema_issues(PROFILES["openai-chat"], bad)
    assert message == "42 is not of type string or null or array: make it a string or null or array"


def test_a_blank_line_is_said_once_per_file(tmp_path: Path) -> None:
    """Skipped, never silently: one finding per file with the first line's number; an error for
    Together, whose check_file parses every line (json.loads fails on a blank one)."""
    from tests.oracles import together_check

    path = tmp_path / "blank.jsonl"
    lines = [json.dumps(chat(f"Q{i}?", f"A{i}.")) for i in range(12)]
    path.write_text("\n".join(lines[:3] + ["", ""] + lines[3:] + [""]) + "\n")
    result = invoke("validate", str(path), "--profile", "openai-chat")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == (
        f"{path}:4: 3 blank line(s), the first at line 4, skipped (they are not records): remove "
        "them; readers that parse each line, such as Together's check_file, refuse them "
        "[ingest.blank_line]"
    )
    assert invoke("validate", str(path), "--profile", "together").exit_code == 1
    assert not together_check(path)["is_check_passed"]
    code = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "o")]).exit_code
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert code == 0 and manifest["warnings_by_rule"]["ingest.blank_line"] == 3
    assert manifest["counts"]["records"] == 12


@pytest.mark.parametrize("max_errors", [None, 3])
@pytest.mark.parametrize("model", [None, "gpt-4o-mini-2024-07-18"])
def test_every_core_finds_what_one_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_errors: int | None, model: str | None
) -> None:
    """A large file is checked a range of lines per worker: the report is the one a single
    process writes, findings, order, counts and the cap on those shown alike."""
    from pipeline.commands import validate as command

    lines = []
    for i in range(5_000):
        if i % 97 == 0:
            lines.append('{"messages": [{"role": "user", "content": "cut')
        elif i % 89 == 0:
            lines.append(json.dumps({"messages": [{"role": "wizard", "content": "x"}]}))
        elif i % 83 == 0:
            lines.append("[1, 2]")
        else:
            lines.append(json.dumps(chat(f"question {i}", "answer " * (i % 7 + 1))))
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    reports = []
    for parallel_from in (1 << 62, 0):
        monkeypatch.setattr(command, "PARALLEL_BYTES", parallel_from)
        monkeypatch.setattr(command, "RANGE_LINES", 700)
        report, _ = command.check_files([path], "openai-chat", model=model, max_errors=max_errors)
        reports.append(command.format_json(report))
    assert reports[0] == reports[1]
    summary = json.loads(reports[0])["summary"]
    assert summary["by_rule"]["ingest.invalid_json"] == 52
    assert summary["by_rule"]["json.not_object"] > 0
