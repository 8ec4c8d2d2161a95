"""report.html and the gate's Data Docs in a real browser: Debian's Chromium, headless, with the
network off (see tests/browser.py).

On the page: the manifest's numbers are on screen, no request tried to leave the machine, no script
planted in the data ran, and the console shows no error. The Data Docs pages fetch nothing either,
and the status they show agrees with the gate's verdict. Without Chromium these tests skip and say
how to get it; `.ci/run` installs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.commands.gate_assets import assets_dir, missing_assets
from tests.browser import Chromium, find_chromium
from tests.conftest import many_chats, write_jsonl
from tests.test_report import HOSTILE_NAME, hostile_records, manifest

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found (chromium, chromium-browser or google-chrome on PATH): "
    "`apt-get install -y chromium` to run the browser tests",
)
ASSETS = assets_dir().is_dir() and not missing_assets(assets_dir())


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory) -> Path:
    """A run of hostile records (script in contents, a file name, a rejected record and a line
    that is not JSON), then the gate, which rebuilds report.html with its verdict."""
    folder = tmp_path_factory.mktemp("browser")
    data = write_jsonl(folder / HOSTILE_NAME, hostile_records())
    with open(data, "a", encoding="utf-8") as f:
        f.write('{"messages": "<img src=y onerror=\\"window.__ftprep_xss=\'broken\'\\">\n')
    out = folder / "out"
    code, output = run_cli("run", str(data), "--out", str(out), "--no-cache", "-q")
    assert code == 0, output
    strict = folder / "strict.toml"  # 2 of 45 records are rejected: this gate fails
    strict.write_text("[gate]\nmax_rejected_share = 0.01\n")
    code, output = run_cli("gate", str(out), "--config", str(strict))
    assert code == 1, output
    return out


@pytest.fixture(scope="module")
def passing_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser-pass")
    data = write_jsonl(folder / "chats.jsonl", many_chats(40))
    out = folder / "out"
    code, output = run_cli("run", str(data), "--out", str(out), "--no-cache", "-q")
    assert code == 0, output
    code, output = run_cli("gate", str(out))
    assert code == 0, output
    return out


@pytest.fixture(scope="module")
def browser():
    with Chromium(CHROMIUM) as b:
        yield b


def test_report_shows_the_manifest_and_runs_nothing(gated_run: Path, browser, tmp_path) -> None:
    seen = browser.check(gated_run / "report.html", tmp_path / "report.png")
    assert seen.external_requests == []
    assert seen.data_script_ran is None
    assert seen.console_errors == []
    assert seen.exceptions == []
    counts = manifest(gated_run)["counts"]
    for key in ("records", "train", "validation", "rejected", "duplicates"):
        assert f"{counts[key]:,}" in seen.text, key
    assert HOSTILE_NAME in seen.text  # the file name is shown as text, not markup
    assert "<script>window.__ftprep_xss='content'</script>" in seen.text
    assert "Gate: failed" in seen.text  # the gate ran (and failed) after the run
    assert seen.screenshot is not None and seen.screenshot.stat().st_size > 10_000


@pytest.mark.parametrize("run", ["gated_run", "passing_run"])
def test_data_docs_fetch_nothing_and_agree_with_the_gate(run: str, browser, request) -> None:
    import json

    gated_run = request.getfixturevalue(run)
    result = json.loads((gated_run / "quality" / "result.json").read_text())
    pages = sorted((gated_run / "quality").rglob("*.html"))
    assert pages
    shown = {"failed": "document.querySelectorAll('.ge-failed-icon').length"}
    for page in pages:
        seen = browser.check(page, expressions=shown)
        assert seen.external_requests == [], page
        assert seen.data_script_ran is None, page
        assert seen.exceptions == [], page
        if ASSETS:  # without the assets, jQuery is missing and the pages' own scripts complain
            assert seen.console_errors == [], page
        if page.name == "index.html" and page.parent.name == "quality":
            # one row per suite: a failed mark exactly where the gate failed a suite
            assert (seen.values["failed"] > 0) == (not result["ok"]), seen.values
