"""Incremental runs: each input's per-record stages are cached, keyed by content, not by name.

A cache entry holds what ingest -> convert -> validate -> count -> featurise produced for one
input: its shape, batch by batch the outcomes the engine consumes, and the rows files the workers
wrote (hard links to the run's own, or copies across devices; an entry whose files are missing or
cut short is a miss). Its key is the xxh3-128 hash of the input's bytes, the input's name, the
settings those stages read (profile, model and tokenizer, limits, length policy, mappings, system
prompt, dedupe key) and the code version (a hash of ftprep's own modules and schemas). Editing
a file, a template, a schema or the code gives a new key, so stale results are never served;
changing only what the global stages read (seed, split, near threshold) reuses every entry.

A whole run whose key (every input key plus the global settings) matches the manifest already in
the output folder, with every output file's sha256 intact, is not redone at all.

Entries live under the cache folder (``--cache-dir``, ``$FTPREP_CACHE_DIR``, or
``~/.cache/ftprep/stages``); the least recently used are removed past ``MAX_BYTES``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

MAX_BYTES = int(os.environ.get("FTPREP_CACHE_MAX_BYTES", 5 * 2**30))
FORMAT = 5


def default_dir() -> Path:
    if os.environ.get("FTPREP_CACHE_DIR"):
        return Path(os.environ["FTPREP_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ftprep" / "stages"


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of every module and schema of the installed ftprep."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]  # pipeline/, with every sub-package
    files = sorted(package.rglob("*.py"))
    schemas = resources.files("pipeline.schemas")
    for path in files:
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    for entry in sorted(schemas.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()


def content_hash(path: Path, digest: Any = None) -> str:
    """sha256 (or ``digest``) of a file's bytes, or of every file (with its relative name) in a
    folder."""
    digest = digest if digest is not None else hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def content_key(path: Path) -> str:
    """The xxh3-128 ``content_hash`` of an input: its cache key's part, ten times faster to
    compute than its sha256 (which the manifest records, computed while the stages run)."""
    import xxhash

    return content_hash(path, xxhash.xxh3_128())


def fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(
        orjson.dumps(settings, option=orjson.OPT_SORT_KEYS, default=str)
    ).hexdigest()


class StageCache:
    """Per-input cache entries in one folder; ``None`` root means caching is off."""

    def __init__(self, root: Path | None, stage_settings: dict[str, Any]):
        self.root = root
        self.settings_key = fingerprint(
            {**stage_settings, "code": code_version(), "format": FORMAT}
        )
        self.hits = 0
        self.misses = 0

    def key(self, name: str, content: str) -> str:
        """The entry key of an input, from its name and ``content_key``."""
        return fingerprint({"settings": self.settings_key, "name": name, "content": content})

    def load(self, key: str) -> tuple[tuple, Iterator[Any], Path] | None:
        """(shape info, batches, the entry's folder: its rows files) of a complete entry, or
        None."""
        if self.root is None:
            return None
        folder = self.root / key
        done = folder / "complete"
        if not done.exists():
            return None
        try:  # the rows files the entry was completed with, each of its size
            sizes = orjson.loads(done.read_bytes())
            whole = all((folder / name).stat().st_size == size for name, size in sizes.items())
            with open(folder / "shape.pkl", "rb") as f:
                shape = pickle.load(f)
        except Exception:  # noqa: BLE001 - a damaged entry is a miss, and is removed
            whole = False
        if not whole:
            shutil.rmtree(folder, ignore_errors=True)
            return None
        os.utime(done)  # least recently used goes first
        self.hits += 1
        return shape, _read_batches(folder / "batches.pkl"), folder

    def writer(self, key: str) -> EntryWriter:
        """A new entry for ``key``, written batch by batch as the stages produce them."""
        self.misses += 1
        return EntryWriter(self.root, key)

    def prune(self) -> None:
        """Remove least recently used entries until the folder is under MAX_BYTES."""
        if self.root is None or not self.root.exists():
            return
        entries = []
        for folder in self.root.iterdir():
            done = folder / "complete"
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            used = done.stat().st_mtime if done.exists() else 0.0
            entries.append((used, size, folder))
        total = sum(size for _, size, _ in entries)
        for _, size, folder in sorted(entries, key=lambda e: e[0]):
            if total <= MAX_BYTES:
                break
            shutil.rmtree(folder, ignore_errors=True)
            total -= size


class EntryWriter:
    """A cache entry being written; it exists for ``load`` only after ``commit`` (an interrupted
    run, or an input whose guessed shape proved wrong, leaves nothing behind)."""

    def __init__(self, root: Path | None, key: str):
        self._file = None
        if root is None:
            return
        self.folder = root / key
        self.partial = root / f".{key}.partial-{os.getpid()}"
        try:
            root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(self.partial, ignore_errors=True)
            self.partial.mkdir()
            self._file = open(self.partial / "batches.pkl", "wb")
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"{exc.strerror or exc}: the stage cache cannot be written here; give "
                "--cache-dir (or FTPREP_CACHE_DIR) a writable folder, or run with --no-cache",
                f"stage cache {root}",
            ) from None

    def write(self, batch: tuple) -> None:
        if self._file is not None:
            pickle.dump(batch, self._file, protocol=5)

    def commit(self, shape: tuple, rows_files: Iterable[Path] = ()) -> None:
        """Complete the entry: its shape info, and the rows files its batches point into (linked
        into the entry, or copied where links cannot be made)."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        sizes = {}
        for path in rows_files:
            link_or_copy(path, self.partial / path.name)
            sizes[path.name] = (self.partial / path.name).stat().st_size
        with open(self.partial / "shape.pkl", "wb") as f:
            pickle.dump(shape, f, protocol=5)
        (self.partial / "complete").write_bytes(orjson.dumps(sizes))
        shutil.rmtree(self.folder, ignore_errors=True)
        os.replace(self.partial, self.folder)

    def discard(self) -> None:
        """Drop the entry unless it was committed."""
        if self._file is not None:
            self._file.close()
            self._file = None
            shutil.rmtree(self.partial, ignore_errors=True)


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes the same file as ``source``: a hard link, or a copy across devices."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _read_batches(path: Path) -> Iterator[tuple]:
    with open(path, "rb") as f:
        while True:
            try:
                yield pickle.load(f)
            except EOFError:
                return
