"""Progress bars for long stages, shown only on a terminal (the CLI decides; the library never prints).

The engine calls the progress object with a label when a stage starts, and ``advance(n)`` as
records go by; anything callable with a string works where bars are not wanted.
"""

from __future__ import annotations

import sys


class Bars:
    """One tqdm bar per stage, on stderr, counting records."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, label: str) -> None:
        from tqdm import tqdm

        self.close()
        self._bar = tqdm(desc=label, unit=" records", unit_scale=True, file=sys.stderr, leave=False)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
