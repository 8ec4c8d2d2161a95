"""Named rules: the checks a JSON Schema cannot express, one module per provider family.

A check takes one parsed line (the target profile's format) and yields
``(pointer, rule_id, severity, message)``; the validator adds file and line. ``common`` holds
what several providers share. May import ``pipeline.findings``, ``pipeline.records`` and each
other; never stages, engines or commands.
"""
