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
