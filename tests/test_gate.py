"""The data-quality gate: a clean run passes; each expectation fails on an artifact altered to break it.

Importing Great Expectations takes seconds, so every gate test lives in this module and shares
one clean run (40 chat examples, 2 exact copies, 1 broken line) built once per module; each case
copies that run and alters one artifact.
"""

from __future__ import annotations

import json
import random
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.artifacts import example_schema
from pipeline.cli import cli
from pipeline.commands.gate import run_gate
from pipeline.commands.gate_suite import derive_suite
from pipeline.config import GATE_DEFAULTS as DEFAULTS
from pipeline.config import RunConfig
from pipeline.engines.embedded import run as run_pipeline
from pipeline.profiles.gate_facts import CRITICAL, INFO, WARNING

VAL_SIZE = 6


WORDS = (
    "river stone cloud lamp orange window garden pencil violin harbor meadow rocket candle "
    "forest mirror copper silent thunder basket marble winter lantern pepper saddle canyon "
    "velvet anchor bridge comet falcon glacier hammer island jungle kettle ladder magnet "
    "needle orchid parrot quartz ribbon shadow tunnel umbrella valley walnut yogurt zebra"
).split()


def _sentence(seed: int, n: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _chat(i: int) -> dict:
    """A conversation no other _chat(j) is a near copy of (random words, 5-gram Jaccard ~ 0)."""
    return {
        "messages": [
            {"role": "system", "content": "You answer questions about the weather."},
            {"role": "user", "content": f"Question {i}: {_sentence(2 * i, 14)}?"},
            {"role": "assistant", "content": _sentence(2 * i + 1, 18)},
        ]
    }


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gate")
    lines = [json.dumps(_chat(i)) for i in range(40)]
    lines += [json.dumps(_chat(3)), json.dumps(_chat(7)), '{"messages": [broken']
    raw = root / "chat.jsonl"
    raw.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = root / "run"
    run_pipeline(RunConfig(inputs=[raw], out=out, val_size=VAL_SIZE, workers=1))
    return out


@pytest.fixture(scope="module")
def clean_result(clean_run):
    return run_gate(clean_run)


def _copy(run: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("quality"))
    return dest


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def _write(path: Path, rows: list[dict]) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=example_schema()), path)


def _failed(result) -> set[str]:
    return {c.name for c in result.failed}


def _check(result, name: str):
    return next(c for c in result.checks if c.name == name)


def test_clean_run_passes(clean_result):
    assert clean_result.ok, [c.as_dict() for c in clean_result.checks if not c.success]
    assert all(c.success for c in clean_result.checks)
    names = [c.name for c in clean_result.checks]
    assert names == [
        "train.min_examples",
        "validation.not_empty",
        "validation.share",
        "ids.unique",
        "tokens.within_limit",
        "tokens.counted",
        "roles.known",
        "roles.unconfirmed",
        "roles.last",
        "assistant.content_not_empty",
        "rejected.share",
        "duplicates.share",
        "scan.secrets",
        "scan.pii_share",
        "manifest.counts_match",
    ]
    assert _check(clean_result, "train.min_examples").observed == 40 - VAL_SIZE
    assert _check(clean_result, "validation.not_empty").observed == VAL_SIZE
    assert _check(clean_result, "rejected.share").observed == pytest.approx(1 / 43)
    duplicates = _check(clean_result, "duplicates.share")
    assert duplicates.observed == pytest.approx(2 / 43) and duplicates.severity == INFO


def test_data_docs_and_result_json(clean_run, clean_result):
    index = clean_run / "quality" / "index.html"
    assert index.is_file()
    html = index.read_text(encoding="utf-8")
    assert "ftprep.openai-chat.examples" in html and "ftprep.openai-chat.run" in html
    saved = json.loads((clean_run / "quality" / "result.json").read_text(encoding="utf-8"))
    assert saved["ok"] is True and saved["profile"] == "openai-chat"
    assert len(saved["expectations"]) == len(clean_result.checks)
    assert {r["suite_name"] for r in saved["great_expectations"]} == {
        "ftprep.openai-chat.examples",
        "ftprep.openai-chat.examples.warnings",
        "ftprep.openai-chat.run",
        "ftprep.openai-chat.run.warnings",
    }


def test_train_row_copied_into_validation_fails_unique_ids(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path)
    leaked = _rows(run / "train.parquet")[0]
    validation = _rows(run / "validation.parquet")
    _write(run / "validation.parquet", validation + [leaked | {"split": "validation"}])
    result = run_gate(run)
    assert not result.ok
    assert "ids.unique" in _failed(result)
    rows = _check(result, "ids.unique").failing_rows
    assert {(r["id"], r["split"]) for r in rows} == {
        (leaked["id"], "train"),
        (leaked["id"], "validation"),
    }
    assert all(r["source"] == leaked["source"] and r["line"] == leaked["line"] for r in rows)


