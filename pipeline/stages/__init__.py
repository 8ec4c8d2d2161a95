"""The stages: each takes records and yields records, plus the records it drops with a reason.

In the order data flows: ``ingest`` (find and read the input files) -> ``convert`` (raw records
to canonical Examples; ``shapes`` reads each input shape) -> ``validate`` (the profile's schema
and rules, per line; ``example_rules``; ``file_limits`` per file) -> ``tokens`` and
``hf_tokens`` (count) with ``length`` (the length policy) -> ``dedupe/`` (exact and near copies,
conflicts, eval contamination) -> ``split`` -> ``write`` (the artifacts, from the spill) ->
``verdict`` (would the written files pass ``ftprep validate``?). A stage knows nothing of
processes, caches or clusters: an engine runs it.

May import the shared modules at the top of ``pipeline`` (records, findings, config, artifacts,
run_state), ``pipeline.profiles`` and other stages; never engines or commands.
"""
