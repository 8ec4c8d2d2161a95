"""The command line's contract at its edges: contradicting flags, Ctrl-C, FTPREP_DEBUG, folders
that cannot be written and a read-only home folder. Each is a clear line and the exit code of
DESIGN.md's CLI contract, never a traceback or a silent pick."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.cli.group import debug
from tests.conftest import many_chats, write_jsonl

FTPREP = [sys.executable, "-m", "pipeline"]


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--val-ratio", "0.2", "--val-size", "3"], ("--val-ratio", "--val-size")),
        (["--no-cache", "--cache-dir", "CACHE"], ("--no-cache", "--cache-dir")),
        (["--engine", "ray", "--cache-dir", "CACHE"], ("--engine ray", "--cache-dir")),
    ],
)
def test_contradicting_flags_are_a_usage_error_naming_both(
    tmp_path: Path, flags: list[str], named: tuple[str, str]
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(12))
    flags = [str(tmp_path / "c") if f == "CACHE" else f for f in flags]
    code, output = run_cli("run", str(data), "--out", str(tmp_path / "o"), *flags)
    assert code == 2
    assert all(name in output for name in named), output
    assert not (tmp_path / "o").exists()


def test_config_file_with_both_split_sizes(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(12))
    config = tmp_path / "c.toml"
    config.write_text(f'[run]\ninputs = ["{data}"]\nval_ratio = 0.2\nval_size = 3\n')
    code, output = run_cli("run", "--config", str(config), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "run.val_ratio and run.val_size" in output
    # a flag overrides the file's other way of sizing validation
    code, output = run_cli(
        "run", "--config", str(config), "--out", str(tmp_path / "o"), "--val-size", "2"
    )
    assert code == 0, output


@pytest.mark.parametrize(
    "value, on", [("", False), ("0", False), ("false", False), ("off", False), ("1", True)]
)
def test_ftprep_debug_zero_is_off(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv("FTPREP_DEBUG", value)
    assert debug() is on


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write, even as root: a read-only tmpfs when mounting is
    allowed, else a folder without write permission (enough for a user who is not root)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
            capture_output=True,
        )
        if done.returncode != 0:
            pytest.skip("running as root where a read-only tmpfs cannot be mounted")
    else:
        folder.chmod(0o555)
    return folder


@pytest.fixture
def read_only(tmp_path: Path):
    folder = _read_only_folder(tmp_path)
    yield folder
    if os.geteuid() == 0:
        subprocess.run(["umount", str(folder)], capture_output=True)
    else:
        folder.chmod(0o755)


def test_read_only_out_names_out(tmp_path: Path, read_only: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(12))
    done = subprocess.run(
        [*FTPREP, "run", str(data), "--out", str(read_only / "out"), "-q"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert f"--out {read_only / 'out'}" in done.stderr
    assert ".partial" not in done.stderr and "Traceback" not in done.stderr


def test_read_only_home_counts_and_validates(tmp_path: Path, read_only: Path) -> None:
    """tiktoken's encodings are built in memory: nothing is written under $HOME."""
    data = write_jsonl(tmp_path / "in.jsonl", many_chats(12))
    env = {**os.environ, "HOME": str(read_only), "XDG_CACHE_HOME": "", "TIKTOKEN_CACHE_DIR": ""}
    env.pop("FTPREP_CACHE_DIR", None)
    for args in (
        ["count", str(data), "--model", "gpt-4o-mini"],
        ["validate", str(data), "--profile", "openai-chat", "--model", "gpt-4o-mini"],
        ["run", str(data), "--out", str(tmp_path / "o"), "--no-cache", "-q"],
    ):
        done = subprocess.run([*FTPREP, *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, (args, done.stderr)
    # with the stage cache on, the message says how to run anyway
    done = subprocess.run(
        [*FTPREP, "run", str(data), "--out", str(tmp_path / "o2"), "-q"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2
    assert "--cache-dir" in done.stderr and "--no-cache" in done.stderr


def test_ctrl_c_exits_130_and_keeps_the_previous_artifacts(tmp_path: Path) -> None:
    small = write_jsonl(tmp_path / "small.jsonl", many_chats(12))
    out = tmp_path / "o"
    assert run_cli("run", str(small), "--out", str(out), "--no-cache", "-q")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    big = write_jsonl(tmp_path / "big.jsonl", many_chats(40_000))
    proc = subprocess.Popen(
        [*FTPREP, "run", str(big), "--out", str(out), "--no-cache", "-q", "--workers", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    staging = tmp_path / f".o.partial-{proc.pid}"
    deadline = time.monotonic() + 60
    while not staging.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # into the stages
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "Aborted" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not staging.exists()
