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
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.artifacts import ARTIFACTS, OPTIONAL_ARTIFACTS, JsonlWriter, publish, staging_dir
from pipeline.config import NearSettings, RunConfig
from pipeline.engines.workers import (
    BatchResult,
    guess_shape,
    init_worker,
    process_batch_arrow,
    worker_initargs,
)
from pipeline.manifest import build_manifest, write_manifest
from pipeline.profiles.models import ModelInfo, model_for_profile
from pipeline.profiles.profiles import Profile, get_profile, load_schema
from pipeline.run_state import RunResult, SourceStats
from pipeline.stages import convert, ingest
from pipeline.stages.dedupe.exact import ExactIndex, duplicate_record
from pipeline.stages.dedupe.near_clusters import ClusterMap
from pipeline.stages.dedupe.near_dedupe import NearIndex
from pipeline.stages.dedupe.near_dedupe import describe as describe_dedupe
from pipeline.stages.split import SplitPlan
from pipeline.stages.verdict import (
    drop_empty_uploads,
    judge_outputs,
    note_blank_lines,
    training_minimum,
)
from pipeline.stages.write import Spill, write_splits

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


class _LazyRunner:
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


def resolve(config: RunConfig) -> tuple[Profile, ModelInfo, list[ingest.Source], list[str]]:
    """Check the profile, model and inputs before anything is written (errors here are exit 2).
    Returns the profile, the model, the input sources and the names of the files input folders
    hold but no reader takes (by their extension), unless they are given as inputs too."""
    profile = get_profile(config.profile)
    load_schema(profile.name)
    info = _model_for(config, profile)
    sources: list[ingest.Source] = []
    unknown: list[tuple[str, Path]] = []
    for path in config.inputs:
        sources.extend(ingest.discover(path, str(path), unknown))
    if not sources:
        raise ingest.InputError(
            "no input files found: name JSONL, JSON, CSV or Parquet files or folders"
        )
    seen: dict[Path, str] = {}
    for src in sources:
        first = seen.get(src.path.resolve())
        if first is not None:
            also = f" (also as {first})" if first != src.name else ""
            raise ingest.InputError(f"input {src.name} is given twice{also}: give each once")
        seen[src.path.resolve()] = src.name
    skipped = [name for name, path in unknown if path.resolve() not in seen]
    config.check()
    check_out(config.out, config.inputs)
    return profile, info, sources, skipped


OUT_CONTENTS = frozenset(
    (*ARTIFACTS, *OPTIONAL_ARTIFACTS, "quality")
)  # what a run (and `ftprep gate`) writes there


def check_out(out: Path, inputs: list[Path]) -> None:
    """The output folder is replaced whole by a run: refuse one that is a file, an input or holds
    one, lies inside an input folder, or holds anything but a previous run's artifacts (with its
    manifest.json)."""
    target = out.resolve()
    for given in inputs:
        path = Path(given).resolve()
        if target == path or path.is_relative_to(target) or target.is_relative_to(path):
            raise ingest.InputError(
                f"--out {out} overlaps the input {given}: the run replaces its output folder "
                "whole; write to a folder of its own"
            )
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise ingest.InputError(
                f"--out {out}: {folder} is a file; give a folder (the run replaces it whole)"
            )
    if out.is_dir():
        names = [p.name for p in out.iterdir()]
        previous_run = "manifest.json" in names  # else every file in it is the user's
        foreign = sorted(n for n in names if not previous_run or n not in OUT_CONTENTS)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise ingest.InputError(
                f"--out {out} holds files that are not a previous run's ({shown}): the run "
                "replaces its output folder whole; give a new or empty folder"
            )


def _model_for(config: RunConfig, profile: Profile) -> ModelInfo:
    """The model's tokenizer and limit: an OpenAI model id, or a local --tokenizer folder (whose
    template is loaded and probed here, so a broken or unsafe one is exit 2); --max-tokens wins."""
    from dataclasses import replace

    from pipeline.stages.length import check_policy

    check_policy(config.length_policy)
    if config.tokenizer:
        from pipeline.profiles.models import openai_model_named
        from pipeline.stages.hf_tokens import ChatTokenizer

        openai_model_named(config.model, config.tokenizer)
        tok = ChatTokenizer(config.tokenizer)
        info = ModelInfo(
            config.model or tok.path.name,
            tok.name,
            tok.max_tokens,
            "model_max_length in tokenizer_config.json",
            provider="open",
        )
    else:
        info = model_for_profile(profile, config.model)
    if config.max_tokens:
        info = replace(info, max_tokens=config.max_tokens, source="--max-tokens", confirmed=True)
    return info