def _set_policy(run: Path, policy: str) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["length"]["policy"] = policy
    (run / "manifest.json").write_text(json.dumps(manifest))


def test_over_limit_row_fails(clean_run, tmp_path):
    """Over the limit fails the gate when the run promised none (drop, truncate); with the
    default 'flag' the run kept it on purpose and said so, and the gate warns (providers
    truncate), as the run did."""
    run = _copy(clean_run, tmp_path)
    rows = _rows(run / "train.parquet")
    rows[2]["n_tokens"] = 70_000  # over gpt-4o-mini's 65,536 per example
    _write(run / "train.parquet", rows)
    result = run_gate(run)
    assert result.ok and [c.name for c in result.warned] == ["tokens.within_limit"]
    _set_policy(run, "drop")
    result = run_gate(run)
    assert _failed(result) == {"tokens.within_limit"}
    check = _check(result, "tokens.within_limit")
    assert check.unexpected_count == 1
    assert check.failing_rows == [
        {
            "id": rows[2]["id"],
            "split": "train",
            "source": rows[2]["source"],
            "line": rows[2]["line"],
            "n_tokens": 70_000,
        }
    ]


def test_threshold_max_tokens_from_config(clean_result, clean_run, tmp_path):
    run = _copy(clean_run, tmp_path)
    longest = max(_rows(run / "train.parquet"), key=lambda r: r["n_tokens"])
    result = run_gate(run, {"max_tokens": longest["n_tokens"] - 1})
    assert _failed(result) == {"tokens.within_limit"}
    assert any(r["id"] == longest["id"] for r in _check(result, "tokens.within_limit").failing_rows)


def test_empty_validation_fails(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path)
    _write(run / "validation.parquet", [])
    result = run_gate(run)
    assert {"validation.not_empty", "validation.share"} <= _failed(result)
    assert _check(result, "validation.not_empty").observed == 0


def test_too_few_train_examples_fails(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path)
    _write(run / "train.parquet", _rows(run / "train.parquet")[:5])
    result = run_gate(run)
    assert "train.min_examples" in _failed(result)
    assert _check(result, "train.min_examples").observed == 5


