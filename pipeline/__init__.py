"""ftprep: turn raw example data into fine-tuning files a provider will accept, and prove it.

The shared modules (records, findings, config, artifacts, manifest, run_state) sit here; the
rooms are ``profiles`` (what each provider accepts), ``stages`` (the data flow), ``engines``
(what runs the stages) and ``commands`` (what each command does), and ``cli`` is the click layer.
Each room imports only the ones before it in this list.
"""

__version__ = "0.1.0"
