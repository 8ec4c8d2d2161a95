"""The benchmark's own pieces work on a small corpus (timings are never asserted)."""

from __future__ import annotations

from pathlib import Path

from bench.corpus import write_corpus
from bench.stages import STAGES, measure


def test_stage_timings_cover_every_stage(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, 600)
    timings = measure(corpus, 600)
    assert tuple(timings) == STAGES
    assert all(us >= 0 for us in timings.values())
    assert timings["count"] > 0 and timings["features"] > 0
