"""Personal data: e-mail addresses, phone numbers, payment cards, IBANs, national identifiers and
public IP addresses, each confirmed by a validator, not by a pattern alone.

Phone numbers are found by ``phonenumbers`` (Google's libphonenumber) with strict grouping:
international numbers (``+44 20 7946 0958``) always, national ones for the configured regions
(``US`` unless told otherwise); a bare run of digits counts only after a phone word. Cards pass
the Luhn check and a card network's prefix, printed as cards are (4-4-4-4, 4-6-5 or unbroken),
and are not an operand of arithmetic nor a known test number. IBANs pass ISO 13616's mod-97 check
and national identifiers their own check digits (``python-stdnum``); identifiers without check
digits (US SSN, UK National Insurance numbers) and short ones whose check a random number passes
often (Dutch BSN, Canadian SIN, Indian Aadhaar, German tax id, Spanish DNI) count only after a
word that names them. IP addresses are public ones (``ipaddress``): private, loopback, reserved
and documentation ranges, well-known public resolvers, version numbers and dotted section
numbers are left alone. E-mail addresses at reserved domains (``example.com``, ``.test``) and
file names such as ``logo@2x.png`` are not personal data.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable

Span = tuple[int, int]

# --------------------------------------------------------------------------- e-mail

EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_RESERVED_DOMAIN = re.compile(
    r"(?i)(?:^|\.)(?:example\.(?:com|org|net|edu)|[a-z0-9-]+\.(?:example|test|invalid|localhost|local)"
    r"|(?:your)?domain\.(?:com|org|net)|yourcompany\.com|company\.com|email\.example)$"
)
_PLACEHOLDER_LOCALS = frozenset(
    "git example user username name email e-mail test someone somebody yourname your.name "
    "your_name youremail your.email your_email me foo bar foobar john.doe jane.doe johndoe "
    "janedoe noreply no-reply".split()
)
# "logo@2x.png", "pkg@1.2.0.tgz": the part after @ names a file, not a mail domain
_FILE_SUFFIX = re.compile(
    r"(?i)\.(?:png|jpe?g|gif|svg|webp|bmp|ico|tiff?|css|js|mjs|ts|tsx|jsx|py|rb|go|rs|java|json|"
    r"ya?ml|toml|xml|html?|md|txt|csv|zip|gz|tgz|tar|whl|lock|min|map|woff2?|ttf|pdf|mp[34]|wav)$"
)


def _token_before(text: str, start: int) -> str:
    """The text from the last space or quote before ``start`` up to it."""
    cut = max(text.rfind(c, 0, start) for c in " \t\n\"'<(")
    return text[cut + 1 : start]


def find_email(text: str) -> list[Span]:
    out = []
    for m in EMAIL.finditer(text):
        if "://" in _token_before(text, m.start()):
            continue  # scheme://user:password@host: credentials in a URL (secret.url_password)
        local, domain = m.group().rsplit("@", 1)
        if _RESERVED_DOMAIN.search(domain) or _FILE_SUFFIX.search(domain):
            continue
        if local.lower() in _PLACEHOLDER_LOCALS or "example" in domain.lower():
            continue  # git@github.com is a login name; example@gmail.com, john.doe@... stand-ins
        out.append(m.span())
    return out


# --------------------------------------------------------------------------- context words


def _before(text: str, start: int, width: int = 48) -> str:
    return text[max(0, start - width) : start]


_PHONE_WORDS = re.compile(
    r"(?i)(?:phone|tel\b|tel\.|telephone|call|calling|mobile|cell|whats ?app|fax|sms|text me|"
    r"ring|contact|dial|hotline|helpline|reach (?:me|us)|téléphone|telefon|teléfono|handy|numéro|"
    r"número|nummer)"
)
_NOT_PHONE_WORDS = re.compile(
    r"(?i)(?:(?:order|invoice|tracking|shipment|ticket|case|transaction|txn|serial|isbn|issn|sku|"
    r"part|model|account|acct|policy|claim|confirmation|booking|\bpo|\bid)(?:_?ids?|_?nos?|_?num)?"
    r"\W{0,3}(?:no\.?|number|num\.?|nr\.?|#|:)?|\bref(?:erence)?\W{0,2}(?:no\.?|number|#)|#)"
    r"\W{0,3}$"
)
_CARD_WORDS = re.compile(
    r"(?i)(?:card|visa|master ?card|amex|american express|discover|diners|jcb|maestro|credit|"
    r"debit|\bcc\b|\bpan\b|payment|karte|tarjeta|carte)"
)


# --------------------------------------------------------------------------- phone numbers


@functools.cache
def _phonenumbers():
    import phonenumbers

    return phonenumbers


_PHONE_ARITH_BEFORE = re.compile(r"(?:\d\s*[-+*/=^×÷]|[+*=^×÷])\s*$")
_PHONE_ARITH_AFTER = re.compile(r"\s*[+*=^×÷]\s*\d")
# Where a phone number may be: digits with the characters printed numbers use between them. The
# matcher runs on a few characters around each such run, not on the whole text.
_PHONE_RUN = re.compile(r"[+(]?\d[\d \t().\-/\u00a0]{5,28}\d")
_MARGIN = 6


def _windows(text: str, pos: int = 0, endpos: int | None = None) -> list[tuple[int, int]]:
    """Stretches of ``text`` around its candidate digit runs, merged where they meet."""
    out: list[list[int]] = []
    for m in _PHONE_RUN.finditer(text, pos, len(text) if endpos is None else endpos):
        start, end = max(0, m.start() - _MARGIN), min(len(text), m.end() + _MARGIN)
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def _bare(window: str) -> bool:
    """Digits alone (with the margin's letters and spaces around): no separators, no +."""
    core = window.strip()
    return not any(c in core for c in "+()-./") and not re.search(r"\d\s+\d", core)


def find_phone(
    text: str, regions: tuple[str, ...] = ("US",), pos: int = 0, endpos: int | None = None
) -> list[Span]:
    """Phone numbers: international ones in any text, national ones of ``regions``."""
    pn = _phonenumbers()
    strict = pn.Leniency.STRICT_GROUPING
    found: dict[Span, None] = {}
    for w_start, w_end in _windows(text, pos, endpos):
        window = text[w_start:w_end]
        if _bare(window) and not _PHONE_WORDS.search(_before(text, w_start + _MARGIN)):
            continue  # a bare digit run needs a phone word: no need to ask the matcher
        for region in (None, *regions):
            for m in pn.PhoneNumberMatcher(window, region, leniency=strict, max_tries=50):
                span = (w_start + m.start, w_start + m.end)
                if span not in found and _phone_ok(text, span, m.raw_string):
                    found[span] = None
    return list(found)


def _phone_ok(text: str, span: Span, raw: str) -> bool:
    """A matched number that is a phone number in its context: a bare digit run needs a phone
    word before it, a number labelled as an order or ticket is one, an operand of arithmetic
    (``3600000000000 + 62426244000``, ``821091117+4908374100427``) is not a phone number."""
    start, end = span
    if raw.startswith("+ ") or start and text[start - 1] in "0123456789)":
        return False
    before = _before(text, start)
    if _PHONE_ARITH_BEFORE.search(before[-12:]) or _PHONE_ARITH_AFTER.match(text, end):
        return False
    named = _PHONE_WORDS.search(before) is not None
    if not named and (raw.isdigit() or _NOT_PHONE_WORDS.search(before)):
        return False  # a bare digit run (a count, an id, a timestamp), or "order #415-555-2671"
    return True


# --------------------------------------------------------------------------- payment cards

_RESULT_WORDS = re.compile(
    r"(?i)(?:result|answer|total|sum|product|equals|gives)\W{0,4}(?:is|=|:)?\W{0,4}$"
)
_CARD = re.compile(r"(?<![\d./:-])(?<!\d,)\d(?:[ -]?\d){12,18}(?![\d-]|\.\d|,\d{1,2}(?!\d))")
_IIN = re.compile(
    r"^(?:4|5[1-5]|2(?:2[2-9][1-9]|[3-6]\d|7[01]\d|720)|3[47]|3(?:0[0-5]|[689])|6(?:011|5|4[4-9]|2)"
    r"|35(?:2[89]|[3-8]\d)|5[06-9]|6[0-9])"
)
_CARD_GROUPS = ([4, 4, 4, 4], [4, 4, 4, 4, 3], [4, 6, 5], [4, 6, 4], [4, 4, 4, 2], [4, 4, 4, 3])
# an operand: after an operator that follows a number ("64 = ", "(3) - "), or after one that
# cannot start anything else ("+ ", "* ", "^")
_ARITH_BEFORE = re.compile(r"(?:[\d)\]]\s*[-+*/=^×÷<>%]|[+*/^×÷]|\*\*)\s*$")
_ARITH_AFTER = re.compile(r"\s*(?:[-+*/=^×÷<>%]|\*\*)\s*[\d(]")
# Published test numbers (Stripe, Braintree, Adyen, PayPal documentation): card-shaped, nobody's
TEST_CARDS = frozenset(
    """4111111111111111 4242424242424242 4000056655665556 5555555555554444 2223003122003222
    5200828282828210 5105105105105100 378282246310005 371449635398431 6011111111111117
    6011000990139424 3056930009020004 36227206271667 3566002020360505 6200000000000005
    4012888888881881 4222222222222 5019717010103742 4000000000000002 4000000000009995
    4000000000000077 4000000000000069 4000000000000127 4000000000000119 4000000000000101
    5431111111111111 6011601160116611 3530111333300000 4917610000000000003 378734493671000
    6331101999990016 5425233430109903 2222420000001113 4263982640269299 5500005555555559
    4005519200000004 4009348888881881 4012000033330026 4012000077777777 4217651111111119
    4500600000000061 4000111111111115 5424000000000015""".split()
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_card(text: str, pos: int = 0, endpos: int | None = None) -> list[Span]:
    out = []
    for m in _CARD.finditer(text, pos, len(text) if endpos is None else endpos):
        s = m.group()
        digits = s.replace(" ", "").replace("-", "")
        if not 14 <= len(digits) <= 19 or not _IIN.match(digits) or digits in TEST_CARDS:
            continue
        if len(set(digits)) < 4 or not _luhn(digits):
            continue
        groups = [len(g) for g in re.split(r"[ -]", s)]
        if len(groups) > 1 and groups not in _CARD_GROUPS:
            continue  # cards are printed 4-4-4-4(-3) or 4-6-5; other groupings are other numbers
        before = _before(text, m.start(), 24)
        if _ARITH_BEFORE.search(before) or _ARITH_AFTER.match(text, m.end()):
            continue  # an operand: "256626720691 + 1646615806005 = ..."
        if (_NOT_PHONE_WORDS.search(before) or _RESULT_WORDS.search(before)) and not (
            _CARD_WORDS.search(_before(text, m.start()))
        ):
            continue  # "order no. 4716...", "the result is 4212...": an order, a sum
        out.append(m.span())
    return out


# --------------------------------------------------------------------------- IBAN

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,9}(?![A-Za-z0-9])")


@functools.cache
def _stdnum(name: str):
    import importlib

    return importlib.import_module(f"stdnum.{name}")


def find_iban(text: str, pos: int = 0, endpos: int | None = None) -> list[Span]:
    """IBANs, printed in groups of four or unbroken; a candidate that runs on into the next word
    is shortened a group at a time until it passes (or nothing is left)."""
    iban = _stdnum("iban")
    out = []
    for m in _IBAN.finditer(text, pos, len(text) if endpos is None else endpos):
        s = m.group()
        while len(s.replace(" ", "")) >= 15:
            if iban.is_valid(s):
                out.append((m.start(), m.start() + len(s)))
                break
            cut = s.rfind(" ")
            if cut < 0:
                break
            s = s[:cut]
    return out


# --------------------------------------------------------------------------- national identifiers


def _no_format_example(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return len(set(digits)) > 2 and digits not in ("123456789", "987654321", "078051120")


def _valid(module: str) -> Callable[[str], bool]:
    return lambda value: _stdnum(module).is_valid(value)


def _nino(value: str) -> bool:
    """A UK National Insurance number by HMRC's prefix rules (it has no check digit)."""
    v = value.replace(" ", "").upper()
    first, second = v[0], v[1]
    return (
        first not in "DFIQUV"
        and second not in "DFIOQUV"
        and v[:2] not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")
        and len(set(v[2:8])) > 1
    )


_NATIONAL_IDS: list[tuple[re.Pattern, Callable[[str], bool], re.Pattern | None]] = [
    (  # US Social Security number: no check digit, so it needs its name nearby
        re.compile(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"),
        lambda v: _valid("us.ssn")(v.replace(" ", "-")) and _no_format_example(v),
        re.compile(r"(?i)\bssn\b|social security|soc\.? ?sec"),
    ),
    (  # UK National Insurance number: no check digit either
        re.compile(r"(?<![A-Za-z0-9])[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"),
        _nino,
        re.compile(r"(?i)national insurance|\bnino\b|\bni (?:no|number)\b"),
    ),
    (  # German tax id (Steuer-IdNr): 11 digits with a check digit
        re.compile(r"(?<!\d)\d{2} ?\d{3} ?\d{3} ?\d{3}(?!\d)"),
        _valid("de.idnr"),
        re.compile(r"(?i)steuer|\bidnr\b|identifikationsnummer|tax (?:id|identification)"),
    ),
    (  # French social security number (NIR), printed in its groups: mod-97 key
        re.compile(
            r"(?<!\d)[123478] \d{2} (?:0[1-9]|1[0-2]|[2-9]\d) (?:\d{2}|2[AB]) \d{3} \d{3} \d{2}(?!\d)"
        ),
        _valid("fr.nir"),
        None,
    ),
    (  # ... and unbroken, after its name
        re.compile(r"(?<!\d)[123478]\d{4}(?:\d{2}|2[AB])\d{8}(?!\d)"),
        _valid("fr.nir"),
        re.compile(r"(?i)\bnir\b|insee|sécurité sociale|securite sociale|social security|sécu\b"),
    ),
    (  # Spanish DNI and NIE: a check letter
        re.compile(r"(?<![A-Za-z0-9])(?:\d{8}|[XYZ]-?\d{7})-?[A-Z](?![A-Za-z0-9])"),
        lambda v: _valid("es.dni")(v) or _valid("es.nie")(v),
        re.compile(r"(?i)\bdni\b|\bnie\b|\bnif\b|documento|identidad|extranjero"),
    ),
    (  # Italian codice fiscale: letters and digits in a fixed layout, and a check letter
        re.compile(
            r"(?<![A-Za-z0-9])[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPRST][0-9LMNPQRSTUV]{2}[A-Z]"
            r"[0-9LMNPQRSTUV]{3}[A-Z](?![A-Za-z0-9])"
        ),
        _valid("it.codicefiscale"),
        None,
    ),
    (  # Dutch BSN: 9 digits, the eleven test
        re.compile(r"(?<![\d.-])\d{4}\.?\d{2}\.?\d{3}(?![\d.-])|(?<![\d.-])\d{9}(?![\d.-])"),
        _valid("nl.bsn"),
        re.compile(r"(?i)\bbsn\b|burgerservice|sofinummer"),
    ),
    (  # Indian Aadhaar: 12 digits, Verhoeff check digit
        re.compile(r"(?<![\d-])[2-9]\d{3}([ -]?)\d{4}\1\d{4}(?![\d-])"),
        _valid("in_.aadhaar"),
        re.compile(r"(?i)aadhaa?r|\buidai\b|\buid\b"),
    ),
    (  # Canadian SIN: 9 digits, Luhn
        re.compile(r"(?<![\d-])\d{3}([ -]?)\d{3}\1\d{3}(?![\d-])"),
        _valid("ca.sin"),
        re.compile(r"(?i)\bsin\b|social insurance|assurance sociale|\bnas\b"),
    ),
    (  # Brazilian CPF, printed with its dots and dash: two check digits
        re.compile(r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\d-])"),
        lambda v: _valid("br.cpf")(v) and _no_format_example(v),
        None,
    ),
]


# Substrings (lower case) one of which each identifier's name holds: a cheap first look
_ID_NAME_PARTS = (
    "ssn social soc sec national insurance nino ni steuer idnr identifikation tax nir insee "
    "sécu secu dni nie nif documento identidad extranjero bsn burgerservice sofi aadha uidai uid "
    "sin assurance nas"
).split()


def find_national_id(text: str, pos: int = 0, endpos: int | None = None) -> list[Span]:
    out = []
    end = len(text) if endpos is None else endpos
    near = text[max(0, pos - 64) : end].lower()
    named = any(part in near for part in _ID_NAME_PARTS)
    for pattern, valid, words in _NATIONAL_IDS:
        if words is not None and not named:
            continue  # no identifier's name anywhere near: only the layouts that need none
        for m in pattern.finditer(text, pos, end):
            if words is not None and not words.search(_before(text, m.start(), 64)):
                continue
            if valid(m.group()):
                out.append(m.span())
    return out


# --------------------------------------------------------------------------- IP addresses

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]{2,38}(?![\w:])")
_VERSION_BEFORE = re.compile(
    r"(?i)(?:\bv|version|ver\.?|release|build|rev(?:ision)?|firmware|kernel|driver|patch|update|"
    r"sdk|api|==|>=|<=|~=|\^|@|section|chapter|§|step|rule|figure|fig\.|table|clause|article|"
    r"oid)\W{0,3}$"
)
_PUBLIC_RESOLVERS = frozenset(
    "8.8.8.8 8.8.4.4 1.1.1.1 1.0.0.1 9.9.9.9 149.112.112.112 208.67.222.222 208.67.220.220 "
    "4.2.2.2 4.2.2.1 2001:4860:4860::8888 2001:4860:4860::8844 2606:4700:4700::1111".split()
)


def _public(value: str) -> bool:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast and str(ip) not in _PUBLIC_RESOLVERS


def find_ip_address(text: str) -> list[Span]:
    out = []
    for m in _IPV4.finditer(text):
        value = m.group()
        if all(len(octet) == 1 for octet in value.split(".")):
            continue  # 1.2.3.4: a version or section number far more often than an address
        if _VERSION_BEFORE.search(_before(text, m.start(), 16)) or not _public(value):
            continue
        out.append(m.span())
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            value = m.group()
            if value.count(":") >= 2 and _public(value):
                out.append(m.span())
    return out


# --------------------------------------------------------------------------- digit runs

# A run of seven digits or more with separators between: where a card, an IBAN's digits, a
# national identifier or a phone number lies. The detectors run on a stretch of text around each
# run (letters before it: an IBAN's country and check digits, a NINO's prefix; context words are
# read from the whole text), not on the whole text.
_DIGIT_RUN = re.compile(r"\d(?:[ \t\-./()\u00a0]{0,3}\d){6,}")
_AROUND = (16, 32)  # characters before and after a run that a match may take


def find_numbers(text: str, regions: tuple[str, ...] = ("US",)) -> list[tuple[str, int, int]]:
    """(rule, start, end) of the cards, IBANs, national identifiers and phone numbers in
    ``text``."""
    stretches: list[list[int]] = []
    for m in _DIGIT_RUN.finditer(text):
        start, end = max(0, m.start() - _AROUND[0]), min(len(text), m.end() + _AROUND[1])
        if stretches and start <= stretches[-1][1]:
            stretches[-1][1] = max(stretches[-1][1], end)
        else:
            stretches.append([start, end])
    out: list[tuple[str, int, int]] = []
    for start, end in stretches:
        out += [("pii.card", s, e) for s, e in find_card(text, start, end)]
        out += [("pii.iban", s, e) for s, e in find_iban(text, start, end)]
        out += [("pii.national_id", s, e) for s, e in find_national_id(text, start, end)]
        out += [("pii.phone", s, e) for s, e in find_phone(text, regions, start, end)]
    return out


def library_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("phonenumbers", "python-stdnum"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
