"""Commands: what each ``ftprep`` command does, as a library that the click layer calls.

One module per command: ``run`` (the settings from flags and the config file, the engine, the
summary), ``validate`` (check files in a provider's format; the report's output formats),
``count`` (tokens, epochs and cost), ``leakage`` (copies across files, eval items), ``gate`` (the
data-quality gate, with ``gate_suite``, ``gate_tables``, ``gate_docs`` and ``gate_report``) and
``profiles`` (the listing); ``usage`` names the errors that are a usage problem (exit 2). Nothing
here imports click or prints.

May import the shared modules at the top of ``pipeline``, ``pipeline.profiles``,
``pipeline.stages`` and ``pipeline.engines``. Only ``pipeline.cli`` imports commands.
"""
