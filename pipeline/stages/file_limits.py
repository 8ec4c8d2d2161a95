"""The file limits of a profile, checked on one whole file: what only the whole file shows.

Takes a file's size, its first bytes, its number of records and (for the limits by format) the
count of each record format, and yields findings as ``(line, pointer, rule, severity, message)``:
the byte-order mark, the size, an empty file, and the minimums that apply to a training or a
validation file. ``ftprep validate`` and the verdict ``ftprep run`` gives on the files it wrote
both call ``file_limit_findings``, so they agree.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

from pipeline.findings import ERROR, WARNING
from pipeline.profiles.profiles import TRAINING, FileLimits

UTF8_BOM = b"\xef\xbb\xbf"


def file_limit_findings(
    limits: FileLimits,
    size: int,
    head: bytes,
    records: int,
    formats: collections.Counter | None = None,
    role: str = TRAINING,
) -> Iterator[tuple[int, str, str, str, str]]:
    """The file limits of a profile for one file, as ``(line, pointer, rule, severity,
    message)``: byte-order mark, size, and the minimums that apply to a file of this ``role``
    (training or validation). ``ftprep validate`` and the verdict ``ftprep run`` gives on the
    files it wrote both call this, so they agree."""
    yield from _byte_findings(limits, size, head, role)
    if records == 0:
        yield (
            0,
            "",
            "file.empty",
            ERROR,
            "the file holds no examples; providers and loaders refuse an empty file (Together: "
            "'File is empty'; datasets.load_dataset finds no data): add examples or leave it out",
        )
        return
    if role not in limits.minimum_applies_to:
        return
    if limits.min_examples and records < limits.min_examples:
        what = "a training file" if limits.minimum_applies_to == (TRAINING,) else "each file"
        yield (
            0,
            "",
            "file.min_examples",
            limits.min_examples_severity,
            f"{records} example(s); the provider requires at least {limits.min_examples} in "
            f"{what}: add examples" + (" (or send fewer to validation)" if role == TRAINING else "")
            if limits.min_examples_severity == ERROR
            else f"{records} example(s); at least {limits.min_examples} are advised in {what} "
            f"({limits.sources.get('min_examples', 'unconfirmed')}): add examples",
        )
    for fmt, minimum in limits.min_examples_by_format.items():
        n = (formats or {}).get(fmt, 0)
        if 0 < n < minimum:
            yield (
                0,
                "",
                "file.min_examples",
                ERROR,
                f"{n} example(s) in the {fmt} format; it requires at least {minimum} in a "
                "training file: add examples",
            )


def _byte_findings(
    limits: FileLimits, size: int, head: bytes, role: str
) -> Iterator[tuple[int, str, str, str, str]]:
    if limits.bom == "expect" and head != UTF8_BOM:
        yield (
            0,
            "",
            "file.bom.missing",
            WARNING,
            "the provider expects UTF-8 with a byte-order mark; save the file as 'UTF-8 with BOM'",
        )
    elif limits.bom == "reject" and head == UTF8_BOM:
        yield (
            1,
            "",
            "file.bom.present",
            ERROR,
            "the file starts with a UTF-8 byte-order mark, which the provider's JSON reader "
            "rejects: save as UTF-8 without BOM",
        )
    elif limits.bom == "report" and head == UTF8_BOM:
        yield (
            1,
            "",
            "file.bom.present",
            WARNING,
            "the file starts with a UTF-8 byte-order mark; some loaders reject it: save as UTF-8 without BOM",
        )
    if limits.max_bytes is not None and (
        size >= limits.max_bytes if limits.max_bytes_exclusive else size > limits.max_bytes
    ):
        bound = "less than" if limits.max_bytes_exclusive else "at most"
        yield (
            0,
            "",
            "file.max_bytes",
            ERROR,
            f"file is {size:,} bytes; the provider accepts {bound} {limits.max_bytes:,}: split it",
        )
    if (
        limits.min_bytes is not None
        and size < limits.min_bytes
        and role in limits.minimum_applies_to
    ):
        yield (
            0,
            "",
            "file.min_bytes",
            limits.min_bytes_severity,
            f"file is {size:,} bytes; the provider requires at least {limits.min_bytes:,}: add examples"
            if limits.min_bytes_severity == ERROR
            else f"file is {size:,} bytes; at least {limits.min_bytes:,} are advised "
            f"({limits.sources.get('min_bytes', 'unconfirmed')}): add examples",
        )
