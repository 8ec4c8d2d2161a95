"""The front-end files Great Expectations' Data Docs load from CDNs, installed beside ftprep.

Great Expectations 1.x pages load Bootstrap, jQuery, Popper, bootstrap-table, bootstrap-datepicker,
Font Awesome, bootstrap-dark and Vega from CDNs, and ship none of them. ftprep does not vendor
them either: ``scripts/gx_assets.py`` (run by ``make install``, or ``make assets``) takes each
file from its npm package, at the exact version the pages name, checks it against the sha256
below, and installs it into ``assets_dir()``. The gate copies them next to the pages
(``gate_offline``). Where they are missing (no npm at install time), the gate still removes every
external reference, and says the pages lack their styles and scripts.

The PyPI XStatic packages were the first choice, but none matches: XStatic-Bootstrap ships 5.3
(the pages are written for 4.3.1), and there is none for bootstrap-table, Popper 1, bootstrap-dark
or Vega.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

# npm package@version -> [(path in its tarball, path under the assets folder, sha256)]
PACKAGES: dict[str, list[tuple[str, str, str]]] = {
    "bootstrap@4.3.1": [
        (
            "package/dist/css/bootstrap.min.css",
            "bootstrap/bootstrap.min.css",
            "60b19e5da6a9234ff9220668a5ec1125c157a268513256188ee80f2d2c8d8d36",
        ),
        (
            "package/dist/js/bootstrap.min.js",
            "bootstrap/bootstrap.min.js",
            "0a34a87842c539c1f4feec56bba982fd596b73500046a6e6fe38a22260c6577b",
        ),
        (
            "package/LICENSE",
            "bootstrap/LICENSE",
            "074d99b8c25d13649dac52080900ee8c8d2373d07ea3f4fb67bd2bf79aa8cc72",
        ),
    ],
    "jquery@3.7.1": [
        (
            "package/dist/jquery.min.js",
            "jquery/jquery.min.js",
            "fc9a93dd241f6b045cbff0481cf4e1901becd0e12fb45166a8f17f95823f0b1a",
        ),
        (
            "package/LICENSE.txt",
            "jquery/LICENSE.txt",
            "d4db9ebe6f29f5168eac45ad713f055623ac5d0dcd5ba92da23d650ae012020d",
        ),
    ],
    "popper.js@1.12.9": [
        (
            "package/dist/umd/popper.min.js",
            "popper/popper.min.js",
            "a52f7aa54d7bcaafa056ee0a050262dfc5694ae28dee8b4cac3429af37ff0d66",
        ),
    ],
    "bootstrap-table@1.19.1": [
        (
            "package/dist/bootstrap-table.min.js",
            "bootstrap-table/bootstrap-table.min.js",
            "06a571a9beb50bd5ddd60517159775dfec1f3e798fff38fb117ae2350dc9ba9d",
        ),
        (
            "package/dist/bootstrap-table.min.css",
            "bootstrap-table/bootstrap-table.min.css",
            "643f536f6982af4d7287af23f89ad457dd7e4a82f9c695330a112b0881c30a4a",
        ),
        (
            "package/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
            "bootstrap-table/bootstrap-table-filter-control.min.js",
            "111f68d31d1bdd714f9503bf5f4e162e0739c363e4ff2feef950d39e78266ffc",
        ),
        (
            "package/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
            "bootstrap-table/bootstrap-table-filter-control.min.css",
            "be4e0c0d11f9319f1ad191f7447a38f755728bbaa10903e469f367441ba79ae2",
        ),
        (
            "package/LICENSE",
            "bootstrap-table/LICENSE",
            "fb50e42cb539382385f8d66572fef8ec08a34dd7dc00ba7a5ce0668d225dc35b",
        ),
    ],
    "bootstrap-datepicker@1.9.0": [
        (
            "package/dist/js/bootstrap-datepicker.min.js",
            "bootstrap-datepicker/bootstrap-datepicker.min.js",
            "6ea55ea86749ee1fe560fabac6b3effd81b33046fa74dc657e24d41d28110a9f",
        ),
        (
            "package/dist/css/bootstrap-datepicker.min.css",
            "bootstrap-datepicker/bootstrap-datepicker.min.css",
            "b22c8ea45fe905650f8087108b5ed32c1923bcd80d400adc9b0241f18be40208",
        ),
        (
            "package/LICENSE",
            "bootstrap-datepicker/LICENSE",
            "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
        ),
    ],
    "@fortawesome/fontawesome-free@6.6.0": [
        (
            "package/css/all.min.css",
            "fontawesome/css/all.min.css",
            "e5e202e3c899507992952533f57b634722b69b34241d271963559d31aa33ef81",
        ),
        (
            "package/webfonts/fa-brands-400.woff2",
            "fontawesome/webfonts/fa-brands-400.woff2",
            "c411f11975d26eb04cd2aa3c071181d4b18e489f1fb97060d4176a3531dfb36e",
        ),
        (
            "package/webfonts/fa-regular-400.woff2",
            "fontawesome/webfonts/fa-regular-400.woff2",
            "c732f106e91bc618767fbac8e2c7b27e5c736d477b2bb4fb83f597a43198c33c",
        ),
        (
            "package/webfonts/fa-solid-900.woff2",
            "fontawesome/webfonts/fa-solid-900.woff2",
            "1f0189e087fcefbf654fad74a3a06668b782c01353a61d5c0b7f0bf23e33c020",
        ),
        (
            "package/webfonts/fa-v4compatibility.woff2",
            "fontawesome/webfonts/fa-v4compatibility.woff2",
            "2aca24b35bd41474dcc5e7fb5f11ec43fa06e3ac1d0035ad41108fa6b30b0871",
        ),
        (
            "package/LICENSE.txt",
            "fontawesome/LICENSE.txt",
            "9b914eae88817d63b576eab5aafde7068c7a1abae125d7cdfb034f1da43a9afc",
        ),
    ],
    # GX names the unminified bootstrap-prefers-dark.css (883 KB); the package's minified copy
    # of the same stylesheet is used
    "@forevolve/bootstrap-dark@1.1.0": [
        (
            "package/dist/css/bootstrap-prefers-dark.min.css",
            "bootstrap-dark/bootstrap-prefers-dark.min.css",
            "424070f1f798087a68c110a776228f9eaae5406df143940faa67d77344293ac8",
        ),
        (
            "package/LICENSE",
            "bootstrap-dark/LICENSE",
            "43be5d79d2ec3d6d876e1874d27506cbe55024b18afc55f1fc830aaaedc0313d",
        ),
    ],
    # GX loads vega@5, vega-lite@5 and vega-embed@6 (unversioned): the newest of each
    "vega@5.33.1": [
        (
            "package/build/vega.min.js",
            "vega/vega.min.js",
            "463f3db6a40b20e9747b4ed38f37ed0add508838f9141b1cf8366784b07b30c8",
        ),
    ],
    "vega-lite@5.23.0": [
        (
            "package/build/vega-lite.min.js",
            "vega/vega-lite.min.js",
            "58c27358e26f2d319cf62f45bc17a4c8362f08645001df2ec8d341eee4097c7f",
        ),
        (
            "package/LICENSE",
            "vega/LICENSE",
            "f618900fd0d64046963b29f40590cdd1e341a2f41449f99110d82fd81fea808c",
        ),
    ],
    "vega-embed@6.29.0": [
        (
            "package/build/vega-embed.min.js",
            "vega/vega-embed.min.js",
            "12d02acfbe3ec59ef9a37dd4822a2e04e2961b5bbb671bbe661d2221715b99da",
        ),
    ],
}
FILES: dict[str, str] = {dest: digest for files in PACKAGES.values() for _, dest, digest in files}


def assets_dir() -> Path:
    """Where the assets are installed: ``$FTPREP_GX_ASSETS``, else ``share/ftprep/gx-assets``
    under the Python environment ftprep runs in."""
    given = os.environ.get("FTPREP_GX_ASSETS", "").strip()
    return Path(given) if given else Path(sys.prefix) / "share" / "ftprep" / "gx-assets"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def missing_assets(folder: Path) -> list[str]:
    """The files of the table that are missing from ``folder`` or differ from their sha256."""
    return [
        dest
        for dest, digest in FILES.items()
        if not (folder / dest).is_file() or sha256(folder / dest) != digest
    ]
