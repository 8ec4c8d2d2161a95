"""The worker pool: maps a function over batches, in order, on every core or in this process.

``Runner`` starts a process pool whose workers are set up once by ``workers.init_worker``
(forked on Linux, after this process has imported what they all share), or runs in this process
when ``pool_size`` says so: under ``INLINE_BYTES`` of input, starting workers would cost more than
it saves. ``ftprep run`` and ``ftprep count`` both use it.
"""

from __future__ import annotations

import collections
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.engines.workers import init_worker
from pipeline.stages import ingest

INLINE_BYTES = 4_000_000  # inputs smaller than this run in-process: workers would cost more


class Runner:
    """Maps a function over batches in order, in a pool of worker processes (set up by
    ``workers.init_worker``) or in this process; ``ftprep count`` uses it too."""

    def __init__(self, workers: int, initargs: tuple):
        self.pool = None
        if workers > 1:
            import multiprocessing

            context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            if context.get_start_method() == "fork":
                _share_imports()
            self.pool = ProcessPoolExecutor(
                workers, mp_context=context, initializer=init_worker, initargs=initargs
            )
            self.window = workers * 3
        else:
            init_worker(*initargs)

    def map(self, fn: Callable, batches: Iterable, *args: Any) -> Iterator[Any]:
        if self.pool is None:
            for batch in batches:
                yield fn(*args, batch)
            return
        pending: collections.deque[Future] = collections.deque()
        for batch in batches:
            pending.append(self.pool.submit(fn, *args, batch))
            if len(pending) >= self.window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _share_imports() -> None:
    """Import here, once, what every worker would import for itself, so forked workers share
    it: pyarrow, which imports pandas (when installed) on its first conversion of Python values
    (a quarter of a second per process)."""
    import pyarrow  # noqa: F401

    try:
        import pandas  # noqa: F401
    except ImportError:
        pass


class LazyRunner:
    """Starts the worker pool only when a stage has to run (not when every input is cached)."""

    def __init__(self, workers: int, initargs: tuple):
        self._args = (workers, initargs)
        self._runner: Runner | None = None

    def get(self) -> Runner:
        if self._runner is None:
            self._runner = Runner(*self._args)
        return self._runner

    def start(self) -> None:
        """Start the workers now (they load the tokenizer while this process hashes inputs)."""
        pool = self.get().pool
        if pool is not None:
            pool.submit(int)  # the pool forks its workers on the first task

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()


def pool_size(sources: list[ingest.Source], requested: int | None) -> int:
    """Worker processes for a run over ``sources``: as asked, else one per core, or none (this
    process) for small inputs, where starting workers would cost more than it saves."""
    if requested:
        return requested
    if sum(input_size(s.path) for s in sources) < INLINE_BYTES:
        return 1
    return os.cpu_count() or 1


def input_size(path: Path) -> int:
    """Bytes of an input file, or of every file in an input folder."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0
