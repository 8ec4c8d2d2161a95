"""The embedded engine: runs the stages over every input, on all cores, in bounded memory.

Per input file, one pass streams batches through the per-record stages (``workers``:
read, convert, validate, count, featurise) in a process pool, in input order; a plain JSONL file
is handed to the workers as byte ranges of lines, which they read themselves. An input whose
content, settings and code are unchanged is replayed from the stage cache instead. A file's shape
comes from all its records: it is guessed from the first batch, and the workers count every
record's shape; when the counts pick another shape (a file whose first records are not typical),
the run is redone with that shape known, so the result is the same as deciding it first. The
workers append each batch's Examples as Arrow rows to rows files of their own in the staging
folder (the spill, ``write.Spill``) and hand back where they lie with what the main process needs:
it dedupes exactly on ids, writes rejected and duplicate records as they come, and marks exact
copies in the spill. After the last input, near duplicates are clustered and the
write stage (``pipeline.stages.write``) splits the spill into the artifacts, published atomically.
Memory holds a few batches in flight and about 30 bytes per Example (the exact-dedupe keys, the
near index's lengths and flags, the copy marks).
"""

from __future__ import annotations

import collections
import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.artifacts import publish, staging_dir
from pipeline.config import NearSettings, RunConfig
from pipeline.engines.prepare import load_evals, resolve
from pipeline.engines.runner import LazyRunner, pool_size
from pipeline.engines.tally import Tally
from pipeline.engines.workers import (
    BatchResult,
    guess_shape,
    process_batch_arrow,
    worker_initargs,
)
from pipeline.manifest import write_manifest
from pipeline.profiles.models import ModelInfo
from pipeline.profiles.profiles import Profile
from pipeline.run_state import RunResult, SourceStats
from pipeline.stages import convert, ingest
from pipeline.stages.dedupe.exact import ExactIndex


def run(config: RunConfig, progress: Callable[[str], None] | None = None) -> RunResult:
    profile, info, sources, skipped = resolve(config)
    workers = pool_size(sources, config.workers)
    near = config.near_settings()
    evals = load_evals(config)
    cache = _stage_cache(config, profile, info, near)
    runner = LazyRunner(workers, worker_initargs(config, profile, info, near, evals))
    hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ftprep-sha256")
    try:
        if workers > 1 and not (config.use_cache and (config.out / "manifest.json").exists()):
            runner.start()  # a first run into this folder: the stages will most likely run
        from pipeline.engines.cache import content_hash, content_key

        source_keys = [cache.key(src.name, content_key(src.path)) for src in sources]
        run_key = _run_key(config, cache, source_keys, skipped)
        previous = _up_to_date(config.out, run_key) if config.use_cache else None
        if previous is not None:
            return RunResult(config.out, previous, up_to_date=True)
        digests = [  # each input file's sha256 for the manifest, found while the stages run
            hasher.submit(content_hash, src.path) if src.path.is_file() else None for src in sources
        ]
        known: dict[str, str | None] = {}  # inputs whose guessed shape proved wrong: their shape
        while True:
            try:
                staging, manifest = _process(
                    config, profile, info, near, evals, sources, digests, source_keys, cache,
                    runner, known, progress,
                )  # fmt: skip
                break
            except _WrongShape as wrong:
                known[wrong.source] = wrong.shape
    finally:
        runner.close()
        hasher.shutdown(wait=False, cancel_futures=True)
    manifest["skipped_files"] = skipped
    manifest["run_key"] = run_key
    if config.report:
        from pipeline.stages.report import write_report

        manifest["outputs"].append(write_report(staging, manifest))
    write_manifest(staging, manifest)
    publish(staging, config.out)
    cache.prune()
    return RunResult(config.out, manifest, cache_hits=cache.hits, cache_misses=cache.misses)


class _WrongShape(Exception):
    """An input's shape, from all its records, is not the one guessed from its first batch."""

    def __init__(self, source: str, shape: str | None):
        self.source, self.shape = source, shape


