"""The ftprep command line: thin click commands over the library.

``group`` holds the command group and what every command shares; ``run``, ``check`` and ``tools``
hold the commands, each registered on the group when imported here. Modules of this package import
only ``pipeline.commands`` (deferred, inside each command) and each other, never the stages or
engines directly.
"""

from pipeline.cli import check, run, tools  # noqa: F401 - importing them registers the commands
from pipeline.cli.group import cli, main

__all__ = ["cli", "main"]
