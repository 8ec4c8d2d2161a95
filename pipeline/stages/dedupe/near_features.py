"""Near-duplicate features: the sides an Example is compared on, and their shingles.

An Example is never compared as one bag of text. It has three sides:

- prompt: the user and tool turns (for preference and unpaired data, the prompt messages);
- response: the assistant turns (content and tool calls), chosen and rejected, the completion
  (its shingles tagged with the label, so the same completion with another label never matches),
  plain ``text``;
- context: system and developer messages and tool definitions, compared whole (a hash of their
  normalised text), so a long system prompt or tool list shared by many records can never make
  two different conversations look alike.

A side's text is normalised (NFKC, lowercase, punctuation to spaces, whitespace collapsed; digits
are kept: "2+2" is not "3+3") and cut into shingles, 32-bit hashes tagged with their side:

- word 5-grams for every side (a text of 1 to 4 words is one gram of all its words): these are
  what boilerplate is counted on, and what a long side is compared on;
- character 4-grams and single words for a short side (at most ``SHORT_CHARS`` characters: a
  question, a label, a one-line answer), which it is compared on instead: word 5-grams say little
  about five words, and the words make a changed word (a number, a name) count more than the few
  character grams it touches. The text is padded with a space at both ends, so a change at an end
  counts as much as one inside.

The worker side calls ``featurise_batch``: per Example the context hash, the character length of
its sides, each side's distinct word 5-grams and, for a short side, its normalised text and its
distinct character 4-grams, as one Arrow record batch (``feature_schema``). Everything here is
vectorised over a batch with numpy; the main side (``near_index``) takes it from there.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

import numpy as np
import orjson
import xxhash

WORD_GRAM = 5
CHAR_GRAM = 4
SHORT_CHARS = 300  # a side of at most this many normalised characters is compared on characters
CHUNK_BYTES = 1 << 20  # normalised bytes hashed at once; a longer text is compared on its start

# Tags mixed into every shingle hash: a side's shingles never equal another side's.
PROMPT, RESPONSE = 0x9A5E_11D5_0000_0001, 0x9A5E_11D5_0000_0002
LABEL_TAGS = {True: 0x1AB0_7E11_0000_0001, False: 0x1AB0_7E11_0000_0002}
CHARS_TAG = 0xC4A2_5000_0000_0000  # character grams, words and word grams never meet either
WORDS_TAG = 0x3D1E_0000_0000_0001

CONTEXT_ROLES = frozenset(("system", "developer"))

_PUNCT = re.compile(r"[^\w\s]+")
_WS = re.compile(r"\s+")


# ---------------------------------------------------------------- sides


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: their text
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _tool_calls_text(calls: Any) -> str:
    """Tool calls as text: each function's name and arguments (what the model is trained to say)."""
    if not isinstance(calls, list):
        return ""
    out = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            args = fn.get("arguments")
            if not isinstance(args, str):
                args = orjson.dumps(args, option=orjson.OPT_SORT_KEYS).decode()
            out.append(f"{fn.get('name', '')} {args}")
    return "\n".join(out)


def _message_text(m: dict) -> str:
    text = _content_text(m.get("content"))
    calls = m.get("tool_calls")
    text = f"{text}\n{_tool_calls_text(calls)}" if calls else text
    reasoning = m.get("reasoning")  # an assistant's reasoning trace is part of its response
    return f"{reasoning}\n{text}" if isinstance(reasoning, str) and reasoning else text


def side_texts(ex: dict[str, Any], prompt_only: bool = False) -> tuple[str, str, str, int]:
    """(context, prompt, response, response tag) of an Example; with ``prompt_only`` (dedupe on
    the prompt alone) the response is left empty."""
    context, prompt, response = [], [], []
    sft = ex.get("kind", "sft") == "sft"
    for m in ex.get("messages") or ():
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role in CONTEXT_ROLES:
            context.append(_content_text(m.get("content")))
        elif role == "assistant" and sft:
            response.append(_message_text(m))
        else:  # user and tool turns (and the earlier turns of a preference or unpaired prompt)
            prompt.append(_message_text(m))
    tools = ex.get("tools")
    if tools:
        context.append(orjson.dumps(tools, option=orjson.OPT_SORT_KEYS).decode())
    tag = RESPONSE
    if not prompt_only:
        for field in ("chosen", "rejected", "completion"):
            messages = ex.get(field)
            if isinstance(messages, list):
                response.append(
                    f"\n{field}\n"
                )  # chosen A / rejected B is not chosen B / rejected A
                response.extend(_message_text(m) for m in messages if isinstance(m, dict))
        if isinstance(ex.get("text"), str):
            response.append(ex["text"])
        label = ex.get("label")
        if ex.get("kind") == "unpaired" and isinstance(label, bool):
            tag ^= LABEL_TAGS[label]
    else:
        response = []
    return "\n".join(context), "\n".join(prompt), "\n".join(response), tag


