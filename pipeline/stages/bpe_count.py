"""Exact token counts without building token lists: rs-bpe's ``count``.

tiktoken is the reference: ``encode_ordinary`` then ``len`` is what an OpenAI token count means
here. rs-bpe (a Rust byte-pair encoder on PyPI, MIT, with cl100k_base and o200k_base built into
its wheel) counts the same text to the same number without materialising the tokens, in about
0.6x of tiktoken's time on chat text. It is used only when it is installed, knows the encoding,
and gives tiktoken's counts for a set of probe texts when it is loaded (special-token text, long
runs, mixed scripts, emoji, control characters; ``PROBE_COUNTS`` holds tiktoken's numbers, and the
suite checks them against tiktoken and compares the two counters on generated text); otherwise
tiktoken counts.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

PROBES = (
    "",
    "<|endoftext|> <|im_start|>user<|im_sep|>",
    "hello\n\n\n  world\r\n\t end",
    " " * 300 + "x" * 300,
    "😀🇺🇸👨‍👩‍👧 日本語のテキスト Ελληνικά русский текст",
    "def f(x):\n\treturn x ** 2  # comment\n",
    "\x00\x01\ufffd ﬁ ligature 's 're 've 1234567890" * 3,
)
PROBE_COUNTS = {  # len(tiktoken encode_ordinary) of each probe
    "o200k_base": (0, 20, 7, 42, 23, 13, 51),
    "cl100k_base": (0, 19, 7, 42, 43, 13, 54),
}


@lru_cache(maxsize=4)
def fast_counter(encoding_name: str) -> Callable[[str], int] | None:
    """rs-bpe's ``count`` for ``encoding_name`` when it is installed and counts the probes as
    tiktoken does, else None (tiktoken counts)."""
    expected = PROBE_COUNTS.get(encoding_name)
    if expected is None:
        return None
    try:
        from rs_bpe.bpe import openai as rs_openai
    except ImportError:
        return None
    count = getattr(rs_openai, encoding_name)().count
    if tuple(count(text) for text in PROBES) != expected:
        return None
    return count


def backend(encoding_name: str) -> str:
    """Which library counts tokens of ``encoding_name`` (for the manifest)."""
    if fast_counter(encoding_name) is None:
        return "tiktoken"
    from importlib import metadata

    return f"rs-bpe {metadata.version('rs-bpe')} (same counts as tiktoken)"
