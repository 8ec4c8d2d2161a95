"""Provider profiles: what each provider accepts, as data and small checks.

``profiles`` loads the profiles (schema, rules, limits, renderer, models of each) and their JSON
Schemas from ``schemas/``; ``rules/`` holds each provider's semantic checks, ``render`` writes a
canonical Example in a profile's line format, ``models`` and ``prices`` are the model and price
tables, ``gate_facts`` what the quality gate checks of each profile's roles. Adding a provider
touches only this folder and ``schemas/``.

May import ``pipeline.records`` and ``pipeline.findings``; never stages, engines or commands.
"""