def _process(
    config: RunConfig,
    profile: Profile,
    info: ModelInfo,
    near: NearSettings,
    evals: Any,
    sources: list[ingest.Source],
    digests: list[Future | None],
    source_keys: list[str],
    cache: Any,
    runner: LazyRunner,
    known: dict[str, str | None],
    progress: Callable[[str], None] | None,
) -> tuple[Path, dict[str, Any]]:
    """One pass over every input into a new staging folder; returns it and the manifest (not yet
    written). Raises ``_WrongShape`` when an input's shape was guessed wrong (the run is then
    redone with that input's shape known; with the cache on, inputs already done come from it)."""
    advance = getattr(progress, "advance", None)
    staging = staging_dir(config.out)
    tally = Tally(config, staging, near, evals)
    index = ExactIndex(keep_ids=near.key == "prompt")
    entry = None
    done = False
    try:
        with tally.spill:
            run_tag = os.urandom(4).hex()  # rows files of a redone pass never meet old ones
            for number, (src, key) in enumerate(zip(sources, source_keys, strict=True)):
                st = tally.add_source(src)
                if progress:
                    progress(f"reading {src.name}")
                rows_prefix = tally.spill.rows_path(f"{number}-{run_tag}")
                cached = cache.load(key)
                if cached is not None:
                    (st.shape, st.shape_notes, *rest), processed, folder = cached
                    st.repairs = rest[0] if rest else {}
                    processed = _relinked(processed, folder, rows_prefix)
                else:
                    batches = ingest.read_batches(src, config.batch_size)
                    first = next(batches, [])
                    guess = (
                        known[src.name]
                        if src.name in known
                        else guess_shape(
                            src.name, ingest.batch_items(first), config.convert_options()
                        )
                    )
                    entry = cache.writer(key)
                    processed = runner.get().map(
                        process_batch_arrow,
                        itertools.chain([first] if first else [], batches),
                        src.name,
                        guess,
                        str(rows_prefix),
                    )
                shapes: collections.Counter = collections.Counter()
                for result in processed:
                    if entry is not None:
                        entry.write(result)
                    if advance:
                        advance(len(result.outcomes))
                    shapes.update(result.shapes)
                    convert.keep_first_lines(shapes)
                    tally.warnings.update(result.warnings)
                    _take(result, st, tally, index)
                if entry is not None:
                    st.shape, st.shape_notes = convert.choose_file_shape(shapes)
                    st.repairs = convert.repairs_of(shapes)
                    if st.shape != guess:
                        raise _WrongShape(src.name, st.shape)
                    entry.commit(
                        (st.shape, st.shape_notes, st.repairs),
                        staging.glob(f"{rows_prefix.name}-*.arrow"),
                    )
                    entry = None
            tally.find_near_duplicates(near, runner.get().map, progress)
        runner.close()
        clusters, tokens = tally.split_and_write(config, near, profile, progress)
        done = True
    finally:
        if entry is not None:
            entry.discard()
        tally.close(failed=not done)
    for st, digest in zip(tally.stats, digests, strict=True):
        st.sha256 = digest.result() if digest is not None else None
    manifest = tally.manifest(config, profile, info, near, clusters, tokens)
    return staging, manifest


def _take(result: BatchResult, st: SourceStats, tally: Tally, index: ExactIndex) -> None:
    """One processed batch into the run: rejections and exact copies to their files, its Example
    rows to the spill (exact copies too, marked for the write stage to skip: filtering nested
    rows here would cost more) and the kept Examples' features to the near index, in input
    order."""
    import numpy as np

    firsts = iter(index.first_seen_batch([r for r in result.outcomes if "stage" not in r]))
    copies = []
    for rec in result.outcomes:
        st.records += 1
        if "contaminated" in rec:
            tally.note_contamination(rec)
        if "stage" in rec:
            tally.reject(st, rec)
            continue
        first_seen = next(firsts)
        copies.append(first_seen is not None)
        if first_seen is None:
            tally.keep(rec)
        else:
            tally.duplicate(st, rec, first_seen)
    if not copies:
        return
    tally.spill.add(result.rows, result.light_batch(), copies)
    kept = np.flatnonzero(~np.array(copies)) if any(copies) else None
    tally.near_index.add(result.near, kept, len(copies) - sum(copies))


def _relinked(results: Iterator[BatchResult], folder: Path, rows_prefix: Path) -> Iterator:
    """A cache entry's batches, their rows files linked (or copied) into the spill first."""
    from pipeline.engines.cache import link_or_copy

    names = {}
    for path in sorted(folder.glob("*.arrow")):
        names[path.name] = f"{rows_prefix.name}-{path.name}"
        link_or_copy(path, rows_prefix.parent / names[path.name])
    for result in results:
        if result.rows is not None:
            result.rows = result.rows.renamed(names[result.rows.name])
        if result.near is not None:
            result.near = result.near.renamed(names[result.near.name])
        yield result


def _stage_cache(config: RunConfig, profile: Profile, info: ModelInfo, near: NearSettings):
    """The per-input cache, keyed by everything the per-record stages read."""
    from pipeline.engines.cache import StageCache, content_key, default_dir

    tokenizer = None
    if config.tokenizer:
        from pipeline.stages.hf_tokens import fingerprint

        tokenizer = fingerprint(config.tokenizer)
    settings = {
        "profile": profile.name,
        "encoding": info.encoding,
        "max_tokens": info.max_tokens,
        "tokenizer": tokenizer,
        "length_policy": config.length_policy,
        "mapping": config.mapping,
        "roles": config.roles,
        "system_prompt": config.system_prompt,
        "fix": sorted(config.fix),
        "trl_layout": config.trl_layout,
        "near_features": near.mode != "off",
        "dedupe_key": near.key,
        "decontaminate": [
            content_key(p) for p in config.decontaminate
        ],  # the eval sets' content, not their names
        "contaminated": config.contaminated,
        "batch_size": config.batch_size,
        "scan": config.scan_settings().public(),
    }
    root = (config.cache_dir or default_dir()) if config.use_cache else None
    return StageCache(root, settings)


def _run_key(config: RunConfig, cache: Any, source_keys: list[str], skipped: list[str]) -> str:
    from pipeline.engines.cache import fingerprint

    public = config.public()
    public.pop("max_rejected_share")  # decides the exit code only
    return fingerprint(
        {"stages": cache.settings_key, "inputs": source_keys, "skipped": skipped, "config": public}
    )


def _up_to_date(out: Path, run_key: str) -> dict[str, Any] | None:
    """The manifest in ``out`` when it records this run and every output is intact."""
    import orjson

    from pipeline.artifacts import sha256_file

    try:
        manifest = orjson.loads((out / "manifest.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(manifest, dict) or manifest.get("run_key") != run_key:
        return None
    for entry in manifest.get("outputs", []):
        path = out / entry["path"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            return None
    return manifest
