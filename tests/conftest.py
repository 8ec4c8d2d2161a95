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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


WORDS = (
    "tent boot stove lantern river summit valley forest meadow ridge canyon lake camp map compass "
    "jacket glove rope anchor harbor island bridge tower garden market bakery recipe order refund "
    "shipping size colour warranty repair battery charge weather forecast route elevation distance "
    "permit season discount invoice socks zipper buckle strap frame pole stake tarp bivy quilt pad"
).split()


def many_chats(n: int, start: int = 0) -> list[dict]:
    """Distinct chat examples: each is random words seeded by its index, so no two are near copies."""
    import random

    records = []
    for i in range(start, start + n):
        rng = random.Random(i)
        question = " ".join(rng.choices(WORDS, k=rng.randint(12, 25)))
        answer = " ".join(rng.choices(WORDS, k=rng.randint(25, 60)))
        records.append(chat(f"{question}?", f"{answer}."))
    return records


@pytest.fixture(autouse=True)
def _private_stage_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own stage cache, so no test reads another's entries or the user's."""
    monkeypatch.setenv("FTPREP_CACHE_DIR", str(tmp_path_factory.mktemp("stage-cache")))
