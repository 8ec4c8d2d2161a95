"""Engines: what runs the stages over every input and writes the run's folder.

``embedded`` is the default: this machine's cores, the per-record stages applied to each batch
in worker processes (``workers``), the stage cache (``cache``) and progress bars (``progress``).
``ray`` runs the same stage functions on Ray Data and writes the same artifacts.

May import the shared modules at the top of ``pipeline``, ``pipeline.profiles`` and
``pipeline.stages``; never commands.
"""
