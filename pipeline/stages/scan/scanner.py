"""Find secrets and personal data in a text or in every string of a record, and replace them.

Most text holds neither, so each text first meets a pre-filter that costs about as much as
reading it: one Aho-Corasick pass (``ahocorasick-rs``) over the trigger strings of every secret
kind and ``@``, and one ``bytes.translate`` that reduces the text to a sketch of its digit runs
(digits become ``0``, upper-case letters ``A``, the separators of phone and card numbers vanish,
everything else is a space). Only the kinds a text's triggers and sketch call for run their
patterns and validators (``secrets``, ``pii``); overlapping matches are settled by ``kinds``'
priority, so an IBAN's digits are not also a card. ``scan_value`` walks every string of a JSON
value (a record as read) with its JSON pointer; ``redact_value`` returns the value with each match
replaced by its placeholder. Base-64 payloads (data URLs, long unbroken base-64 strings such as
images) are not scanned: they are not text.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from dataclasses import dataclass
from typing import Any

from pipeline.findings import pointer
from pipeline.stages.scan import pii, secrets
from pipeline.stages.scan.kinds import BY_RULE, PII, PRIORITY, SECRET, mask

CATEGORIES = (SECRET, PII)


@dataclass(frozen=True, slots=True)
class Match:
    """One secret or piece of personal data in a text: its rule and where it lies."""

    rule: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Hit:
    """A match in one string of a record: the string's path (keys and indexes), the match, and
    the match masked."""

    path: tuple
    match: Match
    masked: str

    @property
    def pointer(self) -> str:
        return pointer(*self.path)

    @property
    def rule(self) -> str:
        return self.match.rule


# --------------------------------------------------------------------------- the pre-filter


@functools.cache
def _automaton() -> tuple[Any, tuple[str, ...]]:
    import ahocorasick_rs

    patterns, rules = [], []
    for rule, triggers in secrets.TRIGGERS.items():
        for trigger in triggers:
            patterns.append(trigger)
            rules.append(rule)
    patterns.append("@")
    rules.append("pii.email")
    return ahocorasick_rs.AhoCorasick(patterns), tuple(rules)


def _sketch_table() -> bytes:
    table = bytearray(b" " * 256)
    for c in b"0123456789":
        table[c] = ord("0")
    for c in range(ord("A"), ord("Z") + 1):
        table[c] = ord("A")
    table[ord(".")] = ord(".")
    table[ord(":")] = ord(":")
    table[0] = 0  # NUL stays: it parts the strings of a record in one sketch
    return bytes(table)


_SKETCH = _sketch_table()
_SEPARATORS = b" -()/+\xc2\xa0"  # deleted from the sketch: digits they part stay one run


# In the sketch, a phone, card, IBAN or national id number leaves seven digits or more with only
# separators between, or dotted groups (415.555.2671, 01.23.45.67.89); the identifiers these
# miss have layouts of their own (a Brazilian CPF, a Dutch BSN with dots, a UK National
# Insurance number, an Italian codice fiscale); an IPv4 address leaves four dotted groups.
_ID_LAYOUTS = (b"000.000.000", b"0000.00.000", b"AA000000A", b"AAAAAA00A00A000A")
_IP_SKETCH = re.compile(rb"0\.0{1,3}\.0{1,3}\.0")
# three colons at most four characters apart, as in 2a02:db8::1 (a-f are spaces in the sketch)
_IPV6_SKETCH = re.compile(rb"0[0A ]{0,3}:[0A ]{0,4}:[0A ]{0,4}:")


def sketch(text: str) -> bytes:
    """The text reduced to what the numeric detectors look for: ``0`` for a digit, ``A`` for an
    upper-case letter, ``.`` and ``:`` kept, the separators of printed numbers deleted, anything
    else a space."""
    return text.encode("utf-8", "surrogatepass").translate(_SKETCH, _SEPARATORS)


def _numeric(s: bytes) -> set[str]:
    """What a sketch calls for: the detectors of digit runs (``pii.numbers``: cards, IBANs,
    national ids, phone numbers), national ids of other layouts, IP addresses."""
    fired: set[str] = set()
    digits = s.count(b"0")  # one C loop; each layout below needs this many digits at least
    if not digits:
        return fired
    if digits >= 7 and (b"0000000" in s or b"000.000.0000" in s or b"00.00.00.00" in s):
        fired.add("pii.numbers")
    if digits >= 6 and any(layout in s for layout in _ID_LAYOUTS):
        fired.add("pii.national_id")
    if digits >= 4 and _IP_SKETCH.search(s):
        fired.add("pii.ip_address")
    elif b":" in s and _IPV6_SKETCH.search(s):  # a public IPv6 address has a digit or more
        fired.add("pii.ip_address")
    return fired


def _literal(rules: set[str], categories: frozenset) -> set[str]:
    if SECRET not in categories:
        rules = {r for r in rules if not r.startswith("secret.")}
    if PII not in categories:
        rules.discard("pii.email")
    return rules


@functools.cache
def _bytes_automaton() -> Any:
    import ahocorasick_rs

    patterns = [t.encode() for triggers in secrets.TRIGGERS.values() for t in triggers]
    return ahocorasick_rs.BytesAhoCorasick([*patterns, b"@"])


def nothing_in(line: bytes, categories: frozenset = frozenset(CATEGORIES)) -> bool:
    """Whether a JSON line certainly holds nothing to find, judged from its bytes without parsing
    it: no trigger string and nothing in its sketch. A line with JSON escapes that could hide a
    trigger (``\\u0040`` for ``@``, ``\\/`` in ``://``) is never judged here (False)."""
    if b"\\" in line and (b"\\u" in line or b"\\/" in line):  # memchr first: most lines have none
        return False
    if SECRET in categories and _bytes_automaton().find_matches_as_indexes(line):
        return False
    if SECRET not in categories and PII in categories and b"@" in line:
        return False
    return PII not in categories or not _numeric(line.translate(_SKETCH, _SEPARATORS))


def triggered(text: str, categories: frozenset = frozenset(CATEGORIES)) -> set[str]:
    """The rules whose detectors must look at ``text`` (empty: the text holds nothing to find).
    ``pii.numbers`` stands for the detectors of digit runs (phone, card, IBAN, national ids)."""
    ac, rules = _automaton()
    fired = _literal({rules[i] for i, _, _ in ac.find_matches_as_indexes(text)}, categories)
    if PII in categories:
        fired |= _numeric(sketch(text))
    return fired


def triggered_each(texts: list[str], categories: frozenset) -> list[set[str]]:
    """``triggered`` for each of several texts, with one pass of the automaton and one sketch
    over all of them joined (a NUL byte between: the sketch keeps it, so it splits back)."""
    joined = "\0".join(texts)
    ac, rules = _automaton()
    found = ac.find_matches_as_indexes(joined)
    s = sketch(joined) if PII in categories else b""
    numeric = bool(s) and bool(_numeric(s))
    out: list[set[str]] = [set() for _ in texts]
    if not found and not numeric:
        return out
    if found:
        starts = list(itertools.accumulate((len(t) + 1 for t in texts[:-1]), initial=0))
        for i, at, _ in found:
            out[bisect.bisect_right(starts, at) - 1].add(rules[i])
        out = [_literal(f, categories) if f else f for f in out]
    if numeric:
        parts = s.split(b"\0")
        if len(parts) != len(texts):  # a text holds a NUL itself: sketch each alone
            parts = [sketch(t) for t in texts]
        for fired, part in zip(out, parts, strict=True):
            fired |= _numeric(part)
    return out


# --------------------------------------------------------------------------- one text


def scan_text(
    text: str,
    categories: frozenset = frozenset(CATEGORIES),
    regions: tuple[str, ...] = ("US",),
) -> list[Match]:
    """Every secret and piece of personal data in ``text`` of the given categories, in order;
    where two matches overlap, the one of the higher-priority kind."""
    return scan_fired(text, triggered(text, categories), regions)


def scan_fired(text: str, fired: set[str], regions: tuple[str, ...]) -> list[Match]:
    """The matches of the detectors ``fired`` names in ``text``."""
    if not fired:
        return []
    found: list[Match] = []
    for rule in fired:
        if rule.startswith("secret."):
            found += [Match(rule, s, e) for s, e in secrets.find(rule, text)]
    if "pii.email" in fired:
        found += [Match("pii.email", s, e) for s, e in pii.find_email(text)]
    if "pii.numbers" in fired:
        found += [Match(rule, s, e) for rule, s, e in pii.find_numbers(text, regions)]
    if "pii.national_id" in fired:  # layouts without a run of six digits
        found += [Match("pii.national_id", s, e) for s, e in pii.find_national_id(text)]
    if "pii.ip_address" in fired:
        found += [Match("pii.ip_address", s, e) for s, e in pii.find_ip_address(text)]
    return settle(found)


def settle(found: list[Match]) -> list[Match]:
    """Overlapping matches: the kind of higher priority keeps its span, the other is dropped."""
    if len(found) < 2:
        return found
    kept: list[Match] = []
    for m in sorted(found, key=lambda m: (PRIORITY[m.rule], m.start, -m.end)):
        if all(m.end <= k.start or m.start >= k.end for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


def redact_text(text: str, matches: list[Match]) -> str:
    """``text`` with each match replaced by its kind's placeholder (``<EMAIL>``)."""
    for m in sorted(matches, key=lambda m: m.start, reverse=True):
        text = text[: m.start] + BY_RULE[m.rule].placeholder + text[m.end :]
    return text


# --------------------------------------------------------------------------- a whole record

_BLOB = re.compile(r"[A-Za-z0-9+/=_-]{257,}")


def _payload(text: str) -> bool:
    """A base-64 payload, not text: a data URL, or a long unbroken run of base-64 characters."""
    if text.startswith("data:") and ";base64," in text[:120]:
        return True
    return len(text) > 256 and _BLOB.fullmatch(text) is not None


def strings(value: Any) -> list[tuple[tuple, str]]:
    """(path, text) for every string in a JSON value, in document order (keys are not scanned:
    they name fields, they do not hold data)."""
    return [
        (parent if key is _ROOT else (*parent, key), text) for parent, key, text in _leaves(value)
    ]


_ROOT = object()


def _leaves(value: Any) -> list[tuple[tuple, Any, str]]:
    """(path of the container, key, text) for every string in a JSON value: the full path is
    built only for the strings that hold a match. Records nest a few levels (the parser refuses
    more than 64), so the walk recurses."""
    out: list[tuple[tuple, Any, str]] = []
    if type(value) is str:
        if not _payload(value):
            out.append(((), _ROOT, value))
    else:
        _collect(value, (), out)
    return out


def _collect(node: Any, path: tuple, out: list) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        kind = type(v)
        if kind is str:
            if len(v) < 257 or not _payload(v):
                out.append((path, k, v))
        elif kind is dict or kind is list:
            _collect(v, path + (k,), out)
        elif isinstance(v, str):  # a subclass: rare
            out.append((path, k, str(v)))
        elif isinstance(v, dict | list):
            _collect(v, path + (k,), out)


def scan_value(
    value: Any,
    categories: frozenset = frozenset(CATEGORIES),
    regions: tuple[str, ...] = ("US",),
) -> list[Hit]:
    """Every match in every string of ``value``, with the string's path, in document order. The
    pre-filter sees the record's strings joined first (one call instead of one per string: most
    records stop there), then each string of a record it lets through."""
    leaves = _leaves(value)
    if not leaves:
        return []
    hits = []
    fired = triggered_each([t for _, _, t in leaves], categories)
    for (parent, key, text), rules in zip(leaves, fired, strict=True):
        if rules:
            path = parent if key is _ROOT else (*parent, key)
            for m in scan_fired(text, rules, regions):
                hits.append(Hit(path, m, mask(text[m.start : m.end])))
    return hits


def redact_value(value: Any, hits: list[Hit]) -> Any:
    """``value`` with every hit replaced by its placeholder; containers on a hit's path are
    copied, the rest is shared (``value`` itself is not changed)."""
    by_path: dict[tuple, list[Match]] = {}
    for hit in hits:
        by_path.setdefault(hit.path, []).append(hit.match)
    if () in by_path:
        return redact_text(value, by_path[()])
    root: Any = _copy(value)
    for path, matches in by_path.items():
        node = root
        for key in path[:-1]:
            node[key] = _copy(node[key])
            node = node[key]
        node[path[-1]] = redact_text(node[path[-1]], matches)
    return root


def _copy(node: Any) -> Any:
    return dict(node) if isinstance(node, dict) else list(node)


def json_key_of(text: str, match: Match) -> str | None:
    """When ``text`` is a JSON object (tool-call arguments), the key whose string value holds the
    match: the finding names the argument."""
    if not text.startswith("{"):
        return None
    import orjson

    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    value = text[match.start : match.end]
    for key, item in obj.items():
        if isinstance(item, str) and value in item:
            return str(key)
        if isinstance(item, dict | list) and value in orjson.dumps(item).decode():
            return str(key)
    return None
