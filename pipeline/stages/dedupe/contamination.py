"""Benchmark contamination: training prompts that contain an eval item's text.

Takes eval or benchmark files the user names (any shape ftprep reads: GSM8K ``{question,
answer}``, an MMLU-style CSV, chat JSONL, ...) and, for each training Example, says which eval
items its prompt shares a long run of words with. An eval item's text is its prompt (the user
turns of the Example it converts to), or, for a record of no trainable shape, its question-like
column (``question``, ``prompt``, ``instruction``, ``input``, ``problem``, ``query``, ``text``).

The rule, as GPT-3 and open-r1 decontaminated: both texts are normalised like near dedupe's
(NFKC, lowercase, punctuation to spaces, whitespace collapsed) and cut into word 13-grams; a
training prompt that shares one 13-gram with an eval item matches it. An eval item shorter than
13 words matches a training prompt that contains all of it, word for word, if it has at least
``MIN_WORDS`` words; shorter items are too common to tell (they are counted, not checked).
N-grams are 64-bit hashes: the index holds 12 bytes per eval n-gram, whatever the training size.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import ConvertOptions
from pipeline.records import printable
from pipeline.stages import convert, ingest
from pipeline.stages.dedupe.near_features import _grams, mix, normalise, side_texts, word_hashes

NGRAM = 13
MIN_WORDS = 5
RULE = "decontaminate.eval_overlap"
MODES = ("report", "remove")
TEXT_KEYS = ("question", "prompt", "instruction", "input", "problem", "query", "text")
SNIPPET = 200


@dataclass
class EvalSet:
    path: str
    records: int = 0
    items: int = 0
    too_short: int = 0  # items under MIN_WORDS words: not checked
    no_text: int = 0  # records with no text to check


@dataclass
class EvalIndex:
    """The n-grams of every eval item, sorted, with the item each comes from."""

    sets: list[EvalSet] = field(default_factory=list)
    items: list[tuple[str, int, str]] = field(default_factory=list)  # (source, line, text)
    lengths: list[int] = field(default_factory=list)  # n of each table: NGRAM, then short ones
    hashes: list[np.ndarray] = field(default_factory=list)  # per table: sorted uint64
    owners: list[np.ndarray] = field(default_factory=list)  # per table: item of each hash

    @classmethod
    def from_paths(cls, paths: list[Path], options: ConvertOptions) -> EvalIndex:
        index = cls()
        grams: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for path in paths:
            eval_set = EvalSet(printable(str(path)))
            index.sets.append(eval_set)
            batch: list[tuple[str, int, str]] = []
            for source, line, text in _eval_texts(Path(path), eval_set, options):
                batch.append((source, line, text))
                if len(batch) >= 4096:
                    index._add(batch, eval_set, grams)
                    batch = []
            index._add(batch, eval_set, grams)
        for n in sorted(grams, reverse=True):
            values = np.concatenate([v for v, _ in grams[n]])
            owners = np.concatenate([o for _, o in grams[n]])
            order = np.argsort(values, kind="stable")
            index.lengths.append(n)
            index.hashes.append(values[order])
            index.owners.append(owners[order])
        return index

    def _add(self, batch: list[tuple[str, int, str]], eval_set: EvalSet, grams: dict) -> None:
        if not batch:
            return
        texts = [normalise(text) for _, _, text in batch]
        units, owner, counts = word_hashes(texts)
        starts = np.concatenate(([0], np.cumsum(counts)))
        long = counts >= NGRAM
        short = (counts >= MIN_WORDS) & ~long
        eval_set.too_short += int(np.count_nonzero((counts > 0) & (counts < MIN_WORDS)))
        first = len(self.items)
        for source, line, text in batch:
            self.items.append((source, line, _cut(text)))
        eval_set.items += len(batch)
        if long.any():
            values, owners, _ = _grams(units, owner, counts, NGRAM)
            keep = counts[owners] >= NGRAM  # not the one gram of a shorter item
            grams.setdefault(NGRAM, []).append((mix(values[keep]), owners[keep] + first))
        for k in np.flatnonzero(short).tolist():  # the whole item, one gram of its length
            n = int(counts[k])
            words = units[starts[k] : starts[k + 1]]
            value, _, _ = _grams(words, np.zeros(n, np.int64), np.array([n]), n)
            grams.setdefault(n, []).append((mix(value), np.array([k + first])))

    def __len__(self) -> int:
        return len(self.items)

    def match(self, prompts: list[str]) -> list[list[dict[str, Any]]]:
        """For each training prompt, the eval items it contains (at most 3, first by item)."""
        out: list[list[dict[str, Any]]] = [[] for _ in prompts]
        if not self.items or not prompts:
            return out
        texts = [normalise(p) for p in prompts]
        units, owner, counts = word_hashes(texts)
        found: dict[int, dict[int, int]] = {}  # prompt -> item -> first word of the match
        for n, table, items in zip(self.lengths, self.hashes, self.owners, strict=True):
            if not len(table) or not len(units):
                continue
            values, owners, positions = _grams(units, owner, counts, n)
            full = counts[owners] >= n  # a shorter prompt's one gram is not an n-gram
            values, owners, positions = mix(values[full]), owners[full], positions[full]
            at = np.minimum(np.searchsorted(table, values), len(table) - 1)
            for k in np.flatnonzero(table[at] == values).tolist():
                hits = found.setdefault(int(owners[k]), {})
                row = int(at[k])
                while row < len(table) and table[row] == values[k]:
                    hits.setdefault(int(items[row]), int(positions[k]))
                    row += 1
        for p, hits in found.items():
            words = texts[p].decode("utf-8").split(" ")
            for item in sorted(hits)[:3]:
                source, line, text = self.items[item]
                start = hits[item]
                n = min(NGRAM, len(normalise(text).split(b" ")))
                out[p].append(
                    {
                        "eval_source": source,
                        "eval_line": line,
                        "eval_text": text,
                        "ngram": " ".join(words[start : start + n]),
                    }
                )
        return out

    def describe(self, mode: str) -> dict[str, Any]:
        return {
            "mode": mode,
            "ngram": NGRAM,
            "min_words": MIN_WORDS,
            "normalise": "NFKC, lowercase, punctuation to spaces, whitespace collapsed",
            "eval_sets": [vars(s) for s in self.sets],
        }


def file_records(path: Path, options: ConvertOptions):
    """(source, line, parsed, record, the file's shape) of every record under ``path``: each
    file read twice, once to choose its shape as a run does, once to hand out its records
    (``parsed`` False: ``record`` is the parser's rejection)."""
    for src in ingest.discover(path, str(path)):
        counts: collections.Counter = collections.Counter()
        for item in ingest.read_source(src):
            ok, obj = ingest.parse_item(src.name, item)
            if ok:
                counts[convert.shape_of(obj, options)] += 1
        shape, _ = convert.choose_file_shape(counts)
        for item in ingest.read_source(src):
            ok, obj = ingest.parse_item(src.name, item)
            yield src.name, item[0], ok, obj, shape


def _eval_texts(path: Path, eval_set: EvalSet, options: ConvertOptions):
    """(source, line, text) of every eval item under ``path``."""
    for source, line, ok, obj, shape in file_records(path, options):
        eval_set.records += 1
        text = _item_text(obj, source, line, shape, options) if ok else ""
        if text.strip():
            yield source, line, text
        else:
            eval_set.no_text += 1


def _item_text(obj: Any, source: str, line: int, shape: str | None, options) -> str:
    ex = convert.convert_record(obj, source, line, shape, options)
    if "stage" not in ex:
        return side_texts(ex)[1]
    if isinstance(obj, dict):
        for key in TEXT_KEYS:
            for name in (key, key.capitalize(), key.upper()):
                if isinstance(obj.get(name), str) and obj[name].strip():
                    return obj[name]
    return ""


def _cut(text: str) -> str:
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def prompt_texts(examples: list[dict[str, Any]]) -> list[str]:
    """The prompt side of each Example (what is checked against the eval items)."""
    return [side_texts(ex)[1] for ex in examples]


def load(paths: list[Path] | None, options: ConvertOptions) -> EvalIndex | None:
    """The index of the eval files a run names, or None."""
    if not paths:
        return None
    for path in paths:
        if not Path(path).exists():
            hint = ""
            if str(path) in MODES:
                hint = f" (to {path} matches, give --contaminated {path})"
            raise ingest.InputError(f"eval file {path} does not exist{hint}")
    return EvalIndex.from_paths([Path(p) for p in paths], options)
