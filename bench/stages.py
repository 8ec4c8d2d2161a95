"""Where a worker's time goes: each per-record stage of `ftprep run`, timed in one process.

Runs the stages a worker runs (parse, the secrets and PII scan, convert, render, validate, count, id, near-duplicate
features, Arrow rows) over the first N records of a corpus, with the default profile and model, and
prints microseconds per record for each (after a first batch that warms up). One process and no
pool, so the numbers add up to one worker's CPU per record (pickling between processes and the main
process's work are not in them). bench/run.py puts them in bench/results.md.

    python -m bench.stages CORPUS [--examples 20000] [--json]
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from itertools import islice
from pathlib import Path

import orjson

from pipeline.artifacts import ExampleBatch
from pipeline.config import RunConfig
from pipeline.engines.prepare import resolve
from pipeline.engines.workers import STATE, assign_ids, init_worker, near_features, worker_initargs
from pipeline.stages import convert, ingest
from pipeline.stages.ingest import batched
from pipeline.stages.scan import policy as scan_policy
from pipeline.stages.validate import validate_record

STAGES = ("parse", "scan", "convert", "render", "validate", "count", "id", "features", "rows")


def measure(corpus: Path, examples: int, batch_size: int = 256) -> dict[str, float]:
    config = RunConfig(inputs=[corpus], out=corpus.parent / "unused")
    profile, info, sources, _ = resolve(config)
    near = config.near_settings()
    init_worker(*worker_initargs(config, profile, info, near))
    counter, options, scan = STATE["counter"], STATE["options"], STATE["scan"]
    found: collections.Counter = collections.Counter()
    items = list(islice(ingest.read_source(sources[0]), examples))
    spent: collections.Counter = collections.Counter()
    clock = time.thread_time  # CPU time of this thread: not what the rest of the machine does
    timed = 0
    for number, batch in enumerate(batched(items, batch_size)):
        if number == 1:  # the first batch warms up (lazy imports, tables): not counted
            spent.clear()
            timed = 0
        timed += len(batch)
        kept = []
        for item in batch:
            t = clock()
            ok, obj = ingest.parse_item(sources[0].name, item)
            spent["parse"] += clock() - t
            if not ok:
                continue
            t = clock()
            raw = item[1] if type(item[1]) is bytes else None
            obj, rejected = scan_policy.apply(obj, sources[0].name, item[0], scan, found, raw)
            spent["scan"] += clock() - t
            if rejected is not None:
                continue
            t = clock()
            ex = convert.convert_record(obj, sources[0].name, item[0], "openai_messages", options)
            spent["convert"] += clock() - t
            if "stage" in ex:
                continue
            t = clock()
            rendered = profile.render(ex)
            spent["render"] += clock() - t
            t = clock()
            issues = validate_record(profile, rendered)
            spent["validate"] += clock() - t
            if any(severity == "error" for _, _, severity, _ in issues):
                continue
            t = clock()
            ex["n_tokens"], ex["n_trained_tokens"] = counter.example(ex)
            spent["count"] += clock() - t
            t = clock()
            ex["rendered"] = orjson.dumps(rendered, option=orjson.OPT_APPEND_NEWLINE)
            spent["render"] += clock() - t
            kept.append(ex)
        t = clock()
        assign_ids(kept)
        spent["id"] += clock() - t
        t = clock()
        near_features(kept, near)
        spent["features"] += clock() - t
        t = clock()
        rows = ExampleBatch(with_rendered=True)
        for ex in kept:
            rows.add(ex)
        rows.to_arrow()
        spent["rows"] += clock() - t
    return {stage: round(1e6 * spent[stage] / timed, 1) for stage in STAGES}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.corpus, args.examples)
    if args.json:
        print(json.dumps(result))
    else:
        for stage, us in result.items():
            print(f"{stage:10s} {us:8.1f} us/record")
        print(f"{'total':10s} {sum(result.values()):8.1f} us/record")


if __name__ == "__main__":
    main()