def context_hash(text: str) -> int:
    """The context's key: xxh3-64 of its normalised text (0 when there is none)."""
    if not text:
        return 0
    return xxhash.xxh3_64_intdigest(normalise(text)) or 1


# ---------------------------------------------------------------- normalisation


def _ascii_table() -> bytes:
    """``normalise`` for ASCII as a bytes.translate table: letters lowercased, digits and
    underscore kept (word characters), everything else a space."""
    table = bytearray(range(256))
    for code in range(128):
        c = chr(code)
        if c.isalnum() or c == "_":
            table[code] = ord(c.lower())
        else:
            table[code] = ord(" ")
    return bytes(table)


_ASCII = _ascii_table()


def normalise(text: str) -> bytes:
    """A side's normalised text as UTF-8: NFKC, lowercase, every run of characters that are not
    letters, digits or underscore one space, no space at either end."""
    return b" ".join(normalise_words(text)[0].split())


def normalise_words(text: str) -> tuple[bytes, int | None]:
    """``normalise`` as the word hashing takes it: for ASCII text the bytes with their spaces not
    yet collapsed (words are found between spaces either way; collapsing costs more than the rest)
    and None; otherwise the normalised bytes and their length in characters."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII), None
    text = " ".join(_PUNCT.sub(" ", unicodedata.normalize("NFKC", text).lower()).split())
    return text.encode("utf-8"), len(text)


# ---------------------------------------------------------------- hashing (vectorised)

_P = np.uint64(0x100000001B3)
_P_INV = np.uint64(pow(int(_P), -1, 2**64))
_K = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_32 = np.uint64(32)


def mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise (uint64 arithmetic wraps)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@functools.lru_cache(maxsize=1)
def _power_tables() -> tuple[np.ndarray, np.ndarray]:
    """_P**(j+1) and _P_INV**(j+1) for j < CHUNK_BYTES + 2 (built once per process)."""
    n = CHUNK_BYTES + 2
    with np.errstate(over="ignore"):
        return (
            np.cumprod(np.full(n, _P, dtype=np.uint64)),
            np.cumprod(np.full(n, _P_INV, dtype=np.uint64)),
        )


def _chunks(texts: list[bytes]) -> list[tuple[int, int]]:
    """[start, stop) ranges of texts whose joined bytes fit in CHUNK_BYTES."""
    out, start, size = [], 0, 0
    for i, t in enumerate(texts):
        if i > start and size + len(t) + 1 > CHUNK_BYTES:
            out.append((start, i))
            start, size = i, 0
        size += len(t) + 1
    if start < len(texts):
        out.append((start, len(texts)))
    return out


def _cut(text: bytes) -> bytes:
    """A text longer than CHUNK_BYTES, compared on its start (cut at a space)."""
    if len(text) + 2 <= CHUNK_BYTES:
        return text
    cut = text[: CHUNK_BYTES - 2]
    return cut[: cut.rfind(b" ")] if b" " in cut else cut


def word_hashes(
    texts: list[bytes], word_bytes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every word of a batch of normalised texts (spaces need not be collapsed) as a 64-bit hash:
    (hashes, owner text, words per text). A word's hash is its polynomial hash (from prefix sums
    over the bytes) mixed. ``word_bytes``, when given, receives the bytes of each text's words
    (with the words per text: the length of the text with its spaces collapsed)."""
    texts = [_cut(t) for t in texts]
    hashes, owners = [], []
    counts = np.zeros(len(texts), dtype=np.int64)
    power, inverse = _power_tables()
    for start, stop in _chunks(texts):
        buf = np.frombuffer(b" " + b" ".join(texts[start:stop]) + b" ", dtype=np.uint8)
        in_word = buf != 32
        edges = np.flatnonzero(in_word[1:] ^ in_word[:-1]) + 1  # alternate starts and ends
        starts, ends = edges[0::2], edges[1::2]
        prefix = np.empty(len(buf) + 1, dtype=np.uint64)
        prefix[0] = 0
        with np.errstate(over="ignore"):
            np.cumsum(buf * power[: len(buf)], out=prefix[1:])
            words = mix((prefix[ends] - prefix[starts]) * inverse[starts] + np.uint64(1))
        offsets = np.cumsum([1] + [len(t) + 1 for t in texts[start:stop]])
        first = np.searchsorted(starts, offsets)
        per_text = np.diff(first)
        counts[start:stop] = per_text
        if word_bytes is not None:
            sizes = np.concatenate(([0], np.cumsum(ends - starts)))
            word_bytes[start:stop] = sizes[first[1:]] - sizes[first[:-1]]
        hashes.append(words)
        owners.append(np.repeat(np.arange(start, stop), per_text))
    if not hashes:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), counts
    return np.concatenate(hashes), np.concatenate(owners), counts


