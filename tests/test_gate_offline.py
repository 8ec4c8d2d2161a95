"""The gate's Data Docs fetch nothing from the network, with or without the installed assets.

The pages are read as files here (what a browser would fetch by itself: src=, srcset=, <link
href>, url(), @import); test_report_browser.py opens them in Chromium with the network off.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.commands.gate_assets import FILES, assets_dir, missing_assets
from pipeline.commands.gate_offline import CDN, make_offline
from tests.conftest import REPO

ASSETS_MISSING = not assets_dir().is_dir() or bool(missing_assets(assets_dir()))
needs_assets = pytest.mark.skipif(
    ASSETS_MISSING,
    reason=f"the Data Docs assets are not installed in {assets_dir()}: run `make assets` (needs npm)",
)
FETCHED = re.compile(
    r"""(?:\b(?:src|srcset|data|poster)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]+))"""
    r"""|(?:<link\b[^>]*?\bhref\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]+))"""
    r"""|(?:url\(\s*["']?\s*((?:https?:)?//[^"')\s]+))"""
    r"""|(?:@import\s+(?:url\()?\s*["']?\s*((?:https?:)?//[^"')\s]+))""",
    re.I,
)
LOCAL_REF = re.compile(r"""\b(?:src|href)="((?:\.\./|\./)*static/[^"#?]+)""")


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gate") / "sample"
    code, output = run_cli(
        "run", "--config", str(REPO / "ftprep.toml"), "--out", str(out), "--no-cache", "-q"
    )
    assert code == 0, output
    return out


def external(folder: Path) -> list[str]:
    found = []
    for page in folder.rglob("*.html"):
        for m in FETCHED.finditer(page.read_text(encoding="utf-8")):
            found.append(f"{page.name}: {next(g for g in m.groups() if g)}")
    return found


@needs_assets
def test_data_docs_load_only_files_beside_them(sample_run: Path) -> None:
    code, output = run_cli("gate", str(sample_run), "--config", str(REPO / "ftprep.toml"))
    assert code == 0, output
    quality = sample_run / "quality"
    assert external(quality) == []
    pages = list(quality.rglob("*.html"))
    assert len(pages) >= 5  # the index, suites and validation results
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not any(url in text for url in CDN)
        for ref in LOCAL_REF.findall(text):
            assert (page.parent / ref).is_file(), f"{page}: {ref}"
    for rel in FILES:  # every installed file is there, byte for byte
        assert (quality / "static" / "vendor" / rel).read_bytes() == (
            assets_dir() / rel
        ).read_bytes()
    assert "note  Data Docs are offline without" not in output


def test_without_the_assets_the_pages_fetch_nothing(
    sample_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTPREP_GX_ASSETS", str(tmp_path / "none"))
    code, output = run_cli("gate", str(sample_run), "--config", str(REPO / "ftprep.toml"))
    assert code == 0, output
    assert (
        "note  Data Docs are offline without their styles and scripts: the files they load were "
        "not installed (npm was missing at install time?); run `make assets`"
    ) in output
    quality = sample_run / "quality"
    assert external(quality) == []
    assert not (quality / "static" / "vendor").exists()
    assert all(
        not any(url in p.read_text(encoding="utf-8") for url in CDN)
        for p in quality.rglob("*.html")
    )


def test_an_unknown_external_file_is_removed_and_named(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "static" / "images").mkdir(parents=True)
    (site / "index.html").write_text(
        '<html><head><script src="https://cdn.example.org/new-lib@2/x.js"></script>'
        '<link rel="stylesheet" href="//cdn.example.org/x.css">'
        "<style>body { background: url('https://cdn.example.org/bg.png') }</style></head>"
        '<body><a href="https://greatexpectations.io">a link stays</a></body></html>',
        encoding="utf-8",
    )
    result = make_offline(site)
    page = (site / "index.html").read_text(encoding="utf-8")
    assert sorted(result.unmapped) == [
        "//cdn.example.org/x.css",
        "https://cdn.example.org/bg.png",
        "https://cdn.example.org/new-lib@2/x.js",
    ]
    assert external(site) == []
    assert '<a href="https://greatexpectations.io">' in page
