"""Dedupe: an Example's id is the hash of its normalised content; a repeated id is an exact copy.

Normalisation: every string is NFKC-normalised, whitespace runs collapse to one space and ends are
stripped. The content is the kind, the messages (role, content, name, tool calls, weight), tools
and the answers; ``meta`` (input ids, categories) and provenance do not count. The first record in
input order is kept; later copies go to duplicates.jsonl with ``duplicate_of``. The index holds
one 128-bit integer per kept Example, not the records.

With ``--dedupe-key prompt`` the key is the hash of the prompt alone (``prompt_key``: for SFT the
messages before the last assistant turn, for preference and unpaired data the prompt messages), so
two records that ask the same thing count as copies whatever their answers; the id is unchanged.
Near copies are found after this stage, by ``near_dedupe``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np
import orjson
import xxhash

CONTENT_FIELDS = ("kind", "messages", "tools", "chosen", "rejected", "completion", "label", "text")


def normalise_text(text: str) -> str:
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):  # ASCII is NFKC
        text = unicodedata.normalize("NFKC", text)
    if _clean(text):
        return text
    return " ".join(text.split())


def _clean(text: str) -> bool:
    """Whether ``" ".join(text.split())`` would return ``text`` unchanged: its only whitespace is
    single spaces between words (every whitespace character but the space is unprintable)."""
    return text[:1] != " " and text[-1:] != " " and "  " not in text and text.isprintable()


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        return normalise_text(value)
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items() if v is not None}
    return value


def content_keys(examples: list[dict[str, Any]]) -> list[bytes]:
    """The canonical bytes of each Example's normalised content.

    Most content is already normal; that is seen on the JSON bytes of a whole batch at once, with
    numpy, and then the bytes are the key. Otherwise every string is normalised on the way."""
    contents = [{f: ex.get(f) for f in CONTENT_FIELDS} for ex in examples]
    raws = [orjson.dumps(content, option=orjson.OPT_SORT_KEYS) for content in contents]
    nulls = [sum(v is None for v in content.values()) for content in contents]
    return [
        raw
        if normal
        else orjson.dumps(
            {f: _normalise(v) for f, v in content.items()}, option=orjson.OPT_SORT_KEYS
        )
        for raw, normal, content in zip(raws, _already_normal(raws, nulls), contents, strict=True)
    ]


def content_key(ex: dict[str, Any]) -> bytes:
    return content_keys([ex])[0]


# In orjson's output, a string that normalisation would change shows whitespace other than a
# single inner space: two spaces, a space beside a string's quote (two adjacent bytes among space
# and quote; an empty string is a harmless hit), or an escape (\n \t \r \f, or \u00XX for the
# other control characters; any backslash that does not escape a quote is checked). orjson never
# writes a raw newline, so one separates the contents of a batch.
_ESCAPES = (b"\\n", b"\\t", b"\\r", b"\\f", b"\\u00")
# whitespace str.split() splits on that NFKC leaves as it is (it maps the other spaces to " ")
_UNICODE_SPACE = re.compile("[\x85\u1680\u2028\u2029]")
_NULL = b"null"


def _already_normal(raws: list[bytes], top_level_nulls: list[int]) -> list[bool]:
    """For each serialised content, whether normalising would leave it unchanged: NFKC changes
    nothing (ASCII, or non-ASCII text ``unicodedata.is_normalized`` says so of), no null inside
    (those entries are dropped), no whitespace to fold. A false "no" only costs time: that
    content is then normalised string by string."""
    n = len(raws)
    if not n:
        return []
    buf = np.frombuffer(b"\n".join(raws), dtype=np.uint8)
    ends = np.cumsum(np.fromiter(map(len, raws), np.int64, n) + 1) - 1  # the separators

    def per_raw(positions: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(ends, positions), minlength=n)

    non_ascii = per_raw(np.flatnonzero(buf >= 128)) > 0
    # a space beside a string's own quote; a quote after a backslash is text (\"). (When it ends
    # a string after an escaped backslash (\\"), its neighbours are a backslash and a comma or a
    # brace, compact JSON has no space there, so taking it as text changes nothing.)
    slash = buf == 92
    quotes = np.flatnonzero(buf == 34)
    escaped = slash[np.maximum(quotes - 1, 0)]
    spacing = buf == 32
    spacing[quotes[~escaped]] = True
    bad = per_raw(np.flatnonzero(spacing[1:] & spacing[:-1])) > 0
    null = buf[:-3] == _NULL[0]
    for i in range(1, 4):
        null &= buf[i : len(buf) - 3 + i] == _NULL[i]
    bad |= per_raw(np.flatnonzero(null)) != np.asarray(top_level_nulls)
    slashes = np.flatnonzero(slash)  # never last: a content ends with "}"
    odd = per_raw(slashes) != per_raw(slashes[buf[slashes + 1] == 34])
    normal = (~bad).tolist()
    for i in np.flatnonzero(odd & ~bad).tolist():
        normal[i] = not any(escape in raws[i] for escape in _ESCAPES)
    for i in np.flatnonzero(non_ascii & ~bad).tolist():
        if normal[i]:
            text = raws[i].decode("utf-8")
            normal[i] = unicodedata.is_normalized("NFKC", text) and not _UNICODE_SPACE.search(text)
    return normal


def example_ids(examples: list[dict[str, Any]]) -> list[str]:
    """Stable ids: 32 hex digits of the xxh3-128 hash of each Example's normalised content."""
    return [xxhash.xxh3_128_hexdigest(key) for key in content_keys(examples)]


