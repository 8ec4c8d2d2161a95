"""The providers' own checkers as oracles: the rule cases agree with them, and what `ftprep run`
writes from the real files in ../shared/data is accepted by them (tests/oracles.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.oracles import mistral_refusal, together_check

CASES = Path(__file__).parent / "cases"


def _cases(profile: str) -> list[tuple[str, dict]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted((CASES / profile).glob("*.json"))]


@pytest.mark.parametrize(
    "name, case", _cases("mistral"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_mistral_cases_get_mistral_commons_verdict(name: str, case: dict) -> None:
    """Every Mistral rule case: ftprep's verdict is mistral_common's, both ways."""
    verdicts = [mistral_refusal(line) for line in case["lines"]]
    if case["valid"]:
        assert verdicts == [None] * len(verdicts), verdicts
    else:
        assert any(verdicts), f"{name}: ftprep refuses it, mistral_common takes it"


# Together's docs state more than its SDK checks: these cases are refused by ftprep on the docs'
# word (providers.md §7, S40 "The conversation must start with system or user"), not by check_file.
TOGETHER_DOCS_ONLY = {"first_role.json"}


@pytest.mark.parametrize(
    "name, case", _cases("together"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_together_cases_get_check_files_verdict(tmp_path: Path, name: str, case: dict) -> None:
    path = tmp_path / "case.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in case["lines"]))
    report = together_check(path)
    if name in TOGETHER_DOCS_ONLY:
        assert not case["valid"] and report["is_check_passed"]
    else:
        assert report["is_check_passed"] == case["valid"], report["message"]


# ---------------------------------------------------------------- run outputs of the real files

from tests.conftest import SHARED_DATA, needs_shared_data  # noqa: E402
from tests.oracles import hf_load, mistral_file_refusals  # noqa: E402

PIRATE = "misc_openai_chat/pirate_training_set.jsonl"
TOY = "openai_cookbook/toy_chat_fine_tuning.jsonl"
DRONE = "openai_cookbook/drone_training.jsonl"
ALPACA = "llamafactory/alpaca_en_demo.json"
CODE = "codealpaca/code_alpaca_2k.json"
GLAIVE = "llamafactory/glaive_toolcall_en_demo.json"
MISSING = "axolotl/conversation.missingturns.json"
AXOLOTL = "axolotl/alpaca.json"
GEMINI = "google_genai/patient_1_glucose_examples.jsonl"
DPO = "llamafactory/dpo_en_demo.json"
HH = "hh_rlhf/harmless-base_test.jsonl.gz"
RUNS = [
    *[(f, "openai-chat") for f in (PIRATE, TOY, DRONE, ALPACA, GLAIVE, MISSING, AXOLOTL)],
    *[(f, "mistral") for f in (PIRATE, TOY, DRONE, CODE, GLAIVE, MISSING, AXOLOTL)],
    *[(f, "together") for f in (DRONE, CODE, DPO, GLAIVE, MISSING, GEMINI)],
    *[(f, "trl-sft") for f in (CODE, "fastchat/dummy_conversation.json", MISSING)],
    (DPO, "trl-dpo"),
    (HH, "trl-dpo"),
    ("llamafactory/kto_en_demo.json", "trl-kto"),
    (GEMINI, "vertex-gemini"),
    (PIRATE, "vertex-gemini"),
    ("bedrock/nova_tooluse_formatted_test_ft.jsonl", "bedrock-conversation"),
    ("mlx_examples/wwdc25_train.jsonl", "openai-completion"),
]
UPLOADS = ("train.jsonl", "validation.jsonl")


def _run(tmp_path: Path, name: str, profile: str) -> tuple[int, str, Path, dict]:
    from click.testing import CliRunner

    from pipeline.cli import cli

    path = SHARED_DATA / name
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(out), "--profile", profile])
    manifest = json.loads((out / "manifest.json").read_text()) if out.is_dir() else {}
    return result.exit_code, result.output, out, manifest


@needs_shared_data
@pytest.mark.parametrize("name, profile", RUNS, ids=[f"{p}:{n.split('/')[-1]}" for n, p in RUNS])
def test_what_run_writes_passes_validate_and_the_providers_checker(
    tmp_path: Path, name: str, profile: str
) -> None:
    """Invariants 1 and 2 on the real files: exit 0 exactly when every upload file written is
    non-empty and passes `ftprep validate` (as a training or a validation file); else exit 1
    with the file and the reason in the summary. Whatever the exit, no line the provider's own
    checker refuses is written, and every upload file loads with datasets.load_dataset."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    code, output, out, manifest = _run(tmp_path, name, profile)
    assert code in (0, 1), output
    written = [o for o in manifest["outputs"] if o["path"] in UPLOADS]
    assert all(o["records"] > 0 and o["bytes"] > 0 for o in written)
    assert all((out / o["path"]).stat().st_size == o["bytes"] for o in written)
    args = ["validate", "--profile", profile]
    for o in written:
        args += (
            [str(out / o["path"])]
            if o["path"] == "train.jsonl"
            else [
                "--validation-file",
                str(out / o["path"]),
            ]
        )
    verdict = manifest["verdict"]
    if code == 0:
        assert verdict["ok"] and any(o["path"] == "train.jsonl" for o in written)
        if written:
            report = CliRunner().invoke(cli, args)
            assert report.exit_code == 0, report.output
    else:
        assert not verdict["ok"]
        failed = [f for f in verdict["findings"] if f["severity"] == "error"]
        assert failed and all(f"{f['path']}" in output for f in failed)
        assert "verdict   FAILED" in output
    for o in written:
        path = out / o["path"]
        assert hf_load(path) == o["records"]
        if profile == "mistral":
            assert mistral_file_refusals(path) == []
        if profile == "together" and code == 0:
            report = together_check(path)
            assert report["is_check_passed"], report["message"]


