"""ftprep: turn raw example data into fine-tuning files a provider will accept, and prove it."""

__version__ = "0.1.0"
