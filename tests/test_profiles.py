"""Every profile: its case files, the real data files that claim its format, the round trip through
`ftprep run`, the schema fast path agreeing with jsonschema, the plain-line shortcut agreeing with
the schema, and shuffle invariance."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import fastjsonschema
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pipeline.cli import cli
from pipeline.commands.validate import choose_profile, validate_files
from pipeline.findings import ERROR
from pipeline.profiles.profiles import PROFILES, get_profile, load_schema
from pipeline.stages.validate import accepts_plain_lines
from tests.conftest import SHARED_DATA, needs_shared_data, write_jsonl

CASES = Path(__file__).parent / "cases"
ALL_CASES = sorted(CASES.glob("*/*.json"))


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_every_profile_has_cases_both_ways() -> None:
    assert sorted(p.name for p in CASES.iterdir()) == sorted(PROFILES)
    for profile in PROFILES:
        cases = [json.loads(f.read_text()) for f in (CASES / profile).glob("*.json")]
        assert len(cases) >= 8, profile
        assert {c["valid"] for c in cases} == {True, False}, profile


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_case(case: Path, tmp_path: Path) -> None:
    spec = json.loads(case.read_text())
    path = write_lines(tmp_path / "case.jsonl", spec["lines"])
    report = validate_files([path], get_profile(case.parent.name))
    findings = [f for f in report.findings if spec.get("file") or not f.rule.startswith("file.")]
    assert sorted({f.rule for f in findings}) == sorted(spec["rules"]), spec["description"]
    assert (not any(f.severity == ERROR for f in findings)) == spec["valid"], spec["description"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_fast_path_agrees_with_jsonschema(profile: str) -> None:
    """The compiled validator accepts exactly the lines jsonschema accepts."""
    schema = load_schema(profile)
    fast, full = fastjsonschema.compile(schema), Draft202012Validator(schema)
    for case in ALL_CASES:
        for line in json.loads(case.read_text())["lines"]:
            try:
                fast(line)
                accepted = True
            except fastjsonschema.JsonSchemaValueException:
                accepted = False
            assert accepted == full.is_valid(line), (case, line)


PLAIN_LINES = st.fixed_dictionaries(
    {
        "messages": st.lists(
            st.fixed_dictionaries({"role": st.text(max_size=12), "content": st.text()}),
            min_size=1,
            max_size=6,
        )
    }
)


@pytest.mark.parametrize("profile", sorted(PROFILES))
@given(line=PLAIN_LINES)
@settings(max_examples=40, deadline=None)
def test_plain_line_shortcut_agrees_with_the_schema(profile: str, line: dict) -> None:
    """Where the reading of a schema says it accepts every plain line, it does."""
    schema = load_schema(profile)
    if accepts_plain_lines(schema):
        assert Draft202012Validator(schema).is_valid(line)


def test_plain_line_reading_says_no_to_what_could_constrain() -> None:
    chat = load_schema("openai-chat")  # references inlined
    assert accepts_plain_lines(chat)
    raw = json.loads(
        (Path(__file__).parents[1] / "schemas" / "openai-chat.schema.json").read_text()
    )
    assert accepts_plain_lines(raw)  # references followed

    def with_message(message: dict) -> dict:
        messages = {**chat["properties"]["messages"], "items": message}
        return {**chat, "properties": {**chat["properties"], "messages": messages}}

    message = chat["properties"]["messages"]["items"]
    tighter = [
        {**chat, "required": ["messages", "tools"]},
        {**chat, "allOf": [{"required": ["tools"]}]},
        {
            **chat,
            "properties": {**chat["properties"], "messages": {"type": "array", "maxItems": 3}},
        },
        with_message({**message, "maxProperties": 1}),
        with_message({**message, "required": ["role", "name"]}),
    ]
    for prop, constraint in [
        ("role", {"enum": ["user"]}),
        ("content", {"minLength": 1}),
        ("content", {"pattern": "^a"}),
        ("content", {"type": "array"}),
    ]:
        props = {**message["properties"], prop: {**message["properties"][prop], **constraint}}
        tighter.append(with_message({**message, "properties": props}))
    for schema in tighter:
        assert not accepts_plain_lines(schema), schema


@given(st.randoms(use_true_random=False))
@settings(max_examples=25, deadline=None)
def test_shuffling_lines_changes_only_line_numbers(rnd: random.Random) -> None:
    lines = [json.loads(c.read_text())["lines"] for c in (CASES / "trl-sft").glob("*.json")]
    lines += [json.loads(c.read_text())["lines"] for c in (CASES / "together").glob("*.json")]
    records = [x for group in lines for x in group]
    shuffled = records[:]
    rnd.shuffle(shuffled)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for profile in ("trl-sft", "together"):
            a = validate_files([write_lines(Path(tmp) / "a.jsonl", records)], get_profile(profile))
            b = validate_files([write_lines(Path(tmp) / "b.jsonl", shuffled)], get_profile(profile))

            def view(report, order):
                out = []
                for f in report.findings:
                    record = json.dumps(order[f.line - 1], sort_keys=True) if f.line else None
                    out.append((record, f.pointer, f.rule, f.severity, f.message))
                return sorted(out, key=repr)

            assert view(a, records) == view(b, shuffled)
            assert a.counts == b.counts and a.records == b.records


# --------------------------------------------------------------------------- real files

REAL = [
    ("openai_cookbook/drone_training.jsonl", "openai-chat", {}),
    (
        "openai_cookbook/toy_chat_fine_tuning.jsonl",
        "openai-chat",
        {("file.min_examples", 0), ("openai.user.missing", 4)},
    ),
    ("misc_openai_chat/pirate_training_set.jsonl", "openai-chat", {}),
    (
        "bedrock/nova_tooluse_formatted_test_ft.jsonl",
        "bedrock-conversation",
        {("bedrock.schema_version.unknown", None)},
    ),
    ("google_genai/patient_1_glucose_examples.jsonl", "vertex-gemini", {}),
    ("llamafactory/kto_en_demo.json", "trl-kto", {("trl.kto.shape", None)}),
    ("mlx_examples/wwdc25_train.jsonl", "trl-sft", {}),
    ("hh_rlhf/harmless-base_test.jsonl.gz", "trl-dpo", {}),
]


@needs_shared_data
@pytest.mark.parametrize("name, profile, expected", REAL, ids=[r[0] for r in REAL])
def test_real_file(name: str, profile: str, expected: set) -> None:
    """Each real file through the profile it claims: its known defects and nothing else."""
    report = validate_files([SHARED_DATA / name], get_profile(profile))
    found = {(f.rule, f.line) for f in report.findings}
    per_line = {rule for rule, line in expected if line is None}
    assert {(r, ln) for r, ln in found if r not in per_line} == {
        (r, ln) for r, ln in expected if ln is not None
    }
    for rule in per_line:  # a defect of every record
        assert report.counts[rule] == report.records, rule


@needs_shared_data
def test_toy_chat_long_example_over_an_old_model_limit() -> None:
    report = validate_files(
        [SHARED_DATA / "openai_cookbook/toy_chat_fine_tuning.jsonl"],
        get_profile("openai-chat"),
        model="gpt-3.5-turbo-0613",
    )
    assert [(f.rule, f.line) for f in report.findings if f.rule == "length.over_limit"] == [
        ("length.over_limit", 5)
    ]


@needs_shared_data
@pytest.mark.parametrize(
    "name, profile",
    [
        ("bedrock/nova_tooluse_formatted_test_ft.jsonl", "bedrock-conversation"),
        ("google_genai/patient_1_glucose_examples.jsonl", "vertex-gemini"),
        ("openai_cookbook/drone_training.jsonl", "openai-chat"),
        ("hh_rlhf/harmless-base_test.jsonl.gz", "trl-dpo"),
    ],
)
def test_auto_picks_the_claimed_profile(name: str, profile: str) -> None:
    assert choose_profile([SHARED_DATA / name])[0].name == profile


# --------------------------------------------------------------------------- round trip


@needs_shared_data
@pytest.mark.parametrize(
    "source, profile",
    [
        ("llamafactory/glaive_toolcall_en_demo.json", "openai-chat"),
        ("llamafactory/glaive_toolcall_en_demo.json", "mistral"),
        ("llamafactory/dpo_en_demo.json", "trl-dpo"),
        ("llamafactory/dpo_en_demo.json", "openai-dpo"),
        ("llamafactory/kto_en_demo.json", "trl-kto"),
        ("llamafactory/alpaca_en_demo.json", "vertex-gemini"),
        ("llamafactory/alpaca_en_demo.json", "bedrock-conversation"),
        ("llamafactory/alpaca_en_demo.json", "together"),
    ],
)
def test_run_output_passes_validate(tmp_path: Path, source: str, profile: str) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["run", str(SHARED_DATA / source), "--out", str(out), "--profile", profile, "-q"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["validate", str(out / "train.jsonl"), "--profile", profile])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_renderer_output_passes_its_profile(tmp_path: Path, profile: str) -> None:
    """Round trip without the engine: a canonical Example of each accepted kind, rendered, passes."""
    from pipeline.records import new_example
    from pipeline.stages.validate import validate_record

    p = get_profile(profile)
    user = {"role": "user", "content": "What is the capital of France?"}
    answer = {"role": "assistant", "content": "Paris."}
    wrong = {"role": "assistant", "content": "Lyon."}
    for kind in p.kinds:
        ex = new_example("in.jsonl", 1, kind)
        ex["messages"] = [{"role": "system", "content": "Be brief."}, user]
        if kind == "sft":
            ex["messages"].append(answer)
        elif kind == "preference":
            ex["chosen"], ex["rejected"] = [answer], [wrong]
        else:
            ex["completion"], ex["label"] = [answer], True
        line = p.render(ex)
        errors = [i for i in validate_record(p, line) if i[2] == ERROR]
        assert errors == [], (kind, line)


def test_write_jsonl_helper_is_shared(tmp_path: Path) -> None:
    # the conftest helper writes what the validator reads
    path = write_jsonl(tmp_path / "x.jsonl", [{"text": "a"}])
    assert validate_files([path], get_profile("trl-sft")).records == 1


@pytest.mark.parametrize(
    ("profile", "rule", "severity"),
    [
        ("openai-chat", "openai.images.size", "warning"),
        ("azure-openai-chat", "azure.images.size", "warning"),
        ("together", "together.images.size", "error"),
    ],
)
def test_an_image_over_10_mib_is_reported(
    profile: str, rule: str, severity: str, tmp_path: Path
) -> None:
    """OpenAI and Azure skip such an image in training (a warning); Together's check fails."""
    from pipeline.profiles.rules.common import IMAGE_MAX_BYTES

    def line(image_bytes: int) -> dict:
        data = b"\x89PNG" + bytes(image_bytes - 4)
        url = "data:image/png;base64," + base64.b64encode(data).decode()
        parts = [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": url}},
        ]
        answer = [{"type": "text", "text": "A picture."}]
        return {
            "messages": [
                {"role": "user", "content": parts},
                {"role": "assistant", "content": answer},
            ]
        }

    path = write_lines(
        tmp_path / "images.jsonl", [line(IMAGE_MAX_BYTES), line(IMAGE_MAX_BYTES + 1)]
    )
    report = validate_files([path], get_profile(profile))
    found = [
        (f.line, f.rule, f.severity) for f in report.findings if not f.rule.startswith("file.")
    ]
    assert found == [(2, rule, severity)]
    message = next(f.message for f in report.findings if f.rule == rule)
    assert f"{IMAGE_MAX_BYTES + 1:,} bytes" in message
