"""A realistic chat corpus for the benchmark: varied lengths, system prompts that repeat, tool
calls, exact and near duplicates and a few defective lines. Deterministic for a seed."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = (
    "the a to of and in for on with as by from at about trail tent boot stove lantern river summit "
    "valley forest meadow ridge canyon lake camp map compass jacket glove rope anchor harbor island "
    "bridge tower garden market bakery recipe order refund shipping size colour warranty repair "
    "battery charge weather forecast route elevation distance permit season discount invoice"
).split()
SYSTEMS = [
    "You are Lumen Outfitters' support assistant. Be concise and friendly.",
    "You are a trip-planning assistant. Give practical, safe advice.",
    "You are a helpful assistant.",
]


def _sentence(rng: random.Random, n: int) -> str:
    words = rng.choices(WORDS, k=n)
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random, words: int) -> str:
    out, left = [], words
    while left > 0:
        n = min(left, rng.randint(6, 20))
        out.append(_sentence(rng, n))
        left -= n
    return " ".join(out)


def example(rng: random.Random, i: int) -> dict:
    messages = [{"role": "system", "content": rng.choice(SYSTEMS)}]
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        messages.append(
            {"role": "user", "content": f"#{i} " + _paragraph(rng, rng.randint(10, 60))}
        )
        messages.append({"role": "assistant", "content": _paragraph(rng, rng.randint(40, 260))})
    return {"messages": messages}


def near_copy(rng: random.Random, record: dict) -> dict:
    copy = json.loads(json.dumps(record))
    last = copy["messages"][-1]
    words = last["content"].split()
    words[rng.randrange(len(words))] = rng.choice(WORDS)
    last["content"] = " ".join(words)
    return copy


def write_corpus(path: Path, n: int, seed: int = 0) -> dict[str, int]:
    """Write n examples plus 1% exact copies, 1% near copies and 0.05% broken lines."""
    rng = random.Random(seed)
    counts = {"examples": n, "exact": 0, "near": 0, "broken": 0}
    recent: list[dict] = []
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            record = example(rng, i)
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            recent.append(record)
            if len(recent) > 1000:
                recent.pop(0)
            roll = rng.random()
            if roll < 0.01:
                f.write(json.dumps(rng.choice(recent), ensure_ascii=False) + "\n")
                counts["exact"] += 1
            elif roll < 0.02:
                f.write(json.dumps(near_copy(rng, rng.choice(recent)), ensure_ascii=False) + "\n")
                counts["near"] += 1
            elif roll < 0.0205:
                f.write('{"messages": [{"role": "user", "content": "cut\n')
                counts["broken"] += 1
    return counts
