"""Before a run writes anything: the profile, the model, the inputs and the output folder.

``resolve`` checks them, so that a problem is a usage problem (exit 2) and nothing is written: the
profile and its schema, the model (an OpenAI model id, or a local ``--tokenizer`` folder whose
chat template is loaded and probed here), the inputs (each given once) and the output folder
(``check_out``: a run replaces it whole). ``load_evals`` reads the eval sets of
``--decontaminate``. Both engines start here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.artifacts import ARTIFACTS, OPTIONAL_ARTIFACTS
from pipeline.config import RunConfig
from pipeline.profiles.models import ModelInfo, model_for_profile
from pipeline.profiles.profiles import Profile, get_profile, load_schema
from pipeline.stages import ingest


def resolve(config: RunConfig) -> tuple[Profile, ModelInfo, list[ingest.Source], list[str]]:
    """Check the profile, model and inputs before anything is written (errors here are exit 2).
    Returns the profile, the model, the input sources and the names of the files input folders
    hold but no reader takes (by their extension), unless they are given as inputs too."""
    profile = get_profile(config.profile)
    load_schema(profile.name)
    info = _model_for(config, profile)
    sources: list[ingest.Source] = []
    unknown: list[tuple[str, Path]] = []
    for path in config.inputs:
        sources.extend(ingest.discover(path, str(path), unknown))
    if not sources:
        raise ingest.InputError(
            "no input files found: name JSONL, JSON, CSV or Parquet files or folders"
        )
    seen: dict[Path, str] = {}
    for src in sources:
        first = seen.get(src.path.resolve())
        if first is not None:
            also = f" (also as {first})" if first != src.name else ""
            raise ingest.InputError(f"input {src.name} is given twice{also}: give each once")
        seen[src.path.resolve()] = src.name
    skipped = [name for name, path in unknown if path.resolve() not in seen]
    config.check()
    check_out(config.out, config.inputs)
    return profile, info, sources, skipped


OUT_CONTENTS = frozenset(
    (*ARTIFACTS, *OPTIONAL_ARTIFACTS, "quality")
)  # what a run (and `ftprep gate`) writes there


def check_out(out: Path, inputs: list[Path]) -> None:
    """The output folder is replaced whole by a run: refuse one that is a file, an input or holds
    one, lies inside an input folder, or holds anything but a previous run's artifacts (with its
    manifest.json)."""
    target = out.resolve()
    for given in inputs:
        path = Path(given).resolve()
        if target == path or path.is_relative_to(target) or target.is_relative_to(path):
            raise ingest.InputError(
                f"--out {out} overlaps the input {given}: the run replaces its output folder "
                "whole; write to a folder of its own"
            )
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise ingest.InputError(
                f"--out {out}: {folder} is a file; give a folder (the run replaces it whole)"
            )
    if out.is_dir():
        names = [p.name for p in out.iterdir()]
        previous_run = "manifest.json" in names  # else every file in it is the user's
        foreign = sorted(n for n in names if not previous_run or n not in OUT_CONTENTS)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise ingest.InputError(
                f"--out {out} holds files that are not a previous run's ({shown}): the run "
                "replaces its output folder whole; give a new or empty folder"
            )


def _model_for(config: RunConfig, profile: Profile) -> ModelInfo:
    """The model's tokenizer and limit: an OpenAI model id, or a local --tokenizer folder (whose
    template is loaded and probed here, so a broken or unsafe one is exit 2); --max-tokens wins."""
    from dataclasses import replace

    from pipeline.stages.length import check_policy

    check_policy(config.length_policy)
    if config.tokenizer:
        from pipeline.profiles.models import openai_model_named
        from pipeline.stages.hf_tokens import ChatTokenizer

        openai_model_named(config.model, config.tokenizer)
        tok = ChatTokenizer(config.tokenizer)
        info = ModelInfo(
            config.model or tok.path.name,
            tok.name,
            tok.max_tokens,
            "model_max_length in tokenizer_config.json",
            provider="open",
        )
    else:
        info = model_for_profile(profile, config.model)
    if config.max_tokens:
        info = replace(info, max_tokens=config.max_tokens, source="--max-tokens", confirmed=True)
    return info


def load_evals(config: RunConfig) -> Any:
    """The index of the eval sets ``--decontaminate`` names, or None (a missing one is exit 2)."""
    from pipeline.stages.dedupe.contamination import load

    return load(config.decontaminate, config.convert_options())
