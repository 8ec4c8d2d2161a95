"""The run's tally, kept by the main process of either engine while records stream past.

Counts per input, rejections and warnings by rule, the examples over the token limit, the
writers of rejected.jsonl, duplicates.jsonl, conflicts.jsonl and contaminated.jsonl, the
near-duplicate index and the split plan; after the last input, the near-duplicate decision, the
split and the writing (``stages.write``), then the manifest with the verdict on the files written.
"""

from __future__ import annotations

import collections
import shutil
from pathlib import Path
from typing import Any

from pipeline.artifacts import JsonlWriter
from pipeline.config import NearSettings, RunConfig
from pipeline.manifest import build_manifest
from pipeline.profiles.models import ModelInfo
from pipeline.profiles.profiles import Profile
from pipeline.run_state import SourceStats
from pipeline.stages import ingest
from pipeline.stages.dedupe.exact import duplicate_record
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
        if rec["rule"] in ("length.over_limit", "length.no_trained_tokens"):
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
        from pipeline.stages.scan.policy import split_counts

        warnings, scan = split_counts(self.warnings)
        manifest = build_manifest(
            config=config,
            profile=profile,
            model=info,
            stats=self.stats,
            rejected_by_stage=self.rejected_by_stage,
            rejected_by_rule=self.rejected_by_rule,
            warnings=warnings,
            over_limit=[o for o in over_limit if o["action"] == "flagged"],
            tokens=tokens,
            staging=self.staging,
            written=self.written,
            rank_file_sha256=rank_file_sha256(info.encoding),
        )
        if not config.tokenizer:
            from pipeline.stages.bpe_count import backend

            manifest["tokenizer"]["counted_with"] = backend(info.encoding)
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
        manifest["scan"] = {**config.scan_settings().public(), **scan}
        manifest["split"] = self.plan.describe()
        if config.max_seq_len:
            from pipeline.stages.packing import estimate_parquet

            manifest["packing"] = {
                split: estimate_parquet(self.staging / f"{split}.parquet", config.max_seq_len)
                for split in ("train", "validation")
                if (self.staging / f"{split}.parquet").is_file()
            }
        manifest["verdict"] = judge_outputs(self.staging, profile, manifest, self.file_findings)
        note_blank_lines(manifest, self.stats)
        return manifest
