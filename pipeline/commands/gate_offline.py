"""Make the gate's Data Docs work with no network: every page served from files beside it.

Great Expectations 1.x builds pages that load 16 files from CDNs (Bootstrap, jQuery, Popper,
bootstrap-table, bootstrap-datepicker, Font Awesome, bootstrap-dark, Vega) and two images from its
S3 bucket. After ``build_data_docs``, ``make_offline`` rewrites every page of the site:

* each known CDN ``<script src>`` / ``<link href>`` points at the same file, installed from npm
  (``gate_assets``) and copied to ``SITE/static/vendor/``; ``integrity``/``crossorigin`` go (a
  page opened from disk has an opaque origin, so a crossorigin request for a file is refused);
* the S3 images point at the logo GX copies into the site;
* every relative ``static/`` link is recomputed (GX's favicon link is one ``../`` short on
  validation pages, a missing file online or not);
* then the page is scanned again for anything a browser would fetch by itself (``src=``,
  ``srcset=``, ``<link href=``, ``url()``, ``@import`` with an http(s) or protocol-relative URL):
  any such reference left is pointed at ``about:blank`` and returned as ``unmapped`` (a GX
  release that adds a CDN then shows up in the tests, never as a request leaving the machine).

Without the installed assets, the CDN references are pointed at ``about:blank`` too: the pages
fetch nothing, and show their content without Bootstrap's styles and scripts. Links
(``<a href>``) are left alone: they are not fetched unless clicked.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.commands.gate_assets import FILES, assets_dir, missing_assets

# The URLs GX 1.x pages name -> the file under static/vendor/
CDN = {
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": "bootstrap-table/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper/popper.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": "bootstrap-datepicker/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": "bootstrap-datepicker/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": "bootstrap-dark/bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega/vega-embed.min.js",
}
GX_S3 = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
NOWHERE = "about:blank"

_TAG = re.compile(r"<(script|link)\b[^>]*>", re.I)
_ATTR_URL = re.compile(r'\b(src|href)="([^"]*)"', re.I)
_SRI = re.compile(r'\s+(integrity|crossorigin)="[^"]*"', re.I)
_STATIC_REF = re.compile(
    r'((?:src|href)=")(?:\./|(?:\.\./)+)?static/((?:images|styles|fonts)/[^"]+)"'
)
_S3_IMAGE = re.compile(re.escape(GX_S3) + r"[A-Za-z0-9_.-]+(?:\?[^\"')\s]*)?")
_URL = r"""(?:https?:)?//[^"'\s)>]*"""
_FETCHED = re.compile(  # what a browser fetches by itself, with the URL as group "url"
    rf"""(?:\b(?:src|srcset|data|poster|background)\s*=\s*["']?\s*(?P<a>{_URL}))"""
    rf"""|(?:<link\b[^>]*?\bhref\s*=\s*["']?\s*(?P<b>{_URL}))"""
    rf"""|(?:url\(\s*["']?\s*(?P<c>{_URL}))"""
    rf"""|(?:@import\s+(?:url\()?\s*["']?\s*(?P<d>{_URL}))""",
    re.I,
)


@dataclass
class Offline:
    pages: int = 0
    rewritten: int = 0
    assets: bool = False  # the installed files were copied next to the pages
    unmapped: list[str] = field(default_factory=list)  # external references no table knew

    def note(self) -> str | None:
        if self.assets:
            return None
        return (
            "Data Docs are offline without their styles and scripts: the files they load were "
            "not installed (npm was missing at install time?); run `make assets`"
        )


def make_offline(site: Path) -> Offline:
    """Rewrite every page under the Data Docs folder ``site`` to fetch nothing from the network."""
    site = Path(site)
    static = site / "static"
    vendor = static / "vendor"
    source = assets_dir()
    result = Offline(assets=source.is_dir() and not missing_assets(source))
    if result.assets:
        shutil.rmtree(vendor, ignore_errors=True)
        vendor.mkdir(parents=True)
        for rel in sorted(FILES):
            (vendor / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, vendor / rel)
    logo = static / "images" / "logo-long.png"
    for page in sorted(site.rglob("*.html")):
        text, count = _rewrite(page, page.read_text(encoding="utf-8"), vendor, logo, result)
        page.write_text(text, encoding="utf-8")
        result.pages += 1
        result.rewritten += count
    return result


def _rel(page: Path, target: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def _rewrite(page: Path, html: str, vendor: Path, logo: Path, result: Offline) -> tuple[str, int]:
    count = 0

    def tag(m: re.Match) -> str:
        nonlocal count
        text = m.group(0)
        url = _ATTR_URL.search(text)
        if not url or url.group(2) not in CDN:
            return text
        count += 1
        local = _rel(page, vendor / CDN[url.group(2)]) if result.assets else NOWHERE
        return _SRI.sub("", text[: url.start(2)] + local + text[url.end(2) :])

    html = _TAG.sub(tag, html)
    html, n = _S3_IMAGE.subn(lambda m: _rel(page, logo), html)
    count += n
    html, n = _STATIC_REF.subn(
        lambda m: f'{m.group(1)}{_rel(page, logo.parents[1] / m.group(2))}"', html
    )
    count += n

    def left(m: re.Match) -> str:
        name = next(g for g in ("a", "b", "c", "d") if m.group(g) is not None)
        result.unmapped.append(m.group(name))
        start, end = m.span(name)
        return m.group(0)[: start - m.start()] + NOWHERE + m.group(0)[end - m.start() :]

    html = _FETCHED.sub(left, html)
    return html, count