def _grams(
    units: np.ndarray, owner: np.ndarray, counts: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polynomial n-grams over a flat array of unit hashes grouped by owner: (64-bit gram values,
    owner, position of the gram's first unit within its text). A text of 1 to n-1 units has one
    gram of all its units."""
    m = max(len(units) - n + 1, 0)
    with np.errstate(over="ignore"):
        acc = units[:m].copy()
        for i in range(1, n):
            acc = acc * _K + units[i : i + m]
    first_owner = owner[:m]
    valid = first_owner == owner[n - 1 :] if m else np.zeros(0, bool)
    starts = np.concatenate(([0], np.cumsum(counts)))
    values, owners, positions = [acc[valid]], [first_owner[valid]], []
    positions.append(np.flatnonzero(valid) - starts[first_owner[valid]])
    few = np.flatnonzero((counts > 0) & (counts < n))
    if len(few):
        with np.errstate(over="ignore"):
            small = np.zeros(len(few), dtype=np.uint64)
            for k in range(n - 1):  # up to n-1 units, each text its own length
                has = counts[few] > k
                small[has] = small[has] * _K + units[starts[few[has]] + k]
        values.append(small)
        owners.append(few)
        positions.append(np.zeros(len(few), dtype=np.int64))
    return np.concatenate(values), np.concatenate(owners), np.concatenate(positions)


def word_grams(
    texts: list[bytes], tags: np.ndarray, collapsed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word 5-grams of normalised texts as 32-bit hashes tagged per text: (hashes, owner, first
    word of each gram). ``collapsed``, when given, receives each text's length in bytes with its
    spaces collapsed."""
    units, owner, counts = word_hashes(texts, collapsed)
    if collapsed is not None:
        collapsed += np.maximum(counts - 1, 0)
    values, owners, positions = _grams(units, owner, counts, WORD_GRAM)
    with np.errstate(over="ignore"):
        hashed = mix(values ^ tags[owners]) >> _32
    return hashed.astype(np.uint32), owners, positions


def char_grams(texts: list[str], tags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Character 4-grams of normalised texts, each padded with a space at both ends (a change at
    either end counts as much as one inside), as 32-bit hashes tagged per text: (hashes, owner,
    position of the gram's first character in the padded text)."""
    padded = [f" {t} " if t else "" for t in texts]
    counts = np.fromiter(map(len, padded), np.int64, len(padded))
    if not counts.sum():
        return np.zeros(0, np.uint32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    units = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    owner = np.repeat(np.arange(len(padded)), counts)
    with np.errstate(over="ignore"):
        units = units * _M1 + np.uint64(1)
    values, owners, positions = _grams(units, owner, counts, CHAR_GRAM)
    with np.errstate(over="ignore"):
        hashed = mix(values ^ tags[owners] ^ np.uint64(CHARS_TAG)) >> _32
    return hashed.astype(np.uint32), owners, positions


def word_units(texts: list[str], tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each word of normalised texts as a 32-bit hash tagged per text: (hashes, owner); word k of
    a text is its k-th hash."""
    units, owner, _ = word_hashes([t.encode("utf-8") for t in texts])
    with np.errstate(over="ignore"):
        hashed = mix(units ^ tags[owner] ^ np.uint64(WORDS_TAG)) >> _32
    return hashed.astype(np.uint32), owner


def short_shingles(texts: list[str], tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a short side is compared on: its character 4-grams and its words (a word that
    changes, a number above all, weighs more than the few character grams it touches)."""
    c_hashes, c_owner, _ = char_grams(texts, tags)
    w_hashes, w_owner = word_units(texts, tags)
    return np.concatenate((c_hashes, w_hashes)), np.concatenate((c_owner, w_owner))


def distinct_per_text(
    hashes: np.ndarray, owner: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each text's distinct hashes, sorted: (values, offsets of n + 1 into them)."""
    key = np.sort((owner.astype(np.uint64) << _32) | hashes.astype(np.uint64))
    if len(key):  # np.unique hashes uint64 values: sorting is several times faster here
        key = key[np.concatenate(([True], key[1:] != key[:-1]))]
    offsets = np.searchsorted(key >> _32, np.arange(n + 1, dtype=np.uint64))
    return (key & np.uint64(0xFFFFFFFF)).astype(np.uint32), offsets.astype(np.int64)


# ---------------------------------------------------------------- the worker side


@functools.lru_cache(maxsize=1)
def feature_schema() -> Any:
    import pyarrow as pa

    words = pa.list_(pa.uint32())
    return pa.schema(
        [
            ("ctx", pa.uint64()),
            ("r_tag", pa.uint64()),  # the response side's tag (it carries a completion's label)
            ("length", pa.int64()),  # normalised characters of prompt + response
            ("p_words", words),
            ("r_words", words),
            ("p_chars", words),  # a short side's character 4-grams and words; empty for a long side
            ("r_chars", words),
            ("p_text", pa.binary()),  # the normalised text of a short side, else null
            ("r_text", pa.binary()),
        ]
    )


SIDES = ("p", "r")


def featurise_batch(examples: list[dict[str, Any]], prompt_only: bool = False) -> Any:
    """The near-duplicate features of a batch of Examples, row i for Example i."""
    import pyarrow as pa

    n = len(examples)
    ctx = np.zeros(n, dtype=np.uint64)
    texts: dict[str, list[bytes]] = {"p": [], "r": []}
    chars: dict[str, list[int | None]] = {"p": [], "r": []}
    tags = {"p": np.full(n, PROMPT, dtype=np.uint64), "r": np.zeros(n, dtype=np.uint64)}
    for i, ex in enumerate(examples):
        c, p, r, tag = side_texts(ex, prompt_only)
        ctx[i] = context_hash(c)
        for side, text in (("p", p), ("r", r)):
            data, length = normalise_words(text) if text else (b"", None)
            texts[side].append(data)
            chars[side].append(length)
        tags["r"][i] = tag
    columns: dict[str, Any] = {
        "ctx": pa.array(ctx, pa.uint64()),
        "r_tag": pa.array(tags["r"], pa.uint64()),
    }
    lengths = np.zeros(n, dtype=np.int64)
    for side in SIDES:
        data = texts[side]
        length = np.zeros(n, dtype=np.int64)  # characters, once collapsed (ASCII: bytes)
        hashes, owner, _ = word_grams(data, tags[side], length)
        known = [k for k, c in enumerate(chars[side]) if c is not None]
        if known:
            length[known] = [chars[side][k] for k in known]
        lengths += length
        short = length <= SHORT_CHARS
        columns[f"{side}_words"] = _lists(*distinct_per_text(hashes, owner, n))
        rows = np.flatnonzero(short)
        collapsed = {int(k): b" ".join(data[k].split()) for k in rows}
        short_texts = [collapsed[int(k)].decode("utf-8") for k in rows]
        c_hashes, c_owner = short_shingles(short_texts, tags[side][rows])
        values, offsets = distinct_per_text(c_hashes, rows[c_owner], n)
        columns[f"{side}_chars"] = _lists(values, offsets)
        columns[f"{side}_text"] = pa.array([collapsed.get(k) for k in range(n)], pa.binary())
    columns["length"] = pa.array(lengths, pa.int64())
    return pa.record_batch([columns[f.name] for f in feature_schema()], schema=feature_schema())


def _lists(values: np.ndarray, offsets: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values))


def list_values(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """A list<uint32> column (Array or single-chunk) as (flat values, offsets of rows + 1), zero
    copy where Arrow allows."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    offsets = column.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    values = column.values.to_numpy(zero_copy_only=False)
    return values, offsets