GATED = [
    (PIRATE, "openai-chat"),
    (TOY, "mistral"),
    (DRONE, "mistral"),
    (CODE, "trl-sft"),
    (DPO, "trl-dpo"),
    (GLAIVE, "together"),
    (GEMINI, "vertex-gemini"),
    ("llamafactory/kto_en_demo.json", "trl-kto"),
]
THRESHOLDS = {"rejected.share", "duplicates.share"}


@needs_shared_data
@pytest.mark.parametrize("name, profile", GATED, ids=[f"{p}:{n.split('/')[-1]}" for n, p in GATED])
def test_the_gate_after_a_run_fails_only_on_thresholds_and_agrees_with_data_docs(
    tmp_path: Path, name: str, profile: str
) -> None:
    """Invariant 3 on the real files: after a run that exits 0 the gate fails on thresholds
    only, never on a row; its exit code, printed verdict, result.json and the status Data Docs
    show agree (a warning is never shown as Failed)."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    code, output, out, _ = _run(tmp_path, name, profile)
    assert code == 0, output
    result = CliRunner().invoke(cli, ["gate", str(out)])
    saved = json.loads((out / "quality" / "result.json").read_text())
    assert set(saved["failed"]) <= THRESHOLDS, result.output
    ok = result.exit_code == 0
    assert saved["ok"] is ok
    assert result.output.splitlines()[-1].startswith("gate passed" if ok else "gate FAILED")
    assert all(r["success"] for r in saved["great_expectations"]) is ok
    pages = [p.read_text() for p in (out / "quality" / "validations").rglob("*.html")]
    assert len(pages) == len(saved["great_expectations"])
    failed_pages = sum('Status:</span> <i class="fas fa-times' in p for p in pages)
    assert (failed_pages == 0) is ok


AUTO = {
    PIRATE: "openai-chat",
    TOY: "openai-chat",  # defects on purpose: still OpenAI's format, not the most lenient
    DRONE: "openai-chat",
    "bedrock/nova_tooluse_formatted_test_ft.jsonl": "bedrock-conversation",
    GEMINI: "vertex-gemini",
    "mlx_examples/wwdc25_train.jsonl": "openai-completion",
    "llamafactory/kto_en_demo.json": "trl-kto",  # messages + label: trl-sft used to win
}


@needs_shared_data
@pytest.mark.parametrize("name, expected", AUTO.items(), ids=[n.split("/")[-1] for n in AUTO])
def test_auto_picks_the_format_each_real_file_was_written_for(name: str, expected: str) -> None:
    """Invariant 5: --profile auto names the profile of the file's format, and its error count
    is the report's."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    result = CliRunner().invoke(
        cli, ["validate", str(SHARED_DATA / name), "--profile", "auto", "--format", "json"]
    )
    report = json.loads(result.stdout)
    assert report["profile"] == expected, result.stderr
    summary = report["summary"]
    assert f"; {summary['errors']} error(s), {summary['warnings']} warning(s)" in result.stderr
    assert result.exit_code == (1 if summary["errors"] else 0)
