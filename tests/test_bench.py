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


def test_instruction_counts_are_read_from_perf_csv() -> None:
    from bench.run import _instructions

    perf_csv = "# started on Sun\n\n274912345678,,instructions:u,46398948457,100.00,,\n"
    assert _instructions(perf_csv) == 274912345678


def test_results_table_shows_work_where_perf_counted_it() -> None:
    from bench.run import markdown

    row = {"wall_s": 2.0, "cpu_s": 3.5, "examples_per_s": 50, "mb_per_s": 1.0, "peak_rss_mib": 9.0}
    ratios = {"x_floor2": 1.0, "cpu_x_floor2": 1.2}
    report = {
        "corpus": {"examples": 100, "lines": 100, "mb": 0.2},
        "machine": {"cpus": 2, "python": "3.11"},
        "results": {
            "counted": {**row, **ratios, "g_instructions": 3.0, "work_x_floor2": 1.5},
            "not counted": {**row, **ratios},
        },
        "scaling": {},
    }
    table = markdown(report)
    assert "| counted | 2.0 | 1.0 | 3.5 | 1.2 | 50 | 1.0 | 9.0 | 3.0 | 1.5 |" in table
    assert "| not counted | 2.0 | 1.0 | 3.5 | 1.2 | 50 | 1.0 | 9.0 | n/a | n/a |" in table


def test_results_table_has_the_open_model_row() -> None:
    from bench.run import markdown

    row = {"wall_s": 2.0, "cpu_s": 4.0, "peak_rss_mib": 9.0}
    report = {
        "corpus": {"examples": 100, "lines": 100, "mb": 0.2},
        "machine": {"cpus": 2, "python": "3.11"},
        "results": {},
        "scaling": {},
        "open_model_tokens": {
            "examples": 20000,
            "tokenizer": "Qwen3",
            "tiktoken": {**row, "cpu_s": 2.0},
            "open_model": row,
            "cpu_us_per_record": {"tiktoken": 100, "tokenizer": 200},
            "cpu_ratio": 2.0,
        },
    }
    table = markdown(report)
    assert "| tiktoken | 2.0 | 2.0 | 100 | 1.0 |" in table
    assert "| --tokenizer | 2.0 | 4.0 | 200 | 2.0 |" in table


def test_results_table_gives_the_report_share_of_a_run() -> None:
    from bench.run import REPORT_ROW, RUN_ROW, markdown

    row = {"examples_per_s": 50, "mb_per_s": 1.0, "peak_rss_mib": 9.0, "x_floor2": 1.0}
    report = {
        "corpus": {"examples": 100, "lines": 100, "mb": 0.2},
        "machine": {"cpus": 2, "python": "3.11"},
        "results": {
            RUN_ROW: {**row, "wall_s": 20.0, "cpu_s": 40.0},
            REPORT_ROW: {**row, "wall_s": 1.0, "cpu_s": 2.0},
        },
        "scaling": {
            "1000": {
                **row,
                "wall_s": 3.0,
                "cpu_s": 4.0,
                "report": {"cpu_s": 0.5, "peak_rss_mib": 80.0, "bytes": 204_800},
            }
        },
    }
    table = markdown(report)
    assert (
        "report.html costs 5.0% of a run's CPU seconds (2.0 of 40.0; wall 1.0 of 20.0 s)" in table
    )
    assert "| 1,000 | 3.0 | 4.0 | 50 | 9.0 | 0.5 | 80.0 | 200 |" in table
