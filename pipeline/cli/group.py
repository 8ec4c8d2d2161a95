"""The command group and what every command shares: the path type, usage problems (exit 2),
Ctrl-C (exit 130), JSON output, and the console script's last line of defence."""

from __future__ import annotations

import os
import sys

import click

from pipeline import __version__

FORMATS = click.Choice(["text", "json"])


class UsageProblem(click.ClickException):
    """A usage or I/O problem: one clear line, exit 2, no artifacts."""

    exit_code = 2


class PathType(click.Path):
    """A path argument that refuses an empty string, which would otherwise mean the current
    folder (an unset shell variable in ``ftprep run "$DATA"`` must not read everything here)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("is empty: name a file or folder", param, ctx)
        return super().convert(value, param, ctx)


def usage_error_types():
    from pipeline.commands.usage import usage_errors

    return usage_errors()


def debug() -> bool:
    """FTPREP_DEBUG=1 (or true, yes, on) shows tracebacks; unset, empty, 0, false, no or off
    does not."""
    value = os.environ.get("FTPREP_DEBUG", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


class _Group(click.Group):
    """The command group: Ctrl-C ends a command with exit 130 and one line (click's own
    "Aborted!" exits 1, which CI would take for a data failure). A run that is interrupted
    removes its staging folder, so the previous artifacts stay whole."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo(
                "ftprep: interrupted; nothing was replaced (an output folder keeps its previous "
                "artifacts)",
                err=True,
            )
            ctx.exit(INTERRUPTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ftprep")
def cli() -> None:
    """Turn raw example data into fine-tuning files a provider will accept, and prove it."""


def refuse_together(*pairs: tuple) -> None:
    """Flags that contradict each other are a usage problem naming both, never a silent pick."""
    for first, a, second, b, what in pairs:
        if a is not None and b is not None:
            raise UsageProblem(f"{first} and {second} were both given: {what}")


def echo_json(value) -> None:
    import orjson

    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def main() -> None:
    """The console script: an I/O error the commands did not foresee (a full disk, a folder that
    cannot be written) is one line and exit 2, and a bug is one line and exit 3, never a
    traceback (``FTPREP_DEBUG=1`` shows it)."""
    try:
        cli()
    except OSError as exc:
        if debug():
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"Error: {where}{exc.strerror or exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - a bug must not end in a traceback
        if debug():
            raise
        click.echo(
            f"Error: ftprep stopped on an internal error ({type(exc).__name__}: {exc}). Please "
            "report it with the command; FTPREP_DEBUG=1 shows the traceback.",
            err=True,
        )
        sys.exit(3)
