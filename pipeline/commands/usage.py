"""The errors that are a usage or I/O problem (exit 2, one line) rather than a bug (exit 3).

The click layer turns them into one line that says what to change. The imports wait until an
error is raised, so that ``ftprep --help`` stays fast.
"""

from __future__ import annotations


def usage_errors() -> tuple[type[Exception], ...]:
    """What ``run``, ``validate``, ``count`` and ``leakage`` report as a usage problem."""
    from pipeline.config import ConfigError
    from pipeline.profiles.models import UnknownModel
    from pipeline.profiles.profiles import ProfileError
    from pipeline.stages.ingest import InputError
    from pipeline.stages.length import PolicyError
    from pipeline.stages.tokens import TokenizerError

    return (ConfigError, InputError, UnknownModel, ProfileError, TokenizerError, PolicyError)


def gate_errors() -> tuple[type[Exception], ...]:
    """What ``gate`` reports as one: a wrong [gate] table, or a folder that is not a run."""
    from pipeline.commands.gate_tables import GateError
    from pipeline.config import ConfigError

    return (ConfigError, GateError)
