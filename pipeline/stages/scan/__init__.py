"""The scan stage: secrets and personal data in every text a record holds, found, reported, redacted.

``kinds`` names what is looked for (rule ids ``secret.<kind>`` and ``pii.<kind>``, each with its
placeholder); ``secrets`` and ``pii`` hold the detectors (detect-secrets plugins, own patterns
after gitleaks' rules, phonenumbers, python-stdnum, ipaddress) and their look-alike filters;
``scanner`` pre-filters each text cheaply, runs the detectors a text's triggers call for, walks a
record's strings with their JSON pointers and replaces what it finds with typed placeholders;
``policy`` applies the run's settings (error, warn, redact, off) to one record.

May import the shared modules at the top of ``pipeline`` (records, findings, config); nothing
else of ftprep.
"""
