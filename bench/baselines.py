"""What ftprep is measured against, each run as its own process by bench/run.py.

floor:    parse every line and tiktoken-encode every message, nothing else (1 or 2 processes).
cookbook: the OpenAI cookbook's chat data-prep checks and token counts, one process.
datasets: a Hugging Face datasets map/filter pipeline doing ftprep's steps (convert, check,
          count, exact dedupe, split, write JSONL), num_proc=2.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

from pipeline.stages.tokens import get_encoding

ENCODING = "o200k_base"


def _encode_lines(lines: list[bytes]) -> int:
    import orjson

    encode = get_encoding(ENCODING).encode_ordinary
    tokens = 0
    for line in lines:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        for m in record.get("messages", []):
            tokens += len(encode(m.get("content") or ""))
    return tokens


def _chunks(path: Path, size: int = 2000):
    chunk = []
    with open(path, "rb") as f:
        for line in f:
            chunk.append(line)
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def floor(path: Path, processes: int) -> int:
    get_encoding(ENCODING)
    if processes == 1:
        return sum(_encode_lines(c) for c in _chunks(path))
    with Pool(processes) as pool:
        return sum(pool.imap(_encode_lines, _chunks(path), chunksize=1))


def cookbook(path: Path) -> int:
    """The cookbook notebook's loop (Chat_finetuning_data_prep.ipynb), as a script."""
    encoding = get_encoding(ENCODING)
    errors: dict[str, int] = defaultdict(int)
    lengths = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                ex = json.loads(line)
            except json.JSONDecodeError:
                errors["json"] += 1
                continue
            if not isinstance(ex, dict):
                errors["data_type"] += 1
                continue
            messages = ex.get("messages", None)
            if not messages:
                errors["missing_messages_list"] += 1
                continue
            for message in messages:
                if "role" not in message or "content" not in message:
                    errors["message_missing_key"] += 1
                if any(
                    k not in ("role", "content", "name", "function_call", "weight") for k in message
                ):
                    errors["message_unrecognized_key"] += 1
                if message.get("role", None) not in ("system", "user", "assistant", "function"):
                    errors["unrecognized_role"] += 1
                content = message.get("content", None)
                if (not content and not message.get("function_call")) or not isinstance(
                    content, str
                ):
                    errors["missing_content"] += 1
            if not any(m.get("role", None) == "assistant" for m in messages):
                errors["example_missing_assistant_message"] += 1
            n = 3
            for message in messages:
                n += 3
                for key, value in message.items():
                    n += len(encoding.encode(value))
                    if key == "name":
                        n += 1
            lengths.append(n)
    return sum(lengths)


def _hf_convert(batch, encoding_name=ENCODING):
    import hashlib

    encode = get_encoding(encoding_name).encode_ordinary
    out = {"text": [], "ok": [], "n_tokens": [], "hash": []}
    for messages in batch["messages"]:
        ok = bool(messages) and any(m["role"] == "assistant" for m in messages)
        ok = ok and all(
            m["role"] in ("system", "user", "assistant") and m["content"] for m in messages
        )
        n = 3 + sum(
            3 + len(encode(m["role"])) + len(encode(m["content"] or "")) for m in messages or []
        )
        text = json.dumps({"messages": messages}, ensure_ascii=False)
        out["text"].append(text)
        out["ok"].append(ok)
        out["n_tokens"].append(n)
        out["hash"].append(hashlib.sha256(" ".join(text.split()).encode()).hexdigest())
    return out


def hf_datasets(path: Path, out: Path) -> int:
    import os

    os.environ["HF_DATASETS_OFFLINE"] = "1"
    import datasets

    datasets.disable_progress_bars()
    clean = out / "clean.jsonl"
    with open(path, "rb") as src, open(clean, "wb") as dst:  # datasets cannot skip bad lines
        import orjson

        for line in src:
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            dst.write(line)
    ds = datasets.load_dataset(
        "json", data_files=str(clean), split="train", cache_dir=str(out / "cache")
    )
    ds = ds.map(_hf_convert, batched=True, num_proc=2, remove_columns=ds.column_names)
    ds = ds.filter(lambda b: b["ok"], batched=True, num_proc=2)
    seen: set[str] = set()
    keep = []
    for i, h in enumerate(ds["hash"]):
        if h not in seen:
            seen.add(h)
            keep.append(i)
    ds = ds.select(keep)
    parts = ds.train_test_split(test_size=0.1, seed=0)
    parts["train"].select_columns(["text"]).to_json(str(out / "train.jsonl"))
    parts["test"].select_columns(["text"]).to_json(str(out / "validation.jsonl"))
    return len(ds)


if __name__ == "__main__":
    name, data = sys.argv[1], Path(sys.argv[2])
    if name == "floor1":
        print(floor(data, 1))
    elif name == "floor2":
        print(floor(data, 2))
    elif name == "cookbook":
        print(cookbook(data))
    elif name == "datasets":
        print(hf_datasets(data, Path(sys.argv[3])))
