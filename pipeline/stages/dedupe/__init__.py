"""Dedupe: exact copies, near copies, conflicts, and examples that contain an eval item.

``exact`` gives each Example its id (a hash of its normalised content) and finds exact copies.
Near copies: ``near_features`` (each Example's shingle hashes, computed in the workers) ->
``minhash`` and ``near_index`` (candidate pairs; the run's boilerplate) -> ``near_clusters``
(clusters verified against their representative, conflict groups, what the split keeps
together) -> ``near_dedupe`` (the run's index and its decision). ``contamination`` matches
training prompts against the eval sets of ``--decontaminate``.

May import what every stage may (see ``pipeline.stages``); never engines or commands.
"""
