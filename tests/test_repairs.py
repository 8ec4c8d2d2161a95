"""Repairs: the safe kinds in `ftprep run` (counted in the summary and the manifest), the opt-in
ones (--fix), `ftprep fix` on provider-format files, and validate naming the kind that repairs a
finding (pipeline/stages/repairs.py, pipeline/commands/fix.py)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import cli
from pipeline.profiles.profiles import get_profile
from pipeline.stages import repairs
from pipeline.stages.validate import validate_record
from tests.conftest import write_jsonl
from tests.test_run import assert_conserved, manifest, read_jsonl

ALL = frozenset(repairs.KINDS)


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def call(arguments) -> dict:
    return {"id": "c1", "type": "function", "function": {"name": "w", "arguments": arguments}}


TOOLS = [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}]


def tool_chat(arguments, n: int = 0) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"Weather {n}?"},
            {"role": "assistant", "content": None, "tool_calls": [call(arguments)]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "assistant", "content": f"Sunny {n}."},
        ],
        "tools": TOOLS,
    }


# --- the repair functions ---------------------------------------------------------------------


def test_role_aliases_map_to_the_profiles_names():
    assert repairs.aliased_role("model") == "assistant"
    assert repairs.aliased_role("human") == "user"
    assert repairs.aliased_role("Assistant") == "assistant"
    assert repairs.aliased_role("assistant") is None  # right already
    assert repairs.aliased_role("narrator") is None  # unknown: validation reports it
    assert repairs.aliased_role("assistant", "model") == "model"  # Gemini's own name
    for odd in (["user"], {"role": "user"}, None, 3):  # never raises: validation reports them
        assert repairs.aliased_role(odd) is None


def test_arguments_object_and_double_encoding():
    line = tool_chat({"city": "Paris"})
    fixed, changes = repairs.repair_line(line, ALL)
    assert fixed["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert changes == [("tool-arguments", "/messages/1/tool_calls/0/function/arguments")]
    assert line["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    twice = tool_chat(json.dumps(json.dumps({"city": "Rome"})))
    fixed, changes = repairs.repair_line(twice, ALL)
    assert fixed["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Rome"}'
    assert [k for k, _ in changes] == ["double-encoded"]
    # a plain JSON string that holds a string is left alone: it is no double encoding
    plain = tool_chat(json.dumps("just text"))
    assert repairs.repair_line(plain, ALL)[1] == []


def test_merge_turns_and_special_tokens_are_opt_in():
    line = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                         {"role": "assistant", "content": "c<|endoftext|>"}]}  # fmt: skip
    assert repairs.repair_line(line, frozenset(repairs.SAFE_KINDS)) == (line, [])
    fixed, changes = repairs.repair_line(line, ALL)
    assert fixed == {"messages": [{"role": "user", "content": "a\n\nb"},
                                  {"role": "assistant", "content": "c"}]}  # fmt: skip
    assert sorted(k for k, _ in changes) == ["merge-turns", "strip-special-tokens"]


def test_legacy_convention_needs_the_whole_file():
    import collections

    counts = collections.Counter()
    for p, c in (("A ->", " x END"), ("B ->", " y END")):
        counts.update(repairs.legacy_keys(p, c))
    assert repairs.legacy_convention(counts, 2) == (" ->", " END", True)
    counts.update(repairs.legacy_keys("C", "z"))  # one record that does not follow it
    assert repairs.legacy_convention(counts, 3) is None


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["messages", "role", "content", "tool_calls", "function",
                             "arguments", "tools", "prompt", "completion", "x"]),
            inner,
            max_size=4,
        ),
        max_leaves=15,
    )
)  # fmt: skip
def test_repairs_never_raise_never_mutate_and_settle(obj):
    if not isinstance(obj, dict):
        obj = {"messages": obj}
    before = json.dumps(obj, sort_keys=True)
    fixed, changes = repairs.repair_line(obj, ALL)
    assert json.dumps(obj, sort_keys=True) == before  # copy-on-write
    if not changes:
        assert fixed is obj
    # a second pass has nothing left to do (merge-turns may join what a first pass aliased)
    again, more = repairs.repair_line(fixed, ALL)
    assert repairs.repair_line(again, ALL)[1] == []


# --- ftprep run ------------------------------------------------------------------------------


def _mixed(tmp_path: Path) -> Path:
    records = [
        {"messages": [{"role": "user", "content": f"Hi {i}"}, {"role": "model", "content": f"Hello {i}"}]}
        for i in range(8)
    ]  # fmt: skip
    records += [tool_chat({"city": f"c{i}"}, i) for i in range(8)]
    records += [tool_chat(json.dumps(json.dumps({"city": f"d{i}"})), 100 + i) for i in range(4)]
    return write_jsonl(tmp_path / "mixed.jsonl", records)


def test_run_repairs_safe_kinds_and_counts_them(tmp_path: Path):
    data, out = _mixed(tmp_path), tmp_path / "o"
    code, output = run_cli("run", str(data), "--out", str(out), "--no-cache")
    assert code == 0, output
    assert (
        f"  note: {data}: repaired (role-alias): 8 record(s), role names of other tools "
        "mapped to the provider's; first at line(s) 1, 2, 3, 4, 5" in output
    )
    m = manifest(out)
    assert m["inputs"][0]["repairs"] == {
        "role-alias": {"records": 8, "first_lines": [1, 2, 3, 4, 5]},
        "tool-arguments": {"records": 8, "first_lines": [9, 10, 11, 12, 13]},
        "double-encoded": {"records": 4, "first_lines": [17, 18, 19, 20]},
    }
    assert m["counts"]["rejected"] == 0
    assert_conserved(out)
    # what run writes passes validate, and every example keeps its provenance
    code, output = run_cli("validate", str(out / "train.jsonl"), "--profile", "openai-chat")
    assert code == 0, output
    roles = {msg["role"] for row in read_jsonl(out / "train.jsonl") for msg in row["messages"]}
    assert roles <= {"user", "assistant", "tool"}


def test_run_removes_legacy_markers_only_when_the_whole_file_follows_them(tmp_path: Path):
    rows = [{"prompt": f"Company {i} ->", "completion": f" Sector {i} END"} for i in range(12)]
    data = write_jsonl(tmp_path / "legacy.jsonl", rows)
    out = tmp_path / "o"
    assert run_cli("run", str(data), "--out", str(out), "--no-cache", "--val-ratio", "0")[0] == 0
    train = read_jsonl(out / "train.jsonl")
    assert train[0]["messages"] == [
        {"role": "user", "content": "Company 0"},
        {"role": "assistant", "content": "Sector 0"},
    ]
    assert manifest(out)["inputs"][0]["repairs"]["legacy-markers"]["records"] == 12
    # one record without the markers: nothing is removed anywhere
    data = write_jsonl(tmp_path / "mixed.jsonl", rows + [{"prompt": "P", "completion": "C"}])
    out = tmp_path / "o2"
    assert run_cli("run", str(data), "--out", str(out), "--no-cache", "--val-ratio", "0")[0] == 0
    assert read_jsonl(out / "train.jsonl")[0]["messages"][0]["content"] == "Company 0 ->"
    assert manifest(out)["inputs"][0]["repairs"] == {}
    # the openai-completion profile's own format is that convention: the markers stay
    out = tmp_path / "o3"
    code, _ = run_cli("run", str(tmp_path / "legacy.jsonl"), "--out", str(out), "--no-cache",
                      "--profile", "openai-completion", "--val-ratio", "0")  # fmt: skip
    assert read_jsonl(out / "train.jsonl")[0] == {
        "prompt": "Company 0 ->",
        "completion": " Sector 0 END",
    }


def test_opt_in_repairs_run_only_when_asked(tmp_path: Path):
    rows = [{"messages": [{"role": "user", "content": f"a{i}"}, {"role": "user", "content": "b"},
                          {"role": "assistant", "content": f"c{i}<|endoftext|>"}]}
            for i in range(12)]  # fmt: skip
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "o"
    run_cli("run", str(data), "--out", str(out), "--no-cache")
    assert manifest(out)["rejected_by_rule"] == {"openai.content.special_token": 12}
    out = tmp_path / "o2"
    code, output = run_cli("run", str(data), "--out", str(out), "--no-cache",
                           "--fix", "merge-turns,strip-special-tokens", "--val-ratio", "0")  # fmt: skip
    assert code == 0, output
    assert read_jsonl(out / "train.jsonl")[0]["messages"] == [
        {"role": "user", "content": "a0\n\nb"},
        {"role": "assistant", "content": "c0"},
    ]
    assert set(manifest(out)["inputs"][0]["repairs"]) == {"merge-turns", "strip-special-tokens"}
    assert manifest(out)["config"]["fix"] == ["merge-turns", "strip-special-tokens"]
    assert_conserved(out)


def test_unknown_fix_kind_and_bad_map_are_usage_errors(tmp_path: Path):
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "p", "response": "r"}])
    code, output = run_cli("run", str(data), "--out", str(tmp_path / "o"), "--fix", "tidy")
    assert code == 2
    assert (
        "--fix: 'tidy' is no repair kind; --fix takes merge-turns, strip-special-tokens" in output
    )
    code, output = run_cli("run", str(data), "--out", str(tmp_path / "o"), "--map", "question")
    assert code == 2
    assert "--map 'question': give FIELD=COLUMN pairs separated by commas" in output


def test_map_flag(tmp_path: Path):
    rows = [{"q": f"What is {i}+{i}?", "solution": str(2 * i)} for i in range(12)]
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "o"
    code, output = run_cli("run", str(data), "--out", str(out), "--no-cache",
                           "--map", "instruction=q,output=solution", "--val-ratio", "0")  # fmt: skip
    assert code == 0, output
    assert read_jsonl(out / "train.jsonl")[0]["messages"][1] == {
        "role": "assistant",
        "content": "0",
    }
    assert manifest(out)["config"]["mapping"] == {"instruction": "q", "output": "solution"}


# --- ftprep fix and validate's hints ----------------------------------------------------------

BAD = (
    '{"messages": [{"role": "user", "content": "Hi"}, {"role": "model", "content": "Hello"}]}\n'
    '{"messages": [{"role": "user", "content": "Hi 2"}, {"role": "assistant", "content": "Yo"}]}\n'
    "\n"
    '{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, '
    '{"role": "assistant", "content": "c<|endoftext|>"}]}\n'
    "not json\n"
)


def test_validate_names_the_fix_kind(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text(BAD)
    code, output = run_cli("validate", str(path), "--profile", "openai-chat")
    assert code == 1
    assert (
        f'{path}:1: /messages/1/role: "model" is not a known role: use one of system, user, '
        "assistant, tool, function; `ftprep fix --only role-alias` repairs it [openai.role.unknown]"
    ) in output
    assert (
        "`ftprep fix --only strip-special-tokens` repairs it [openai.content.special_token]"
        in output
    )


def test_fix_writes_the_file_and_lists_what_remains(tmp_path: Path):
    path, out = tmp_path / "bad.jsonl", tmp_path / "fixed.jsonl"
    path.write_text(BAD)
    code, output = run_cli("fix", str(path), "--profile", "openai-chat", "-o", str(out))
    assert code == 1
    assert output == (
        f"ftprep fix: {path}, 5 line(s), profile openai-chat (role-alias, tool-arguments, "
        "double-encoded, legacy-markers)\n"
        "  repaired 1 line(s):\n"
        "    role-alias             1 line(s), role names of other tools mapped to the provider's; "
        "first at line(s) 1\n"
        f"  wrote {out} (lines no rule changed are as they were)\n"
        "  not repaired: 3 finding(s) remain:\n"
        f"    {path}:4: /messages/1/role: two user messages in a row; merge them unless the "
        "repetition is intended; `ftprep fix --only merge-turns` repairs it [openai.role.repeated]\n"
        f"    {path}:4: /messages/2/content: content contains the special token <|endoftext|>, "
        "which the provider rejects: remove it or break it up (e.g. '<| endoftext |>'); "
        "`ftprep fix --only strip-special-tokens` repairs it [openai.content.special_token]\n"
        f"    {path}:5: the line is not one JSON object; fix has no rule for it [json.invalid]\n"
    )
    before, after = BAD.splitlines(keepends=True), out.read_text().splitlines(keepends=True)
    assert len(after) == len(before)
    assert (
        after[0]
        == '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}\n'
    )
    assert after[1:] == before[1:]  # lines no rule changes are kept byte for byte


def test_fix_diff_without_out_writes_nothing(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text(BAD)
    code, output = run_cli("fix", str(path), "--profile", "openai-chat", "--only",
                           "merge-turns,strip-special-tokens")  # fmt: skip
    assert output.startswith(
        f"--- {path}:4\n+++ {path}:4 (fixed)\n@@ -1 +1 @@\n"
        '-{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, '
        '{"role": "assistant", "content": "c<|endoftext|>"}]}\n'
        '+{"messages":[{"role":"user","content":"a\\n\\nb"},{"role":"assistant","content":"c"}]}\n'
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_fix_for_gemini_uses_its_role_names(tmp_path: Path):
    line = {"contents": [{"role": "user", "parts": [{"text": "Q"}]},
                         {"role": "assistant", "parts": [{"text": "A"}]}]}  # fmt: skip
    path, out = write_jsonl(tmp_path / "g.jsonl", [line]), tmp_path / "f.jsonl"
    run_cli("fix", str(path), "--profile", "vertex-gemini", "-o", str(out))
    assert read_jsonl(out)[0]["contents"][1]["role"] == "model"
    assert validate_record(get_profile("vertex-gemini"), read_jsonl(out)[0]) == []


def test_fix_usage_errors(tmp_path: Path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"messages": []}])
    assert run_cli("fix", str(path), "--profile", "openai-chat", "--only", "tidy")[0] == 2
    code, output = run_cli("fix", str(path), "--profile", "openai-chat", "-o", str(path))
    assert code == 2 and "-o names the input file" in output
    assert run_cli("fix", str(tmp_path / "none.jsonl"), "--profile", "openai-chat")[0] == 2


# --- the real files ---------------------------------------------------------------------------

from tests.conftest import SHARED_DATA, needs_shared_data  # noqa: E402

PROVIDER_FILES = [
    ("misc_openai_chat/pirate_training_set.jsonl", "openai-chat"),
    ("openai_cookbook/drone_training.jsonl", "openai-chat"),
    ("openai_cookbook/toy_chat_fine_tuning.jsonl", "openai-chat"),
    ("bedrock/nova_tooluse_formatted_test_ft.jsonl", "bedrock-conversation"),
    ("google_genai/patient_1_glucose_examples.jsonl", "vertex-gemini"),
    ("mlx_examples/wwdc25_train.jsonl", "openai-completion"),
]


@needs_shared_data
def test_fix_leaves_real_provider_files_as_they_are(tmp_path: Path):
    """The real files in a provider's format hold nothing a rule repairs: fix writes them back
    byte for byte, and what remains is what validate reports per line (toy_chat's line 4 has no
    user message, on purpose: a warning, so the exit is 0)."""
    for name, profile in PROVIDER_FILES:
        path, out = SHARED_DATA / name, tmp_path / (name.replace("/", "_"))
        code, output = run_cli("fix", str(path), "--profile", profile, "-o", str(out))
        assert "  nothing to repair\n" in output, output
        assert out.read_bytes() == path.read_bytes(), name
        assert code == 0, output
        assert ("[openai.user.missing]" in output) == ("toy_chat" in name), output


@needs_shared_data
def test_run_outputs_of_real_files_need_no_repair(tmp_path: Path):
    for name in ("llamafactory/glaive_toolcall_en_demo.json", "fastchat/dummy_conversation.json"):
        out = tmp_path / name.split("/")[0]
        assert run_cli("run", str(SHARED_DATA / name), "--out", str(out))[0] == 0
        assert manifest(out)["inputs"][0]["repairs"] == {}
        code, output = run_cli("fix", str(out / "train.jsonl"), "--profile", "openai-chat")
        assert code == 0 and "  nothing to repair\n" in output and "no finding remains" in output
