"""Shared test helpers: where the third-party data lives, and small file writers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason="../shared/data is not beside the project"
)


def chat(user: str, assistant: str, system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": messages}


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def many_chats(n: int, start: int = 0) -> list[dict]:
    """Distinct, realistic-looking chat examples."""
    topics = ["tents", "boots", "rain jackets", "stoves", "headlamps", "backpacks", "maps"]
    return [
        chat(
            f"Question {i}: how should I care for my {topics[i % len(topics)]} after trip number {i}?",
            f"Answer {i}: clean the {topics[i % len(topics)]}, let them dry fully, and store them "
            f"loosely in a cool place. Check the seams every {i % 9 + 1} trips.",
        )
        for i in range(start, start + n)
    ]
