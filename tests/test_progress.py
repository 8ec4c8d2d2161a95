"""Progress bars: shown by the CLI only on a terminal; the bar counts records per stage."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.engines.progress import Bars
from tests.conftest import many_chats, write_jsonl


def test_bars_count_records_per_stage(capsys) -> None:
    bars = Bars()
    bars("reading a.jsonl")
    bars.advance(250)
    bars.advance(250)
    assert bars._bar.n == 500
    bars("finding near duplicates")
    assert bars._bar.n == 0
    bars.close()
    err = capsys.readouterr().err
    assert "reading a.jsonl" in err and "finding near duplicates" in err


def test_no_bars_when_output_is_not_a_terminal(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(20))
    result = CliRunner().invoke(cli, ["run", str(data), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0
    assert "records/s" not in result.output and "reading" not in result.output