def test_too_many_rejects_in_manifest_fails(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["counts"]["records"] += 9
    manifest["counts"]["rejected"] += 9  # 10 of 52 records
    (run / "manifest.json").write_text(json.dumps(manifest))
    result = run_gate(run)
    assert _failed(result) == {"rejected.share"}
    assert _check(result, "rejected.share").observed == pytest.approx(10 / 52)
    assert run_gate(run, {"max_rejected_share": 0.25}).ok


def test_empty_assistant_content_fails(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path)
    rows = _rows(run / "validation.parquet")
    rows[0]["messages"][-1]["content"] = "   "
    _write(run / "validation.parquet", rows)
    result = run_gate(run)
    assert _failed(result) == {"assistant.content_not_empty"}
    (row,) = _check(result, "assistant.content_not_empty").failing_rows
    assert (row["split"], row["line"]) == ("validation", rows[0]["line"])


def test_bad_last_role_is_a_warning_for_openai(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path)
    rows = _rows(run / "train.parquet")
    follow_up = dict(rows[1]["messages"][1], content="And tomorrow?")
    rows[1]["messages"].append(follow_up)
    _write(run / "train.parquet", rows)
    result = run_gate(run)
    check = _check(result, "roles.last")
    assert not check.success and check.severity == WARNING
    assert result.ok and [c.name for c in result.warned] == ["roles.last"]
    assert check.failing_rows[0]["last_role"] == "user"
    assert _statuses(run) == {"passed": 4}  # the warning is not shown as "Failed"
    assert _gx_successes(run) == [True] * 4
    warnings_page = next((run / "quality").rglob("*examples.warnings.html")).read_text()
    assert "roles.last" in warnings_page or "last_role" in warnings_page
    strict = run_gate(run, {"fail_on_warning": True})
    assert not strict.ok and _failed(strict) == {"roles.last"}
    # now it blocks: shown as failed (the info of both tables stays apart)
    assert _statuses(run) == {"passed": 3, "failed": 1}
    assert _gx_successes(run) == [False, True, True, True]  # the info suites stay apart


def _statuses(run: Path) -> dict[str, int]:
    """The status Data Docs show on each validation page: passed (check) or failed (cross)."""
    import collections

    found: collections.Counter = collections.Counter()
    for page in (run / "quality" / "validations").rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        if 'Status:</span> <i class="fas fa-check-circle' in html:
            found["passed"] += 1
        elif 'Status:</span> <i class="fas fa-times' in html:
            found["failed"] += 1
    return dict(found)


def _gx_successes(run: Path) -> list[bool]:
    saved = json.loads((run / "quality" / "result.json").read_text(encoding="utf-8"))
    return [r["success"] for r in saved["great_expectations"]]


def _gate_with_role(clean_run, tmp_path, message: int, role: str):
    """The gate's result on the clean run with one message of train row 4 given ``role``."""
    run = _copy(clean_run, tmp_path)
    rows = _rows(run / "train.parquet")
    rows[4]["messages"][message]["role"] = role
    _write(run / "train.parquet", rows)
    return run_gate(run)


def test_unknown_role_fails(clean_run, tmp_path):
    result = _gate_with_role(clean_run, tmp_path, 1, "usr")
    assert _failed(result) == {"roles.known"}
    assert _check(result, "roles.known").failing_rows[0]["roles"] == "system usr assistant"


def test_developer_role_is_a_warning_as_validate_says(clean_run, tmp_path):
    result = _gate_with_role(clean_run, tmp_path, 0, "developer")
    check = _check(result, "roles.unconfirmed")
    assert not check.success and check.severity == WARNING
    assert result.ok and [c.name for c in result.warned] == ["roles.unconfirmed"]
    assert check.failing_rows[0]["roles"] == "developer user assistant"


def test_duplicate_share_bounded_by_config(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path)
    result = run_gate(run, {"max_duplicate_share": 0.01})
    assert _failed(result) == {"duplicates.share"}


def test_cli_text_names_failures_and_exits_1(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path)
    rows = _rows(run / "train.parquet")
    rows[0]["n_tokens"] = 99_999
    _write(run / "train.parquet", rows)
    _set_policy(run, "drop")
    result = CliRunner().invoke(cli, ["gate", str(run)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[-1].startswith("gate FAILED: 1 of 15 expectations failed (tokens.within_limit)")
    fail = next(i for i, line in enumerate(lines) if line.startswith("FAIL"))
    assert "tokens.within_limit" in lines[fail] and "1 of 40 rows fail" in lines[fail]
    assert f"{rows[0]['source']}:{rows[0]['line']} [train] id {rows[0]['id']}" in lines[fail + 1]
    assert sum(line.startswith("pass") for line in lines) == 14


def test_cli_json_and_junit(clean_run):
    result = CliRunner().invoke(cli, ["gate", str(clean_run), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and data["failed"] == []
    assert data["thresholds"] == DEFAULTS
    result = CliRunner().invoke(cli, ["gate", str(clean_run), "--format", "junit"])
    assert result.exit_code == 0
    suite = ET.fromstring(result.output.split("\n", 1)[1])
    assert suite.get("tests") == "15" and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) == 15


def test_cli_config_gate_table(clean_run, tmp_path):
    config = tmp_path / "ftprep.toml"
    config.write_text("[gate]\nmin_train_examples = 1000\n")
    result = CliRunner().invoke(cli, ["gate", str(clean_run), "--config", str(config)])
    assert result.exit_code == 1
    assert "(train.min_examples)" in result.output.splitlines()[-1]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: None, "is not an ftprep run (no manifest.json)"),
        (lambda d: (d / "manifest.json").write_text("{not json"), "is not valid JSON"),
        (lambda d: (d / "manifest.json").write_text('{"counts": {}}'), "train.parquet is missing"),
    ],
)
def test_not_a_run_exits_2(tmp_path, setup, message):
    folder = tmp_path / "folder"
    folder.mkdir()
    setup(folder)
    result = CliRunner().invoke(cli, ["gate", str(folder)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "table, message",
    [
        ("max_rejected_share = 2", "gate.max_rejected_share must be between 0 and 1"),
        ("max_reject = 0.1", "unknown setting gate.max_reject"),
        ('min_train_examples = "ten"', "gate.min_train_examples has the wrong type"),
    ],
)
def test_bad_gate_config_exits_2(clean_run, tmp_path, table, message):
    config = tmp_path / "ftprep.toml"
    config.write_text(f"[gate]\n{table}\n")
    result = CliRunner().invoke(cli, ["gate", str(clean_run), "--config", str(config)])
    assert result.exit_code == 2 and message in result.output


# ---------------------------------------------------------------- the suite as data (no GX)


def _manifest(**config) -> dict:
    return {
        "profile": "openai-chat",
        "model": "gpt-4o-mini-2024-07-18",
        "config": {"val_ratio": 0.1, "val_size": None} | config,
        "counts": {"records": 100, "train": 90, "validation": 10, "rejected": 0, "duplicates": 0},
    }


def _specs(manifest: dict, **thresholds):
    specs, notes = derive_suite(manifest, DEFAULTS | thresholds, 100)
    return {s.name: s for s in specs}, notes


def test_suite_derived_from_ratio_and_model():
    specs, notes = _specs(_manifest())
    assert notes == []
    share = specs["validation.share"].kwargs
    assert share["min_value"] == pytest.approx(0.1 - 0.06) and share["max_value"] == pytest.approx(
        0.1 + 0.06
    )
    assert specs["tokens.within_limit"].kwargs["max_value"] == 65_536
    assert specs["tokens.within_limit"].severity == WARNING  # the default policy flags, keeps
    assert specs["train.min_examples"].kwargs["min_value"] == 10
    specs, _ = _specs(_manifest(length_policy="drop"))
    assert specs["tokens.within_limit"].severity == CRITICAL


def test_suite_follows_the_split_plans_target_and_the_profiles_minimum():
    """The plan's target (the request within the training minimum) is what the share is
    checked against; no validation aimed at means no validation checks; Mistral's unconfirmed
    minimum is a warning in the gate as in validate."""
    manifest = _manifest(val_size=500) | {"split": {"clusters": 100, "target": 90}}
    specs, _ = _specs(manifest)
    assert specs["validation.share"].kwargs["min_value"] == pytest.approx(0.9 - 0.06)
    specs, notes = _specs(_manifest() | {"split": {"clusters": 10, "target": 0}})
    assert "validation.not_empty" not in specs and "validation.share" not in specs
    assert any("aimed at no validation example" in n for n in notes)
    specs, _ = _specs(_manifest() | {"profile": "mistral"})
    assert specs["train.min_examples"].severity == WARNING
    specs, _ = _specs(_manifest() | {"profile": "trl-sft"})
    assert specs["train.min_examples"].kwargs["min_value"] == 1
    assert specs["train.min_examples"].severity == CRITICAL


def test_suite_unconfirmed_limit_is_a_warning_and_length_policy_wins():
    specs, _ = _specs(_manifest() | {"model": "gpt-4.1-nano-2025-04-14"})
    assert specs["tokens.within_limit"].severity == WARNING
    assert specs["tokens.within_limit"].kwargs["max_value"] == 32_768
    manifest = _manifest() | {"length": {"policy": "truncate", "max_tokens": 4096}}
    specs, _ = _specs(manifest)
    assert specs["tokens.within_limit"].kwargs["max_value"] == 4096
    specs, _ = _specs(manifest, max_tokens=100)
    assert specs["tokens.within_limit"].kwargs["max_value"] == 100


def test_suite_without_validation_or_role_facts():
    specs, notes = _specs(_manifest(val_ratio=0.0) | {"profile": "trl-sft"})
    assert "validation.not_empty" not in specs and "roles.last" not in specs
    assert len(notes) == 2
    specs, _ = _specs(_manifest(val_size=25))
    assert specs["validation.share"].kwargs["min_value"] == pytest.approx(0.25 - 0.06)


# ---------------------------------------------------------------- the example workflow


def test_example_workflow_validates_runs_gates_and_uploads_data_docs():
    yaml = pytest.importorskip("yaml")
    repo = Path(__file__).resolve().parents[1]
    workflow = yaml.safe_load((repo / "examples" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["data"]["steps"]
    commands = [s.get("run", "") for s in steps]
    order = [
        next(i for i, c in enumerate(commands) if f"ftprep {name}" in c)
        for name in ("validate", "run", "gate")
    ]
    assert order == sorted(order)
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["path"].endswith("/quality/") and upload["if"]
    for command in commands:  # every ftprep command and option in the example exists
        for line in command.splitlines():
            if "ftprep " not in line or "pip install" in line:
                continue
            words = line.split("ftprep ", 1)[1].split()
            options = {o for p in cli.commands[words[0]].params for o in p.opts}
            for word in words[1:]:
                if word.startswith("--"):
                    assert word in options, f"ftprep {words[0]} has no option {word}"


def test_a_failing_row_names_its_line_as_a_whole_number() -> None:
    """A line column with a gap reads as floats; the report still says t.jsonl:3."""
    from pipeline.commands.gate_report import _row

    row = {"source": "t.jsonl", "line": 3.0, "split": "train", "id": "x"}
    assert _row(row) == "t.jsonl:3 [train] id x"