def example_id(ex: dict[str, Any]) -> str:
    return example_ids([ex])[0]


def prompt_messages(ex: dict[str, Any]) -> list:
    """The prompt: for SFT the messages before the last assistant turn, else ``messages``."""
    messages = ex.get("messages") or []
    if ex.get("kind", "sft") != "sft":
        return messages
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], dict) and messages[i].get("role") == "assistant":
            return messages[:i]
    return messages


def prompt_key(ex: dict[str, Any], prompt: list) -> str:
    """The dedupe key of ``--dedupe-key prompt``: xxh3-128 of the normalised prompt messages."""
    content = {
        "kind": ex.get("kind"),
        "prompt": _normalise(prompt),
        "tools": _normalise(ex.get("tools")),
    }
    return xxhash.xxh3_128_hexdigest(orjson.dumps(content, option=orjson.OPT_SORT_KEYS))


class ExactIndex:
    """The dedupe keys seen so far, with where each was first seen (for the duplicates report).

    Keys live in sorted numpy runs, merged as they grow (a log-structured set): 24 bytes per kept
    Example (the 128-bit key and one packed integer: source number and line), 40 when the key is
    not the id (``--dedupe-key prompt``: the kept copy's id too), instead of a dict entry of
    about 120. A batch is looked up at once.
    """

    LINE_BITS = 40

    def __init__(self, keep_ids: bool = False) -> None:
        self.keep_ids = keep_ids
        self._runs: list[dict[str, np.ndarray]] = []
        self._sources: list[str] = []
        self._source_index: dict[str, int] = {}
        self._size = 0

    def first_seen_batch(self, examples: list[dict[str, Any]]) -> list[tuple | None]:
        """For each Example in input order: None when new (and remember it), else (source, line)
        of the kept copy, plus the kept copy's id when the index keeps ids. Copies within the
        batch count: the first one is kept."""
        if not examples:
            return []
        keys = [ex.get("dedupe_key") or ex["id"] for ex in examples]
        hi, lo = _split_keys(keys)
        where = self._packed(examples)
        out: list[tuple | None] = [None] * len(examples)
        new = np.ones(len(examples), dtype=bool)
        for run in self._runs:
            rows = _lookup(run, hi, lo)
            for i in np.flatnonzero((rows >= 0) & new):
                out[i] = self._answer(run, int(rows[i]))
                new[i] = False
        first_of: dict[str, int] = {}  # copies within the batch: the first one is kept
        firsts = []
        for i in np.flatnonzero(new).tolist():
            f = first_of.setdefault(keys[i], i)
            if f == i:
                firsts.append(i)
            else:
                kept = self._where(int(where[f]))
                out[i] = (*kept, examples[f]["id"]) if self.keep_ids else kept
        if firsts:
            run = {"hi": hi[firsts], "lo": lo[firsts], "where": where[firsts]}
            if self.keep_ids:
                run["id_hi"], run["id_lo"] = _split_keys([examples[f]["id"] for f in firsts])
            self._add(run)
        return out

    def _packed(self, examples: list[dict[str, Any]]) -> np.ndarray:
        """Where each Example is, packed in one integer: source number and line."""
        sources = [ex["source"] for ex in examples]
        for source in dict.fromkeys(sources):
            if source not in self._source_index:
                self._source_index[source] = len(self._sources)
                self._sources.append(source)
        numbers = np.fromiter(map(self._source_index.__getitem__, sources), np.int64, len(sources))
        lines = np.fromiter((ex["line"] for ex in examples), np.int64, len(examples))
        return (numbers << self.LINE_BITS) | lines

    def _where(self, packed: int) -> tuple[str, int]:
        return self._sources[packed >> self.LINE_BITS], packed & ((1 << self.LINE_BITS) - 1)

    def _answer(self, run: dict[str, np.ndarray], row: int) -> tuple:
        where = self._where(int(run["where"][row]))
        if self.keep_ids:
            return (*where, f"{int(run['id_hi'][row]):016x}{int(run['id_lo'][row]):016x}")
        return where

    def _add(self, run: dict[str, np.ndarray]) -> None:
        self._runs.append(_sorted_run(run))
        self._size += len(run["hi"])
        while len(self._runs) > 1 and len(self._runs[-2]["hi"]) <= 2 * len(self._runs[-1]["hi"]):
            last = self._runs.pop()
            self._runs[-1] = _sorted_run(
                {k: np.concatenate((self._runs[-1][k], last[k])) for k in last}
            )

    def __len__(self) -> int:
        return self._size


