"""Packing estimate: what a trainer's ``--max-seq-len`` will do to a file's examples.

Takes each example's token count, in file order, and reports for a sequence length L:

* ``sequences``: how many sequences of at most L tokens best-fit-decreasing packing makes, as TRL's
  default ``pack_dataset(strategy="bfd")`` does: each example cut to L tokens, empty ones left
  out, then, within each block of 1,000 examples (the ``datasets.map`` batch it packs one at a
  time), the longest first, each into the open sequence with the least room that still holds it;
* ``padding_tokens``: the padding without packing, every example padded to L (after truncation);
* ``truncated_tokens`` and ``truncated_examples``: what cutting at L drops.

Memory holds one block of counts at a time.
"""

from __future__ import annotations

import bisect
from typing import Any

BLOCK = 1000  # datasets' default map batch size, which pack_dataset packs one batch at a time


def pack_block(lengths: list[int], seq_len: int) -> int:
    """Sequences that best-fit-decreasing packing makes of these lengths (each at most L)."""
    rooms: list[int] = []  # the room left in each open sequence, sorted
    made = 0
    for n in sorted((n for n in lengths if n > 0), reverse=True):
        i = bisect.bisect_left(rooms, n)
        if i < len(rooms):
            room = rooms.pop(i)
        else:
            room, made = seq_len, made + 1
        if room - n > 0:
            bisect.insort(rooms, room - n)
    return made


class PackingEstimate:
    def __init__(self, seq_len: int):
        if seq_len <= 0:
            raise ValueError(f"--max-seq-len must be a positive number of tokens, not {seq_len}")
        self.seq_len = seq_len
        self.block: list[int] = []
        self.examples = self.tokens = self.sequences = 0
        self.padding_tokens = self.truncated_tokens = self.truncated_examples = 0

    def add(self, n: int) -> None:
        L = self.seq_len
        self.examples += 1
        if n > L:
            self.truncated_tokens += n - L
            self.truncated_examples += 1
        kept = min(n, L)
        self.tokens += kept
        self.padding_tokens += L - kept
        self.block.append(kept)
        if len(self.block) == BLOCK:
            self._flush()

    def _flush(self) -> None:
        self.sequences += pack_block(self.block, self.seq_len)
        self.block = []

    def result(self) -> dict:
        self._flush()
        slots = self.sequences * self.seq_len
        return {
            "max_seq_len": self.seq_len,
            "strategy": "bfd (TRL pack_dataset default), per block of 1,000 examples",
            "examples": self.examples,
            "sequences": self.sequences,
            "packed_fill": round(self.tokens / slots, 4) if slots else 0.0,
            "padding_tokens": self.padding_tokens,
            "padding_share": (
                round(self.padding_tokens / (self.examples * self.seq_len), 4)
                if self.examples
                else 0.0
            ),
            "truncated_tokens": self.truncated_tokens,
            "truncated_examples": self.truncated_examples,
        }


def estimate_parquet(path: Any, seq_len: int) -> dict:
    """The estimate over the ``n_tokens`` column of a split's Parquet file, in file order (a
    batch at a time)."""
    import pyarrow.parquet as pq

    estimate = PackingEstimate(seq_len)
    for batch in pq.ParquetFile(path).iter_batches(columns=["n_tokens"], batch_size=BLOCK):
        for n in batch.column(0).to_pylist():
            estimate.add(n or 0)
    return estimate.result()


def packing_lines(p: dict) -> list[str]:
    """The summary lines of a packing estimate."""
    L = p["max_seq_len"]
    return [
        f"packing at {L:,} tokens: {p['examples']:,} example(s) -> {p['sequences']:,} "
        f"sequence(s) with best-fit-decreasing packing ({p['packed_fill']:.0%} full)",
        f"  without packing, each example padded to {L:,}: {p['padding_tokens']:,} padding "
        f"token(s) ({p['padding_share']:.0%}); truncation at {L:,} drops {p['truncated_tokens']:,} token(s) of "
        f"{p['truncated_examples']:,} example(s)",
    ]
