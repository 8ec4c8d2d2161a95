"""The Ray engine (``ftprep run --engine ray``): the embedded engine's stages on Ray Data.

Takes the same ``RunConfig`` and writes the same artifacts. Each input file becomes one row of a
sources dataset; a reader (``ingest.read_source``, in a Ray task near the data) turns it into Arrow
batches of raw items, each with its place in input order (``seq``), and ``workers.process_batch``
(parse, convert, validate, count, id, features) is mapped over them in an actor pool, one actor per
partition. Each file's shape is guessed from its first batch (read by the driver) and confirmed by
the shapes of all its records, counted by the actors; a wrong guess runs the stages again with that
shape known, as the embedded engine does. Exact dedupe is a Ray aggregation: group the kept records
by their dedupe key and take the minimum ``seq`` and the count, so the driver only learns the keys
that have copies and which copy comes first. The driver then streams the processed records in input
order, writes rejected and duplicate records, spills the kept Examples' Arrow rows as the actors
made them (as the embedded engine's workers do: the driver never rebuilds an Example) and hands
the spill to the embedded engine's split and writers (``SplitPlan``, near-duplicate clusters,
JSONL + Parquet), so both engines give byte-identical artifacts; the manifest adds
``"engine": "ray"``.

Nothing is dropped here that the embedded engine would keep: every record is counted per input
file and the conservation check runs before the manifest is written. Ray is imported only here
(the ``ray`` extra); a run connects to ``RAY_ADDRESS`` when it is set, to a Ray instance already
started in this process, or starts a local one with one CPU per core and shuts it down after.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from pipeline.artifacts import example_schema, publish, staging_dir
from pipeline.config import RunConfig
from pipeline.engines import workers
from pipeline.engines.prepare import load_evals, resolve
from pipeline.engines.tally import Tally
from pipeline.manifest import write_manifest
from pipeline.run_state import RunResult, SourceStats
from pipeline.stages import convert, ingest
from pipeline.stages.dedupe.near_dedupe import in_process
from pipeline.stages.dedupe.near_features import feature_schema
from pipeline.stages.write import append_rows

READER_CPUS = 0.25  # a reader mostly waits on the stages after it
STAGE_CPUS = 0.75  # so the actor pool and the readers fit on the same cores
SEQ_BITS = 40  # seq = source index << SEQ_BITS | position in the source
# Blocks of a few MB: a reader's output is cut into blocks of this size, so the batches of one
# large file spread over every actor (Ray's default, 128 MB, would give one actor a whole file).
BLOCK_BYTES = 4 << 20
# Records per actor call, so per block of processed records: Ray's costs go by blocks (fewer,
# larger ones: the driver's pass over 200k records took 1.9 s instead of 5 s with 256).
STAGE_RECORDS = 2048


def _import_ray():
    from pipeline.config import ConfigError

    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--engine ray needs Ray Data: pip install 'ftprep[ray]' (or pip install 'ray[data]')"
        ) from None
    return ray


# ---------------------------------------------------------------- worker side


def read_items(batch: Any, batch_size: int) -> Iterator[Any]:
    """Reader: one row per input file in, Arrow tables of ``batch_size`` raw items out."""
    import pyarrow as pa

    for index, blob in zip(batch["index"].to_pylist(), batch["source"].to_pylist(), strict=True):
        src: ingest.Source = pickle.loads(blob)
        seqs: list[int] = []
        items: list[bytes] = []
        for position, item in enumerate(ingest.read_source(src)):
            seqs.append(index << SEQ_BITS | position)
            items.append(pickle.dumps(item, protocol=5))
            if len(items) >= batch_size:
                yield pa.table({"seq": seqs, "source": [src.name] * len(items), "item": items})
                seqs, items = [], []
        if items:
            yield pa.table({"seq": seqs, "source": [src.name] * len(items), "item": items})


def _runs(table: Any) -> Iterator[tuple[str, int, int]]:
    """(source, start, stop) of each run of rows from one source (a batch can span two files)."""
    names = table["source"].to_pylist()
    start = 0
    for i in range(1, len(names) + 1):
        if i == len(names) or names[i] != names[start]:
            yield names[start], start, i
            start = i


class ProcessStage:
    """Pass 1, one actor per partition: ``workers.process_batch`` over each source run, handed on
    as ``workers.arrow_rows`` gives it (the Examples as Arrow rows, as the embedded engine's
    workers write them), so the driver never unpickles or rebuilds an Example.

    Out, one row per record: ``seq``, ``status`` (kept | rejected), ``key`` (the dedupe key of a
    kept Example), ``outcome`` (the rejection, or the Example's light fields, pickled), on the
    first row of each run of one input's records ``warnings`` and ``shapes`` (pickled counts),
    then the Example's row (``example_schema(with_rendered=True)``; nulls for a rejection) and
    its near-duplicate features (``near_*``; zeros for a rejection or with near dedupe off)."""

    def __init__(self, initargs: tuple, shapes: dict[str, str | None]):
        workers.init_worker(*initargs)
        self.shapes = shapes

    def __call__(self, table: Any) -> Any:
        import pyarrow as pa

        seqs = table["seq"].to_pylist()
        items = table["item"].to_pylist()
        parts = []
        for name, start, stop in _runs(table):
            batch = [pickle.loads(b) for b in items[start:stop]]
            results, warnings, shapes, features = workers.process_batch(
                name, self.shapes.get(name), batch
            )
            outcomes, rows, features = workers.arrow_rows(results, features)
            parts.append(_processed(seqs[start:stop], outcomes, rows, features, warnings, shapes))
        return pa.concat_tables(parts) if parts else PROCESSED_SCHEMA().empty_table()


def _processed(
    seqs: list[int],
    outcomes: list[dict],
    rows: Any,
    features: Any,
    warnings: collections.Counter,
    shapes: collections.Counter,
) -> Any:
    """One source run's records as a table of ``PROCESSED_SCHEMA``."""
    import numpy as np
    import pyarrow as pa

    n = len(outcomes)
    kept = np.fromiter(("stage" not in rec for rec in outcomes), bool, n)
    where = np.full(n, -1, dtype=np.int64)  # each record's row among the Examples, -1 for none
    where[kept] = np.arange(int(kept.sum()))
    index = pa.array(where, mask=~kept)  # a null index gives a row of nulls
    examples = (
        pa.Table.from_batches([rows])
        if rows is not None
        else example_schema(with_rendered=True).empty_table()
    ).take(index)
    if features is not None:
        near = pa.Table.from_batches([features]).take(index)
    else:  # near dedupe off
        near = pa.table({f.name: pa.nulls(n, f.type) for f in feature_schema()})
    first = [pickle.dumps(warnings) if warnings else None, pickle.dumps(shapes) if shapes else None]
    columns = {
        "seq": pa.array(seqs, pa.int64()),
        "status": pa.array(["kept" if k else "rejected" for k in kept.tolist()], pa.string()),
        "key": pa.array(
            [
                (rec.get("dedupe_key") or rec["id"]) if "stage" not in rec else None
                for rec in outcomes
            ],
            pa.string(),
        ),
        "outcome": pa.array([pickle.dumps(rec, protocol=5) for rec in outcomes], pa.binary()),
        "warnings": pa.array(first[:1] + [None] * (n - 1), pa.binary()),
        "shapes": pa.array(first[1:] + [None] * (n - 1), pa.binary()),
    }
    for name in near.column_names:
        columns[f"near_{name}"] = near[name]
    for name in examples.column_names:
        columns[name] = examples[name]
    return pa.table(columns, schema=PROCESSED_SCHEMA())


def PROCESSED_SCHEMA():  # noqa: N802 - a constant built lazily (pyarrow is a heavy import)
    import pyarrow as pa

    return pa.schema(
        [
            ("seq", pa.int64()),
            ("status", pa.string()),
            ("key", pa.string()),
            ("outcome", pa.binary()),
            ("warnings", pa.binary()),
            ("shapes", pa.binary()),
            *(pa.field(f"near_{f.name}", f.type) for f in feature_schema()),
            *example_schema(with_rendered=True),
        ]
    )


# ---------------------------------------------------------------- driver side


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Raise ConnectionError when a ``host:port`` address takes no TCP connection."""
    import socket

    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return  # "auto", ray://...: left to Ray
    with socket.create_connection((host, int(port)), timeout=timeout):
        pass


class _Session:
    """Connects to Ray for one run: RAY_ADDRESS, an instance this process already started, or a
    new local instance (shut down after the run)."""

    def __init__(self, ray: Any, workers: int | None):
        self.ray = ray
        self.owned = False
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            if address:
                from pipeline.config import ConfigError

                try:
                    _check_reachable(address)  # Ray itself retries an unreachable one for minutes
                    ray.init(log_to_driver=False, logging_level=logging.ERROR)
                except ConnectionError as exc:
                    raise ConfigError(
                        f"cannot reach the Ray cluster at RAY_ADDRESS={address} ({exc}): start it "
                        "with `ray start --head`, or unset RAY_ADDRESS to run on a local Ray"
                    ) from None
            else:
                ray.init(
                    address="local",  # a new instance, never a cluster `ray start` left behind
                    num_cpus=workers or os.cpu_count() or 1,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                )
            self.owned = True
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def close(self) -> None:
        if self.owned:
            self.ray.shutdown()


@contextlib.contextmanager
def _data_context() -> Iterator[None]:
    """Ray Data settings for one run, put back after it (the caller may use Ray Data too)."""
    from ray.data.context import DataContext, ShuffleStrategy

    ctx = DataContext.get_current()
    saved = (
        ctx.execution_options.preserve_order,
        ctx.enable_progress_bars,
        ctx.shuffle_strategy,
        ctx.target_max_block_size,
    )
    ctx.execution_options.preserve_order = True  # the driver reads records in input order
    ctx.enable_progress_bars = False  # ftprep's own bars (progress.advance) instead
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED  # cheapest for small groups
    ctx.target_max_block_size = BLOCK_BYTES
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():  # a small input gives fewer blocks than actors: fine
            warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
            yield
    finally:
        (
            ctx.execution_options.preserve_order,
            ctx.enable_progress_bars,
            ctx.shuffle_strategy,
            ctx.target_max_block_size,
        ) = saved


def _items(ray: Any, sources: list[ingest.Source], batch_size: int) -> Any:
    """The raw items of every source, read by Ray tasks (one per file), in input order."""
    rows = [
        # absolute paths: the readers may run on other nodes, in other working directories
        {"index": i, "source": pickle.dumps(replace(src, path=src.path.resolve()))}
        for i, src in enumerate(sources)
    ]
    return ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
        read_items,
        fn_kwargs={"batch_size": batch_size},
        batch_size=1,
        batch_format="pyarrow",
        num_cpus=READER_CPUS,
    )


def first_copies(ray: Any, processed: Any, partitions: int) -> dict[str, int]:
    """Exact dedupe grouping with Ray's aggregations: for each dedupe key held by more than one
    kept record, the ``seq`` of its first copy in input order. Keys held once are not returned."""
    from ray.data.aggregate import Count, Min

    try:
        from ray.data.expressions import col

        is_kept, has_copies = col("status") == "kept", col("copies") > 1
    except ImportError:  # Ray before 2.5x: string expressions
        is_kept, has_copies = "status == 'kept'", "copies > 1"
    groups = (
        processed.select_columns(["status", "key", "seq"])  # before the filter: rows are heavy
        .filter(expr=is_kept)
        .select_columns(["key", "seq"])
        .groupby("key", num_partitions=partitions)
        .aggregate(Min("seq", alias_name="first"), Count(alias_name="copies"))
        .filter(expr=has_copies)
    )
    return {row["key"]: row["first"] for row in groups.iter_rows()}


def run(config: RunConfig, progress: Callable[[str], None] | None = None) -> RunResult:
    profile, info, sources, skipped = resolve(config)  # usage problems before Ray starts
    near = config.near_settings()
    ray = _import_ray()
    evals = load_evals(config)
    initargs = workers.worker_initargs(config, profile, info, near, evals)
    session = _Session(ray, config.workers)
    try:
        with _data_context():
            partitions = session.cpus
            if progress:
                progress(f"ray: {partitions} partitions, {len(sources)} input files")
            known: dict[str, str | None] = {}  # inputs whose guessed shape proved wrong
            while True:
                shapes = {
                    s.name: known[s.name] if s.name in known else _guess_shape(config, s)
                    for s in sources
                }
                if progress:
                    progress("ray: convert, validate, count")
                processed = (
                    _items(ray, sources, config.batch_size)
                    .map_batches(
                        ProcessStage,
                        fn_constructor_args=(initargs, shapes),
                        batch_size=max(config.batch_size, STAGE_RECORDS),
                        batch_format="pyarrow",
                        compute=ray.data.ActorPoolStrategy(size=partitions),
                        num_cpus=STAGE_CPUS,
                    )
                    .materialize()
                )
                stats = _confirm_shapes(processed, sources, shapes, known)
                if stats is not None:
                    break
            if progress:
                progress("ray: exact dedupe (group by key)")
            firsts = first_copies(ray, processed, partitions)
            staging = staging_dir(config.out)
            result = _write(
                config, profile, info, near, stats, processed, firsts, staging, progress, skipped,
                evals,
            )  # fmt: skip
    finally:
        session.close()
    return result


def _guess_shape(config: RunConfig, src: ingest.Source) -> str | None:
    """An input's shape as its first batch shows it (read here, in the driver)."""
    import itertools

    first = list(itertools.islice(ingest.read_source(src), config.batch_size))
    return workers.guess_shape(src.name, first, config.convert_options())


def _confirm_shapes(
    processed: Any,
    sources: list[ingest.Source],
    shapes: dict[str, str | None],
    known: dict[str, str | None],
) -> list[SourceStats] | None:
    """Each input's stats with the shape of all its records; None (and ``known`` updated) when a
    guess was wrong and the stages must run again."""
    counts: dict[str, collections.Counter] = {s.name: collections.Counter() for s in sources}
    names = [s.name for s in sources]
    columns = processed.select_columns(["seq", "shapes"])
    for table in columns.iter_batches(batch_format="pyarrow", batch_size=None):
        for seq, blob in zip(table["seq"].to_pylist(), table["shapes"].to_pylist(), strict=True):
            if blob is not None:
                counts[names[seq >> SEQ_BITS]].update(pickle.loads(blob))
                convert.keep_first_lines(counts[names[seq >> SEQ_BITS]])
    stats = []
    for src in sources:
        st = SourceStats(src.name, src.path, src.format)
        st.shape, st.shape_notes = convert.choose_file_shape(counts[src.name])
        st.repairs = convert.repairs_of(counts[src.name])
        if st.shape != shapes[src.name]:
            known[src.name] = st.shape
        stats.append(st)
    return None if any(st.shape != shapes[st.name] for st in stats) else stats


def _in_order(processed: Any) -> Iterator[Any]:
    """The processed tables, checked to hold the records in input order."""
    import numpy as np

    last = -1
    for table in processed.iter_batches(batch_format="pyarrow", batch_size=None):
        seqs = table["seq"].to_numpy()
        if len(seqs) and (seqs[0] <= last or np.any(np.diff(seqs) <= 0)):
            raise RuntimeError("internal error: Ray returned records out of input order")
        last = int(seqs[-1]) if len(seqs) else last
        yield table


def _take(
    tally: Tally,
    st: SourceStats,
    rec: dict,
    seq: int,
    first: int | None,
    key: str | None,
    kept_first: dict[str, tuple],
) -> bool:
    """One record's outcome into the tally; True when it is an Example to keep (``first``: the
    seq of its key's first copy, when the key has copies)."""
    if "contaminated" in rec:
        tally.note_contamination(rec)
    if "stage" in rec:
        tally.reject(st, rec)
        return False
    if first is not None:
        if first != seq:
            if key not in kept_first:
                raise RuntimeError("internal error: a copy came before its first")
            tally.duplicate(st, rec, kept_first[key])
            return False
        kept_first[key] = (
            (rec["source"], rec["line"], rec["id"])
            if rec.get("dedupe_key")
            else (rec["source"], rec["line"])
        )
    tally.keep(rec)
    return True


def _features(table: Any) -> Any:
    """The near-duplicate features of a processed table's rows, as a feature batch."""
    import pyarrow as pa

    names = [f"near_{f.name}" for f in feature_schema()]
    part = table.select(names).rename_columns([f.name for f in feature_schema()])
    return pa.Table.from_batches(part.to_batches(), schema=feature_schema()).combine_chunks()


def _write(
    config, profile, info, near, stats, processed, firsts, staging, progress, skipped, evals
) -> RunResult:
    """The driver's part: records in input order -> rejected, duplicates, spill (the kept rows as
    Arrow hands them over, never one Example at a time); then the embedded engine's split and
    writers; then the manifest (``skipped``: the files input folders held but no reader took)."""
    import pyarrow as pa

    by_name = {st.name: st for st in stats}
    tally = Tally(config, staging, near, evals)
    tally.stats = stats
    kept_first: dict[str, tuple] = {}  # only keys that have copies
    advance = getattr(progress, "advance", None)
    names = example_schema(with_rendered=True).names
    if progress:
        progress("ray: writing rejected and duplicate records")
    done = False
    try:
        with tally.spill as spill:
            for table in _in_order(processed):
                for blob in table["warnings"].drop_null().to_pylist():
                    tally.warnings.update(pickle.loads(blob))
                keep = []
                columns = zip(
                    table["seq"].to_pylist(),
                    table["key"].to_pylist(),
                    table["outcome"].to_pylist(),
                    strict=True,
                )
                for seq, key, blob in columns:
                    rec = pickle.loads(blob)
                    st = by_name[rec["source"]]
                    st.records += 1
                    keep.append(_take(tally, st, rec, seq, firsts.get(key), key, kept_first))
                if any(keep):
                    part = table.filter(pa.array(keep))
                    spill.write(part.select(names).combine_chunks().to_batches()[0])
                    ref = None
                    if near.mode != "off":
                        features = _features(part).to_batches()[0]
                        ref = append_rows(spill.rows_path("near-main.arrow"), features.serialize())
                    tally.near_index.add(ref, None, part.num_rows)
                if advance:
                    advance(table.num_rows)
        tally.find_near_duplicates(near, in_process, progress)
        clusters, tokens = tally.split_and_write(config, near, profile, progress)
        done = True
    finally:
        tally.close(failed=not done)
    manifest = tally.manifest(config, profile, info, near, clusters, tokens)
    import ray

    manifest["skipped_files"] = skipped
    manifest["engine"] = "ray"
    manifest["versions"]["ray"] = ray.__version__
    if config.report:
        from pipeline.stages.report import write_report

        manifest["outputs"].append(write_report(staging, manifest))
    write_manifest(staging, manifest)
    publish(staging, config.out)
    return RunResult(config.out, manifest)