def run(config: RunConfig, progress: Callable[[str], None] | None = None) -> RunResult:
    profile, info, sources, skipped = resolve(config)
    workers = pool_size(sources, config.workers)
    near = config.near_settings()
    evals = load_evals(config)
    cache = _stage_cache(config, profile, info, near)
    runner = _LazyRunner(workers, worker_initargs(config, profile, info, near, evals))
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
    runner: _LazyRunner,
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
                    (st.shape, st.shape_notes), processed, folder = cached
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
                    tally.warnings.update(result.warnings)
                    _take(result, st, tally, index)
                if entry is not None:
                    st.shape, st.shape_notes = convert.choose_file_shape(shapes)
                    if st.shape != guess:
                        raise _WrongShape(src.name, st.shape)
                    entry.commit(
                        (st.shape, st.shape_notes), staging.glob(f"{rows_prefix.name}-*.arrow")
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


class Tally:
    """What the main process learns while records stream past, in either engine: counts per
    input, rejections and warnings by rule, examples over the token limit, the rejected and
    duplicate writers, the near-duplicate index and the split plan; then the split, the writing
    and the manifest."""

    def __init__(
        self, config: RunConfig, staging: Path, near: NearSettings, evals: Any = None
    ) -> None:
        self.staging = staging
        self.stats: list[SourceStats] = []
        self.rejected_by_stage: collections.Counter = collections.Counter()
        self.rejected_by_rule: collections.Counter = collections.Counter()
        self.warnings: collections.Counter = collections.Counter()
        self.over_limit: list[dict] = []
        self.dropped_long: list[dict] = []
        self.plan = SplitPlan(
            config.seed,
            None if config.val_size is not None else config.val_ratio,
            config.val_size,
            stratified=bool(config.stratify_by),
        )
        self.near_index = NearIndex(staging, near)
        self.decision = None
        self.rejected = JsonlWriter(staging / "rejected.jsonl")
        self.duplicates = JsonlWriter(staging / "duplicates.jsonl")
        self.conflicts = JsonlWriter(staging / "conflicts.jsonl")
        self.evals = evals
        self.contaminated = JsonlWriter(staging / "contaminated.jsonl") if evals else None
        self.contamination = collections.Counter()  # matched, removed
        self.written: dict[str, tuple[str, int]] = {}  # JSONL artifact -> (sha256, lines)
        self.file_findings: list[dict[str, Any]] = []  # the profile's whole-file rules on them
        self.spill = Spill(staging)  # the kept Examples' rows, for the write stage

    def note_contamination(self, rec: dict) -> None:
        """A record whose prompt contains an eval item: one line of contaminated.jsonl per item."""
        removed = "stage" in rec
        self.contamination["matched"] += 1
        self.contamination["removed"] += removed
        for match in rec["contaminated"]:
            self.contaminated.write(
                {
                    "source": rec["source"],
                    "line": rec["line"],
                    "id": rec.get("id"),
                    "action": "removed" if removed else "kept",
                    **match,
                }
            )

    def add_source(self, src: ingest.Source) -> SourceStats:
        st = SourceStats(src.name, src.path, src.format)
        self.stats.append(st)
        return st

    def reject(self, st: SourceStats, rec: dict) -> None:
        st.rejected += 1
        self.rejected_by_stage[rec["stage"]] += 1
        self.rejected_by_rule[rec["rule"]] += 1
        if rec["rule"] == "length.over_limit":
            self.dropped_long.append(
                {"source": rec["source"], "line": rec["line"], "tokens": rec["tokens"]}
            )
        self.rejected.write(rec)

    def duplicate(self, st: SourceStats, rec: dict, first: tuple) -> None:
        st.duplicates += 1
        self.duplicates.write(duplicate_record(rec, first))

    def keep(self, rec: dict) -> None:
        """An Example that goes on to the spill (in spill order; its near-duplicate features go to
        ``near_index`` in the same order)."""
        long = rec.get("over_limit")
        if long:
            self.over_limit.append({"source": rec["source"], "line": rec["line"], **long})

    def find_near_duplicates(self, near: NearSettings, mapper: Any, progress: Any) -> None:
        """Near-duplicate clusters and conflict groups of the kept Examples (``mapper`` runs the
        signature tasks: in the worker processes, or here)."""
        if near.mode == "off":
            return
        if progress:
            progress("finding near duplicates")
        self.near_index.build(mapper)
        self.decision = self.near_index.decide()

    def split_and_write(
        self, config: RunConfig, near: NearSettings, profile: Profile, progress: Any
    ) -> tuple[ClusterMap, dict[str, dict[str, int]]]:
        clusters = ClusterMap(self.decision, near.mode, near.conflicts)
        if progress:
            progress("splitting and writing")
        self.plan.min_train = training_minimum(profile)
        tokens = write_splits(
            self.spill,
            self.staging,
            self.plan,
            {s.name: s for s in self.stats},
            clusters,
            self,
            config.stratify_by,
            bom=profile.limits.bom == "expect",
            written=self.written,
            file_rules=profile.file_rules,
            file_findings=self.file_findings,
        )
        drop_empty_uploads(self.staging, self.written)
        return clusters, tokens

    def close(self, failed: bool = False) -> None:
        """Close the writers and remove the working files; ``failed`` (an error or an interrupt
        stopped the run) removes the staging folder too, so none is left beside --out."""
        self.near_index.remove_files()
        self.spill.remove()
        for writer in (self.rejected, self.duplicates, self.conflicts, self.contaminated):
            if writer is None:
                continue
            writer.close()
            self.written[writer.path.name] = (writer.sha256, writer.records)
        if failed:
            shutil.rmtree(self.staging, ignore_errors=True)

    def manifest(
        self,
        config: RunConfig,
        profile: Profile,
        info: ModelInfo,
        near: NearSettings,
        clusters: ClusterMap,
        tokens: dict[str, dict[str, int]],
    ) -> dict[str, Any]:
        """The manifest, after checking that every input's records add up."""
        from pipeline.stages.length import summarize
        from pipeline.stages.tokens import rank_file_sha256

        for st in self.stats:
            if not st.balanced():
                raise RuntimeError(f"internal error: records of {st.name} do not add up: {st}")
        over_limit = self.over_limit
        manifest = build_manifest(
            config=config,
            profile=profile,
            model=info,
            stats=self.stats,
            rejected_by_stage=self.rejected_by_stage,
            rejected_by_rule=self.rejected_by_rule,
            warnings=self.warnings,
            over_limit=[o for o in over_limit if o["action"] == "flagged"],
            tokens=tokens,
            staging=self.staging,
            written=self.written,
            rank_file_sha256=rank_file_sha256(info.encoding),
        )
        length = summarize(config.length_policy, info.max_tokens, over_limit, self.dropped_long)
        length["dropped"] = self.dropped_long[:1000]
        length["truncated"] = [o for o in over_limit if o["action"] == "truncated"][:1000]
        manifest["length"] = length
        manifest["file_findings"] = {
            "count": len(self.file_findings),
            "first": self.file_findings[:100],
        }
        if config.tokenizer:
            from pipeline.stages.hf_tokens import fingerprint

            manifest["tokenizer"] = {
                **fingerprint(config.tokenizer),
                "encoding": info.encoding,
                "max_tokens_per_example": info.max_tokens,
                "limit_source": info.source,
            }
        if self.evals is not None:
            manifest["contamination"] = {
                **self.evals.describe(config.contaminated),
                "matched": self.contamination["matched"],
                "removed": self.contamination["removed"],
            }
        from pipeline.stages.dedupe.exact import largest_clusters

        manifest["dedupe"] = {
            **describe_dedupe(near),
            "largest_clusters": largest_clusters(self.duplicates.path)
            if self.duplicates.records
            else [],
            "near_duplicates": clusters.near,  # found; removed or, with --near-dupes flag, kept
            "near_removed": clusters.near if near.mode == "remove" else 0,
            "conflicts": clusters.conflicts,
            "conflict_groups": clusters.conflict_groups,
            "conflicts_removed": clusters.conflicts_removed,
            "boilerplate_shingles": len(self.near_index.boilerplate),
        }
        manifest["split"] = self.plan.describe()
        manifest["verdict"] = judge_outputs(self.staging, profile, manifest, self.file_findings)
        note_blank_lines(manifest, self.stats)
        return manifest


def load_evals(config: RunConfig) -> Any:
    """The index of the eval sets ``--decontaminate`` names, or None (a missing one is exit 2)."""
    from pipeline.stages.dedupe.contamination import load

    return load(config.decontaminate, config.convert_options())


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
        "near_features": near.mode != "off",
        "dedupe_key": near.key,
        "decontaminate": [
            content_key(p) for p in config.decontaminate
        ],  # the eval sets' content, not their names
        "contaminated": config.contaminated,
        "batch_size": config.batch_size,
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