def _split_keys(hex_keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """32-hex-digit keys as their high and low 64-bit halves."""
    raw = np.frombuffer(bytes.fromhex("".join(hex_keys)), dtype=">u8").reshape(-1, 2)
    return raw[:, 0].astype(np.uint64), raw[:, 1].astype(np.uint64)


def _sorted_run(run: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A run in the order of the keys' high halves (equal ones, all but impossible for hashes,
    are told apart by ``_lookup``)."""
    order = np.argsort(run["hi"], kind="stable")
    return {k: v[order] for k, v in run.items()}


def _lookup(run: dict[str, np.ndarray], hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Row of each (hi, lo) key in a sorted run, or -1."""
    keys_hi, keys_lo = run["hi"], run["lo"]
    rows = np.full(len(hi), -1, dtype=np.int64)
    if not len(keys_hi):
        return rows
    left = np.searchsorted(keys_hi, hi, side="left")
    hit = keys_hi[np.minimum(left, len(keys_hi) - 1)] == hi
    for i in np.flatnonzero(hit):  # equal high halves: a copy, or (rarely) a neighbour
        right = np.searchsorted(keys_hi, hi[i], side="right")
        match = np.flatnonzero(keys_lo[left[i] : right] == lo[i])
        if len(match):
            rows[i] = left[i] + match[0]
    return rows


def duplicate_record(ex: dict[str, Any], kept: tuple) -> dict[str, Any]:
    """One line of duplicates.jsonl for an exact copy (``kept`` from ``ExactIndex.first_seen``)."""
    return {
        "source": ex["source"],
        "line": ex["line"],
        "id": ex["id"],
        "duplicate_of": kept[2] if len(kept) == 3 else ex["id"],
        "duplicate_of_source": kept[0],
        "duplicate_of_line": kept[1],
        "kind": "exact",
        "similarity": 1.0,
    }


def largest_clusters(path: Any, top: int = 3, capacity: int = 1024) -> list[dict[str, Any]]:
    """The ``top`` representatives with the most removed copies in a duplicates.jsonl: found in
    bounded memory (Misra-Gries over ``duplicate_of`` keeps every id with more than 1/capacity of
    the lines), then counted exactly in a second pass."""
    counts: dict[str, int] = {}
    with open(path, "rb") as f:
        for line in f:
            key = orjson.loads(line)["duplicate_of"]
            if key in counts or len(counts) < capacity:
                counts[key] = counts.get(key, 0) + 1
                continue
            for k in list(counts):
                counts[k] -= 1
                if not counts[k]:
                    del counts[k]
    exact: dict[str, dict[str, Any]] = {}
    with open(path, "rb") as f:
        for line in f:
            row = orjson.loads(line)
            key = row["duplicate_of"]
            if key not in counts:
                continue
            entry = exact.setdefault(
                key,
                {
                    "duplicate_of": key,
                    "source": row["duplicate_of_source"],
                    "line": row["duplicate_of_line"],
                    "copies": 0,
                    "sample": {"source": row["source"], "line": row["line"], "kind": row["kind"]},
                },
            )
            entry["copies"] += 1
    return sorted(exact.values(), key=lambda e: (-e["copies"], e["source"], e["line"]))[:top]
