"""The project's promises to a new user: make targets, documented commands, the README."""

from __future__ import annotations

import re
import subprocess

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from tests.conftest import REPO


@pytest.mark.parametrize(
    "target", ["help", "install", "assets", "run", "test", "lint", "gate", "bench", "clean"]
)
def test_every_make_target_exists(target: str) -> None:
    done = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_make_help_lists_the_targets() -> None:
    done = subprocess.run(["make", "help"], cwd=REPO, capture_output=True, text=True, check=True)
    for target in ("install", "run", "test", "gate", "bench"):
        assert re.search(rf"^  {target} ", done.stdout, re.M), done.stdout


def test_every_command_has_help_with_an_example() -> None:
    for name in cli.commands:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output, f"ftprep {name} --help has no example"


def test_readme_starts_with_the_two_commands_and_documents_each_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
    for name in cli.commands:
        assert f"ftprep {name}" in readme, f"README does not show `ftprep {name}`"


def test_ci_calls_make_test() -> None:
    assert "make test" in (REPO / ".ci" / "run").read_text()
