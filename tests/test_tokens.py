"""Token counts: the chat formula against an independent computation on real files, images,
tool definitions against API-measured counts, the model table, and the batch cache."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.profiles.models import MODELS, UnknownModel, base_model, model_info
from pipeline.stages.tokens import (
    Counter,
    data_url_size,
    get_encoding,
    image_size,
    image_tokens,
    render_tools,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared data sets not present")


# ---------------------------------------------------------------- independent formula


def independent(messages: list, tools: list | None, enc) -> tuple[int, int]:
    """The published formula written out plainly, one encode per string, no cache."""

    def n(s):
        return len(enc.encode(s, disallowed_special=()))

    total, trained = 3, 0
    padded = False
    for m in messages:
        content = m.get("content")
        if tools and m["role"] == "system" and not padded:
            content, padded = content + "\n", True
        said = 0
        if isinstance(content, str):
            said += n(content)
        elif isinstance(content, list):
            said += sum(n(p["text"]) for p in content if p.get("type") == "text")
        calls = [c["function"] for c in m.get("tool_calls") or []]
        for fn in calls:
            said += n(fn["name"]) + n(fn["arguments"])
        total += 3 + n(m["role"]) + said + 3 * len(calls)
        if m.get("name"):
            total += n(m["name"]) + 1
        if m["role"] == "assistant" and m.get("weight", 1) == 1:
            trained += said
    if tools:
        total += n(render_tools(tools)) + 9
        if any(m["role"] == "system" for m in messages):
            total -= 4
    return total, trained


def _chat_rows():
    files = [
        *sorted((DATA / "openai_cookbook").glob("*.jsonl")),
        *sorted((DATA / "misc_openai_chat").glob("*.jsonl")),
    ]
    for f in files:
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                row = json.loads(line)
                yield f"{f.name}:{i}", row["messages"], row.get("tools")
    for i, row in enumerate(
        json.loads((DATA / "llamafactory" / "kto_en_demo.json").read_text()), 1
    ):
        yield f"kto_en_demo.json:{i}", row["messages"], None


@needs_data
@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_counts_equal_independent_formula_on_real_files(encoding):
    counter = Counter(encoding)
    enc = get_encoding(encoding)
    rows = list(_chat_rows())
    assert len(rows) > 400
    with_tools = 0
    for where, messages, tools in rows:
        with_tools += bool(tools)
        assert counter.messages(messages, tools) == independent(messages, tools, enc), where
    assert with_tools >= 100  # drone_training.jsonl: tool definitions and tool calls


@needs_data
def test_example_count_matches_messages_for_sft_rows():
    from pipeline.stages.convert import ConvertOptions, convert_record

    counter = Counter("o200k_base")
    path = DATA / "openai_cookbook" / "drone_training.jsonl"
    for i, line in enumerate(path.read_text().splitlines(), 1):
        row = json.loads(line)
        ex = convert_record(row, "d", i, "openai_messages", ConvertOptions())
        if "stage" in ex:
            continue
        assert counter.example(ex) == counter.messages(row["messages"], row.get("tools"))


# API-measured prompt_tokens for gpt-3.5-turbo (cl100k_base), from the test table of
# hmarr/openai-chat-tokens (tests/token-counts.test.ts), whose method tokens.py follows.
FOO = {"name": "foo", "parameters": {"type": "object", "properties": {}}}
STUFF = {"name": "do_stuff", "parameters": {"type": "object", "properties": {}}}
RECIPE = {
    "name": "get_recipe",
    "parameters": {
        "type": "object",
        "required": ["ingredients", "instructions", "time_to_cook"],
        "properties": {
            "ingredients": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "unit", "amount"],
                    "properties": {
                        "name": {"type": "string"},
                        "unit": {
                            "enum": ["grams", "ml", "cups", "pieces", "teaspoons"],
                            "type": "string",
                        },
                        "amount": {"type": "number"},
                    },
                },
            },
            "instructions": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Steps to prepare the recipe (no numbering)",
            },
            "time_to_cook": {
                "type": "number",
                "description": "Total time to prepare the recipe in minutes",
            },
        },
    },
}
BING = {
    "name": "bing_bong",
    "description": "Do a bing bong",
    "parameters": {
        "type": "object",
        "properties": {
            "foo": {"type": "string"},
            "bar": {"type": "number", "description": "A number"},
        },
    },
}
NESTED = {
    "name": "bing_bong",
    "description": "Do a bing bong",
    "parameters": {
        "type": "object",
        "properties": {
            "foo": {
                "type": "object",
                "properties": {
                    "bar": {"type": "string", "enum": ["a", "b", "c"]},
                    "baz": {"type": "boolean"},
                },
            }
        },
    },
}
API_CASES = [
    ([{"role": "user", "content": "hello"}], None, 8),
    ([{"role": "user", "content": "hello world"}], None, 9),
    ([{"role": "system", "content": "hello:"}], None, 9),
    (
        [
            {"role": "system", "content": "# Important: you're the best robot"},
            {"role": "user", "content": "hello robot"},
            {"role": "assistant", "content": "hello world"},
        ],
        None,
        27,
    ),
    ([{"role": "user", "content": "hello"}], [FOO], 31),
    ([{"role": "user", "content": "hello"}], [{**FOO, "description": "Do a foo"}], 36),
    ([{"role": "user", "content": "hello"}], [BING], 57),
    ([{"role": "user", "content": "hello"}], [NESTED], 68),
    ([{"role": "user", "content": "hello"}], [RECIPE], 106),
    (
        [
            {"role": "user", "content": "hello world"},
            {"role": "function", "name": "do_stuff", "content": '{"foo": "bar", "baz": 1.5}'},
        ],
        None,
        28,
    ),
    (
        [
            {
                "role": "assistant",
                "content": "",
                "function_call": {"name": "do_stuff", "arguments": '{"foo": "bar", "baz": 1.5}'},
            }
        ],
        None,
        26,
    ),
    (
        [{"role": "system", "content": "Hello:"}, {"role": "user", "content": "Hi there"}],
        [STUFF],
        35,
    ),
    (
        [
            {"role": "system", "content": "Hello:"},
            {"role": "system", "content": "Hello"},
            {"role": "user", "content": "Hi there"},
        ],
        [STUFF],
        40,
    ),
]


@pytest.mark.parametrize("messages,functions,expected", API_CASES)
def test_counts_match_api_measured_prompt_tokens(messages, functions, expected):
    tools = [{"type": "function", "function": f} for f in functions] if functions else None
    assert Counter("cl100k_base").messages(messages, tools)[0] == expected


def test_tool_rendering_is_the_typescript_namespace():
    assert render_tools([{"type": "function", "function": BING}]) == (
        "namespace functions {\n\n// Do a bing bong\ntype bing_bong = (_: {\nfoo?: string,\n"
        "// A number\nbar?: number,\n}) => any;\n\n} // namespace functions"
    )


def test_trained_tokens_are_weighted_assistant_content_and_calls():
    c = Counter("o200k_base")
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "skip me", "weight": 0},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
    ]
    _, trained = c.messages(messages)
    assert trained == c.n("f") + c.n('{"a": 1}') + c.n("done")


# ---------------------------------------------------------------- images


def _png(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def _jpeg(w: int, h: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    exif = b"\xff\xe1" + struct.pack(">H", 2 + 6000) + b"\x00" * 6000  # pushes SOF past 4 KB
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + exif + sof + b"\xff\xd9"


def _webp_vp8x(w: int, h: int) -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    body += (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _webp_vp8l(w: int, h: int) -> bytes:
    bits = (w - 1) | ((h - 1) << 14)
    body = b"VP8L" + struct.pack("<I", 5) + b"\x2f" + bits.to_bytes(4, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _gif(w: int, h: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", w, h) + b"\x00\x00\x00"


@pytest.mark.parametrize("make", [_png, _jpeg, _webp_vp8x, _webp_vp8l, _gif])
def test_image_size_from_header(make):
    assert image_size(make(1234, 567)) == (1234, 567)
    url = "data:image/x;base64," + base64.b64encode(make(1234, 567) + b"\0" * 50_000).decode()
    assert data_url_size(url) == (1234, 567)


def test_image_tokens_follow_the_published_rule():
    # The worked examples of OpenAI's vision guide ("Calculating costs").
    assert image_tokens("high", (1024, 1024)) == 765
    assert image_tokens("high", (2048, 4096)) == 1105
    assert image_tokens("low", (4096, 8192)) == 85
    assert image_tokens("auto", (512, 512)) == 255  # small images are never scaled up
    assert image_tokens("high", None) == 1445  # unknown size: the largest possible


def test_image_parts_are_counted_in_messages():
    c = Counter("o200k_base")
    png = "data:image/png;base64," + base64.b64encode(_png(1024, 1024)).decode()
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": png}},
        {"type": "image_url", "image_url": {"url": "https://x/y.jpg", "detail": "low"}},
    ]
    assert c.content(content) == c.n("what is this?") + 765 + 85
    assert data_url_size("data:image/png;base64,!!!not base64") is None
    assert image_size(b"not an image") is None


# ---------------------------------------------------------------- models

MODEL_TABLE = [
    ("gpt-4o-mini-2024-07-18", "o200k_base", 65_536),
    ("gpt-4o-mini", "o200k_base", 65_536),
    ("gpt-4o-2024-08-06", "o200k_base", 65_536),
    ("gpt-4o", "o200k_base", 65_536),
    ("gpt-4.1-2025-04-14", "o200k_base", 65_536),
    ("gpt-4.1-mini", "o200k_base", 65_536),
    ("gpt-4.1-nano-2025-04-14", "o200k_base", 32_768),
    ("o4-mini", "o200k_base", 65_536),
    ("gpt-3.5-turbo", "cl100k_base", 16_385),
    ("gpt-3.5-turbo-0613", "cl100k_base", 4_096),
    ("gpt-3.5-turbo-1106", "cl100k_base", 16_385),
    ("gpt-4-0613", "cl100k_base", 8_192),
    ("babbage-002", "cl100k_base", 16_384),
    ("davinci-002", "cl100k_base", 16_384),
    # fine-tuned ids go through their base model (tiktoken would say cl100k_base for gpt-4.1)
    ("ft:gpt-4.1-mini-2025-04-14:org::id", "o200k_base", 65_536),
    ("ft:gpt-4.1-2025-04-14:my-org:custom-suffix:9abcDEF", "o200k_base", 65_536),
    ("ft:gpt-4o-mini-2024-07-18:org:name:abc123", "o200k_base", 65_536),
    ("ft:gpt-3.5-turbo-0125:org::xyz", "cl100k_base", 16_385),
    ("ft:davinci-002:org::xyz", "cl100k_base", 16_384),
    # Azure OpenAI names
    ("gpt-35-turbo", "cl100k_base", 16_385),
    ("gpt-35-turbo-0613", "cl100k_base", 4_096),
    ("gpt-35-turbo-1106", "cl100k_base", 16_385),
    ("gpt-35-turbo-0613.ft-5fd1918ee65d4cd38a5dcf6835066ed7", "cl100k_base", 4_096),
    ("gpt-4o-mini-2024-07-18.ft-0123456789abcdef", "o200k_base", 65_536),
    ("gpt-4o-mini 2024-07-18", "o200k_base", 65_536),
    # known families without a published training limit
    ("gpt-4-turbo", "cl100k_base", None),
    ("o3-mini", "o200k_base", None),
    ("gpt-5", "o200k_base", None),
]


@pytest.mark.parametrize("model,encoding,limit", MODEL_TABLE)
def test_model_table(model, encoding, limit):
    info = model_info(model)
    assert (info.encoding, info.max_tokens) == (encoding, limit)
    assert info.source


def test_tiktoken_itself_gets_fine_tuned_gpt_41_wrong():
    import tiktoken.model

    assert (
        tiktoken.model.encoding_name_for_model("ft:gpt-4.1-mini-2025-04-14:org::id")
        == "cl100k_base"
    )
    assert base_model("ft:gpt-4.1-mini-2025-04-14:org::id") == "gpt-4.1-mini-2025-04-14"


def test_every_limit_has_a_source_and_unknown_models_fail_clearly():
    assert all(m.source for m in MODELS.values())
    for bad in ("llama-3-8b", "", "claude-3"):
        with pytest.raises(UnknownModel, match="unknown model|no model"):
            model_info(bad)


# ---------------------------------------------------------------- cache and properties


def test_a_repeated_string_is_encoded_once():
    c = Counter("o200k_base")
    calls = []
    count = c._count
    c._count = lambda s: calls.append(s) or count(s)
    system = {"role": "system", "content": "You are a careful assistant. " * 20}
    for i in range(50):
        c.messages([system, {"role": "user", "content": f"q{i}"}])
    assert calls.count(system["content"]) == 1
    assert calls.count("system") == 1


text = st.text(max_size=40)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": text},
    optional={"name": st.sampled_from(["bob", "a_b"]), "weight": st.sampled_from([0, 1])},
)


@settings(max_examples=60, deadline=None)
@given(st.lists(message, max_size=6), message)
def test_formula_properties(messages, extra):
    c = Counter("cl100k_base")
    total, trained = c.messages(messages)
    assert total >= 3 + 4 * len(messages) and 0 <= trained <= total
    more, more_trained = c.messages([*messages, extra])
    assert more - total == c.message(extra)[0] >= 4
    assert more_trained >= trained


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["system", "user", "assistant", "tool", "function", ""]), st.text())
def test_role_and_content_messages_count_as_the_general_rule(role: str, content: str) -> None:
    """The shortcut for two-key messages gives what the general rule gives (a weight key sends
    the same message the general way without changing its count)."""
    counter = Counter("o200k_base")
    assert counter.message({"role": role, "content": content}) == counter.message(
        {"role": role, "content": content, "weight": 1}
    )
