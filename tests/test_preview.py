"""``ftprep preview``: exact output, the HTML page, and real templates."""

from __future__ import annotations

import html
import re

from click.testing import CliRunner

from pipeline.cli import cli
from tests import chat_models as cm
from tests.conftest import SHARED_DATA, needs_shared_data, write_jsonl
from tests.test_hf_tokens import CHATML, make_tokenizer

ROWS = [
    {
        "messages": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "<b>Paris</b>"},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Thanks", "weight": 0},
            {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "You are welcome."},
        ]
    },
]


def test_piped_output_marks_trained_tokens(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", ROWS)
    tok = make_tokenizer(tmp_path / "tok", CHATML)
    result = CliRunner().invoke(cli, ["preview", str(data), "--tokenizer", str(tok), "--n", "2"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "ftprep preview: tokenizers:tok; trained tokens inside ⟦ ⟧, masked ones outside\n"
        "\n"
        f"{data}:1: 26 tokens, 11 trained\n"
        "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n"
        "⟦<b>Paris</b><|im_end|>\n⟧\n"
        "\n"
        f"{data}:2: 44 tokens, 6 trained\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        "Thanks<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
        "⟦You are welcome.<|im_end|>\n⟧\n"
    )


def test_openai_models_show_which_messages_carry_weight(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", ROWS[1:])
    result = CliRunner().invoke(cli, ["preview", str(data), "--model", "gpt-4o-mini"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[2:] == [
        f"{data}:1: 32 tokens, 4 trained",
        "[user, not trained] What is the capital of France?",
        "[assistant, not trained] Thanks",
        "[user, not trained] Bye",
        "[assistant, trained] ⟦You are welcome.⟧",
    ]


def test_html_page_is_escaped_and_loads_nothing(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", ROWS)
    tok = make_tokenizer(tmp_path / "tok", CHATML)
    page = tmp_path / "p.html"
    result = CliRunner().invoke(
        cli, ["preview", str(data), "--tokenizer", str(tok), "--html", str(page)]
    )
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "<b>" not in text
    shown = html.unescape(re.sub(r"<[^>]*>", "", text))  # the page's text, tags removed
    assert "<b>Paris</b><|im_end|>" in shown
    assert "&lt;|im_end|&gt;" in text
    assert "http" not in text and "src=" not in text and "<script" not in text
    assert text.count("class='t") == 11 + 6


def test_preview_needs_a_model_or_a_tokenizer(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", ROWS)
    result = CliRunner().invoke(cli, ["preview", str(data)])
    assert result.exit_code == 2
    assert "give --tokenizer DIR (an open model) or --model M" in result.output


@needs_shared_data
def test_real_template_shows_each_assistant_turn_and_what_the_template_drops(tmp_path):
    data = SHARED_DATA / "misc_openai_chat" / "pirate_training_set.jsonl"
    result = CliRunner().invoke(
        cli, ["preview", str(data), "--tokenizer", str(cm.folder("phi3-old", tmp_path)), "--n", "2"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("[template.system_dropped]") == 2
    body = result.output.split("\n", 1)[1]
    assert body.count("⟦") == 2 and "⟦<|user|>" not in body
    assert "<|assistant|>" in result.output
