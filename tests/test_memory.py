"""Bounded memory: peak RSS of a run on 100k generated examples stays under 1 GB."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

WORDS = (
    "trail tent boot stove lantern river summit valley forest meadow ridge canyon lake camp map "
    "compass jacket glove rope anchor harbor island bridge tower garden market bakery recipe"
).split()


def write_corpus(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            user = " ".join(rng.choices(WORDS, k=rng.randint(8, 60)))
            reply = " ".join(rng.choices(WORDS, k=rng.randint(20, 200)))
            record = {
                "messages": [
                    {"role": "system", "content": "You are a helpful outdoor gear assistant."},
                    {"role": "user", "content": f"{i}: {user}?"},
                    {"role": "assistant", "content": reply + "."},
                ]
            }
            f.write(json.dumps(record) + "\n")
            if i % 1000 == 7:
                f.write(json.dumps(record) + "\n")  # an exact duplicate
            if i % 5000 == 11:
                f.write('{"messages": [\n')  # a broken line


PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stderr.write(done.stdout + done.stderr)
"""


def test_peak_rss_under_1gb_on_100k_examples(tmp_path: Path) -> None:
    data = tmp_path / "big.jsonl"
    write_corpus(data, 100_000)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-c",
        PEAK_RSS,
        sys.executable,
        "-m",
        "pipeline",
        "run",
        str(data),
        "--out",
        str(out),
        "--quiet",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    code, peak_kib = map(int, done.stdout.split())
    assert code == 0, done.stderr
    assert peak_kib < 1024 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
    m = json.loads((out / "manifest.json").read_text())
    assert m["counts"]["records"] == 100_000 + 100 + 20
    assert m["counts"]["duplicates"] == 100 and m["counts"]["rejected"] == 20
