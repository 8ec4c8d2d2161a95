"""Open-model counts with a tokenizer and chat template built here (offline): template tokens,
assistant tokens by generation markers and by prefix rendering, and the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.stages.hf_tokens import ChatTokenizer, HFCounter, TemplateError
from pipeline.stages.tokens import TokenizerError

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CHATML_GENERATION = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}<|im_start|>assistant\n"
    "{% generation %}{{ m['content'] }}<|im_end|>\n{% endgeneration %}"
    "{% else %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
STRICT = (
    "{% for m in messages %}{% if m['role'] == 'system' and not loop.first %}"
    "{{ raise_exception('System message must be first') }}{% endif %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SAMPLE = [
    "You are a helpful assistant. Hello there, how can I help you today?",
    "The quick brown fox jumps over the lazy dog. Thanks, you are welcome.",
    "What is the capital of France? The capital of France is Paris.",
]


def make_tokenizer(folder: Path, template: str, max_length: int | None = 4096) -> Path:
    """Train a tiny byte-level BPE on sample text and save it with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=500,
        special_tokens=["<|im_start|>", "<|im_end|>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(SAMPLE * 10, trainer)
    tok.save(str(folder / "tokenizer.json"))
    config = {"chat_template": template, "eos_token": "<|im_end|>", "bos_token": None}
    if max_length:
        config["model_max_length"] = max_length
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def chatml(tmp_path_factory) -> Path:
    return make_tokenizer(tmp_path_factory.mktemp("tok") / "chatml", CHATML)


CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
    {"role": "user", "content": "Thanks"},
    {"role": "assistant", "content": "You are welcome.", "weight": 0},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "Bye! 👋"},
]


def _by_hand(tok, messages, trained_roles=("assistant",)):
    """Independent count: encode each turn's pieces and sum them."""
    total = trained = 0
    for m in messages:
        head = tok.encode(f"<|im_start|>{m['role']}\n")
        body = tok.encode(f"{m['content']}<|im_end|>\n")
        total += len(head) + len(body)
        if m["role"] in trained_roles and m.get("weight", 1) == 1:
            trained += len(body)
    return total, trained


def test_template_and_assistant_tokens_by_prefix_rendering(chatml):
    counter = HFCounter(chatml)
    assert not counter.tok.has_generation
    rendered = counter.tok.render(CONVERSATION)
    total, trained = counter.messages(CONVERSATION)
    assert total == len(counter.tok.encode(rendered))
    assert (total, trained) == _by_hand(counter.tok, CONVERSATION)
    assert trained > 0


def test_generation_markers_give_the_same_spans(chatml, tmp_path):
    marked = HFCounter(make_tokenizer(tmp_path / "gen", CHATML_GENERATION))
    assert marked.tok.has_generation
    plain = HFCounter(chatml)
    assert marked.messages(CONVERSATION) == plain.messages(CONVERSATION)


def test_example_kinds(chatml):
    counter = HFCounter(chatml)
    prompt = [{"role": "user", "content": "What is the capital of France?"}]
    chosen = [{"role": "assistant", "content": "Paris."}]
    rejected = [{"role": "assistant", "content": "The capital of France is Paris, of course."}]
    ex = {"kind": "preference", "messages": prompt, "chosen": chosen, "rejected": rejected}
    total, trained = counter.example(ex)
    assert total == counter.messages(prompt + rejected)[0]
    assert trained == counter.messages(prompt + chosen)[1] + counter.messages(prompt + rejected)[1]


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{% for m in messages %}{{ m.__class__.__base__ }}{% endfor %}",
    ],
)
def test_the_sandbox_refuses_python_internals(tmp_path, template):
    folder = make_tokenizer(tmp_path / "evil", template)
    with pytest.raises(TemplateError, match="unsafe"):
        ChatTokenizer(folder)


def test_unsafe_template_is_a_clear_usage_error_not_a_traceback(tmp_path):
    folder = make_tokenizer(tmp_path / "evil", "{{ cycler.__init__.__globals__.os }}")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": CONVERSATION[:3]}) + "\n")
    result = CliRunner().invoke(cli, ["count", str(data), "--tokenizer", str(folder)])
    assert result.exit_code == 2, result.output
    assert "unsafe and was stopped by the sandbox" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(
        cli, ["run", str(data), "--tokenizer", str(folder), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "sandbox" in result.output


def test_broken_folders_fail_clearly(tmp_path):
    with pytest.raises(TokenizerError, match="no tokenizer.json") as err:
        ChatTokenizer(tmp_path)
    assert "tokenizer.json" in str(err.value)
    folder = make_tokenizer(tmp_path / "syntax", "{% for m in messages %}")
    with pytest.raises(TemplateError, match="syntax error"):
        ChatTokenizer(folder)


def test_run_with_tokenizer_counts_and_rejects_rows_the_template_refuses(tmp_path):
    folder = make_tokenizer(tmp_path / "strict", STRICT, max_length=60)
    rows = [
        {"messages": CONVERSATION[:3]},
        {"messages": [CONVERSATION[1], CONVERSATION[0], CONVERSATION[2]]},  # system not first
        {"messages": CONVERSATION},
    ] + [{"messages": [{"role": "user", "content": f"q{i}"}, CONVERSATION[2]]} for i in range(10)]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(data),
            "--tokenizer",
            str(folder),
            "--out",
            str(out),
            "--length-policy",
            "drop",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rejected_by_rule"] == {"count.template_error": 1, "length.over_limit": 1}
    assert manifest["tokenizer"]["library"] == "tokenizers"
    assert manifest["tokenizer"]["max_tokens_per_example"] == 60
    counts = manifest["counts"]
    assert (
        counts["records"]
        == counts["train"] + counts["validation"] + counts["rejected"] + counts["duplicates"]
    )
    tok = ChatTokenizer(folder)
    expected = sum(_by_hand(tok, r["messages"])[0] for r in rows[:1] + rows[3:])
    assert manifest["tokens"]["total"] == expected


def test_a_template_that_refuses_the_system_role_loads_and_rejects_only_those_rows(tmp_path):
    """Gemma-style templates refuse a system message; one that fails on some other row (here a
    division by zero) fails that row only."""
    template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "{% if m['content'] == 'boom' %}{{ 1 // 0 }}{% endif %}"
        "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    )
    folder = make_tokenizer(tmp_path / "gemma_like", template)
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, CONVERSATION[2]]} for i in range(10)
    ]
    rows += [
        {"messages": CONVERSATION[:3]},
        {"messages": [CONVERSATION[1], {"role": "assistant", "content": "boom"}]},
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(
        cli, ["run", str(data), "--tokenizer", str(folder), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rejected_by_rule"] == {"count.template_error": 2}
    result = CliRunner().invoke(cli, ["count", str(data), "--tokenizer", str(folder)])
    assert result.exit_code == 1, result.output  # two rows not counted: a data problem
    assert "examples          10" in result.output
    assert "System role not supported [count.template_error]" in result.output


def test_each_profile_counts_for_a_model_of_its_own(tmp_path):
    """A run for another provider's profile does not pass off OpenAI's tokenizer as its model's:
    without --tokenizer its counts are labelled approximate, with its model's listed limit (or
    none), and --tokenizer with an OpenAI --model is a usage error naming both."""
    from click.testing import CliRunner

    from pipeline.cli import cli
    from tests.conftest import many_chats, write_jsonl

    data = write_jsonl(tmp_path / "in.jsonl", many_chats(30))

    def run(out: str, *args: str):
        result = CliRunner().invoke(cli, ["run", str(data), "--out", str(tmp_path / out), *args])
        return result, (tmp_path / out / "manifest.json")

    expected = {
        "mistral": ("unspecified", None),
        "trl-sft": ("unspecified", None),
        "vertex-gemini": ("gemini-2.5-flash", 131_072),
        "openai-chat": ("gpt-4o-mini-2024-07-18", 65_536),
    }
    for profile, (model, limit) in expected.items():
        result, manifest = run(profile, "--profile", profile)
        assert result.exit_code == 0, result.output
        m = json.loads(manifest.read_text())
        assert (m["model"], m["tokenizer"]["max_tokens_per_example"]) == (model, limit)
        approximate = not profile.startswith("openai")
        assert m["tokenizer"]["approximate"] is approximate
        assert ("approximate: give --tokenizer PATH" in result.output) is approximate
    tok = make_tokenizer(tmp_path / "tok", CHATML)
    result, _ = run("both", "--tokenizer", str(tok), "--model", "gpt-4o-mini")
    assert result.exit_code == 2
    assert "--model gpt-4o-mini names an OpenAI model" in result.output
    assert f"--tokenizer {tok}" in result.output
    result, manifest = run(
        "open", "--tokenizer", str(tok), "--model", "my-chatml", "--profile", "trl-sft"
    )
    assert result.exit_code == 0, result.output
    m = json.loads(manifest.read_text())
    assert m["model"] == "my-chatml" and m["tokenizer"]["encoding"] != "o200k_base"
