"""Secrets: credentials a model must not learn and a provider must not receive.

Each kind has trigger strings (the scanner looks for them first, in one pass over the text), a
pattern, and filters that keep look-alikes out: placeholders (``YOUR_API_KEY``, ``sk-xxxx``,
``AKIAIOSFODNN7EXAMPLE``, ``${DB_PASSWORD}``), text too regular to be random (low entropy, a run
of one character, an alphabet in order) and, for JWTs, a header that does not decode. Where
Yelp's detect-secrets (1.5.0) has a plugin for a kind, its matches are taken too (its plugins run
offline: no verification is configured); its gaps (Anthropic, Google and Hugging Face keys,
OpenAI project keys with ``-`` or ``_``, GitHub fine-grained tokens, Stripe test keys) are
covered by patterns after gitleaks' default rules (MIT) and the providers' documented formats.
``find(kind, text)`` gives the spans to report and redact: the whole credential, or the password
alone for a URL.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
from collections import Counter
from collections.abc import Iterator

_B = r"(?<![A-Za-z0-9_-])"  # a key starts at a boundary...
_E = r"(?![A-Za-z0-9_-])"  # ...and ends at one

PATTERNS: dict[str, re.Pattern] = {
    # AWS key ids: a 4-character prefix that names the kind of key, then 16 base-32 characters
    "secret.aws_access_key": re.compile(
        r"(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])"
    ),
    # a secret access key is 40 base-64 characters: only taken after a name that says what it is
    "secret.aws_secret_key": re.compile(
        r"(?i:aws[\w.-]{0,20}secret[\w.-]{0,20}|secret_?access_?key)[\"']?\s*[:=]>?\s*[\"']?"
        r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
    ),
    "secret.github_token": re.compile(
        r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})"
        r"(?![A-Za-z0-9_])"
    ),
    # every OpenAI key format carries T3BlbkFJ ("OpenAI" in base 64) between two random parts
    "secret.openai_key": re.compile(
        _B + r"sk-(?:[A-Za-z0-9]+-)?[A-Za-z0-9_-]{16,200}T3BlbkFJ[A-Za-z0-9_-]{16,200}" + _E
    ),
    "secret.anthropic_key": re.compile(_B + r"sk-ant-[a-z]{3,5}\d{2}-[A-Za-z0-9_-]{80,120}" + _E),
    "secret.google_api_key": re.compile(_B + r"AIza[0-9A-Za-z_-]{35}" + _E),
    "secret.stripe_key": re.compile(
        r"(?<![A-Za-z0-9])[rs]k_(?:live|test|prod)_[0-9A-Za-z]{10,247}(?![0-9A-Za-z])"
    ),
    "secret.slack_token": re.compile(
        r"(?<![A-Za-z0-9])(?:xox[abposre]-\d{6,}-[A-Za-z0-9-]{8,}"
        r"|xapp-\d-[A-Z0-9]{6,}-\d{6,}-[a-z0-9]{16,})"
        r"|https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/[A-Za-z0-9_/-]{8,}"
    ),
    "secret.jwt": re.compile(
        _B + r"eyJ[A-Za-z0-9_-]{8,}={0,2}\.eyJ[A-Za-z0-9_-]{8,}={0,2}\.[A-Za-z0-9_-]{8,}={0,2}"
        r"(?![A-Za-z0-9_=-])"
    ),
    # the whole block, not a mention of it: BEGIN, at least 64 characters, END
    "secret.private_key": re.compile(
        r"-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----(?P<body>[\s\S]{64,}?)"
        r"-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    ),
    # scheme://user:password@host
    "secret.url_password": re.compile(
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}://(?P<user>[^\s:/?#@\"'<>\\]{0,128}):"
        r"(?P<secret>[^\s/?#@\"'\\]{1,128})@(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)"
    ),
    "secret.huggingface_token": re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z]{34}(?![A-Za-z0-9_])"),
}

# Literal strings one of which every match of a kind contains: the scanner's pre-filter.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "secret.aws_access_key": ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
    "secret.aws_secret_key": ("secret", "Secret", "SECRET"),
    "secret.github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "secret.openai_key": ("T3BlbkFJ",),
    "secret.anthropic_key": ("sk-ant-",),
    "secret.google_api_key": ("AIza",),
    "secret.stripe_key": ("k_live_", "k_test_", "k_prod_"),
    "secret.slack_token": ("xox", "xapp-", "hooks.slack.com"),
    "secret.jwt": ("eyJ",),
    "secret.private_key": ("PRIVATE KEY",),
    "secret.url_password": ("://",),
    "secret.huggingface_token": ("hf_",),
}

# Least Shannon entropy (bits per character) of a credential's random part: random keys of these
# alphabets and lengths score 3.5 to 5; words, repeated characters and templates score less.
MIN_ENTROPY = {
    "secret.aws_access_key": 2.8,
    "secret.aws_secret_key": 3.8,
    "secret.github_token": 3.5,
    "secret.openai_key": 3.8,
    "secret.anthropic_key": 3.8,
    "secret.google_api_key": 3.5,
    "secret.stripe_key": 3.0,
    "secret.slack_token": 3.0,
    "secret.huggingface_token": 3.5,
    "secret.jwt": 3.5,
    "secret.private_key": 4.0,
}

# The prefix that names a key's kind is not random: entropy and placeholders are judged after it.
_PREFIX = re.compile(
    r"^(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|sk-ant-[a-z]{3,5}\d{2}-"
    r"|sk-(?:[A-Za-z0-9]+-)?|AIza|[rs]k_(?:live|test|prod)_|xox[abposre]-|xapp-|hf_)"
)

# Words that make a value a stand-in for a credential, not a credential.
_PLACEHOLDER_WORDS = re.compile(
    r"(?i)example|sample|dummy|placeholder|redacted|your|fake|changeme|insert|replace|token_here"
    r"|key_here|secret_here|xxxx|\*\*\*|\.\.\.|…"
)
_STAND_IN = re.compile(r"[<>{}$%\[\]]")
# Passwords that only say where a password goes.
_PASSWORD_WORDS = frozenset(
    "password passwd pass pwd pw secret token changeme admin root user username test guest "
    "default mypassword yourpassword apikey api_key key".split()
)
_EXAMPLE_HOSTS = re.compile(
    r"(?i)(?:^|\.)(?:example\.(?:com|org|net)|[a-z0-9-]+\.(?:example|test|invalid))$"
)
# jwt.io's sample token, printed in countless tutorials: a JWT, but nobody's secret
_JWT_SAMPLE = {"sub": "1234567890", "name": "John Doe", "iat": 1516239022}


def entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text``, in bits per character."""
    n = len(text)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _ordered_run(text: str, length: int = 6) -> bool:
    """A run of ``length`` characters in alphabet order (abcdef, 123456): typed, not random."""
    run = 1
    for a, b in zip(text, text[1:], strict=False):
        run = run + 1 if ord(b) == ord(a) + 1 else 1
        if run >= length:
            return True
    return False


def looks_placeholder(body: str) -> bool:
    """A stand-in for a credential: placeholder words, template syntax, one character repeated,
    the alphabet in order."""
    return (
        _PLACEHOLDER_WORDS.search(body) is not None
        or _STAND_IN.search(body) is not None
        or re.search(r"(.)\1{5,}", body) is not None
        or _ordered_run(body)
    )


def _jwt_ok(token: str) -> bool:
    """A JWT's header and payload decode to JSON objects, the header names an ``alg``, and it is
    not jwt.io's sample token."""
    import orjson

    parts = token.split(".")
    try:
        head, payload = (
            orjson.loads(base64.urlsafe_b64decode(p.rstrip("=") + "=" * (-len(p.rstrip("=")) % 4)))
            for p in parts[:2]
        )
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return False
    if not isinstance(head, dict) or "alg" not in head or not isinstance(payload, dict):
        return False
    return payload != _JWT_SAMPLE


def _private_key_ok(body: str) -> bool:
    """The body of a PEM block is base 64 (with the header lines of an encrypted key), not an
    ellipsis or a sentence."""
    chars = re.sub(r"\s|\\[nr]", "", body)
    b64 = sum(c.isalnum() or c in "+/=" for c in chars)
    return (
        len(chars) >= 64
        and b64 >= 0.9 * len(chars)
        and not _PLACEHOLDER_WORDS.search(body)
        and entropy(chars) >= MIN_ENTROPY["secret.private_key"]
    )


def _password_ok(m: re.Match) -> bool:
    password, user, host = m.group("secret"), m.group("user"), m.group("host")
    return not (
        password.lower() in _PASSWORD_WORDS
        or password == user
        or looks_placeholder(password)
        or password.startswith(("$", "%", ":"))
        or password.strip("*x") == ""
        or _EXAMPLE_HOSTS.search(host) is not None
    )


def _credential_ok(kind: str, value: str) -> bool:
    """Filters for a key or token matched whole: its random part is not a placeholder and looks
    random enough."""
    if kind == "secret.jwt":
        return _jwt_ok(value) and entropy(value) >= MIN_ENTROPY[kind]
    if kind == "secret.slack_token" and "hooks.slack.com" in value:
        body = value.rsplit("/", 1)[-1]
    else:
        body = _PREFIX.sub("", value, count=1)
    if looks_placeholder(body):
        return False
    return entropy(body) >= MIN_ENTROPY.get(kind, 0.0)


def find(kind: str, text: str) -> list[tuple[int, int]]:
    """The spans of ``text`` that are secrets of ``kind`` (the password alone in a URL)."""
    found = set()
    for m in PATTERNS[kind].finditer(text):
        if kind == "secret.url_password":
            if _password_ok(m):
                found.add(m.span("secret"))
        elif kind == "secret.aws_secret_key":
            value = m.group("secret")
            if not looks_placeholder(value) and entropy(value) >= MIN_ENTROPY[kind]:
                found.add(m.span("secret"))
        elif kind == "secret.private_key":
            if _private_key_ok(m.group("body")):
                found.add(m.span())
        elif _credential_ok(kind, m.group()):
            found.add(m.span())
    for start, end in _detect_secrets_spans(kind, text):
        if any(s <= start and end <= e for s, e in found):
            continue
        value = text[start:end]
        if kind == "secret.url_password":
            ok = value.lower() not in _PASSWORD_WORDS and not looks_placeholder(value)
        else:
            ok = _credential_ok(kind, value)
        if ok:
            found.add((start, end))
    return sorted(found)


# --------------------------------------------------------------------------- detect-secrets

_DETECT_SECRETS = {
    "secret.aws_access_key": ("aws", "AWSKeyDetector"),
    "secret.github_token": ("github_token", "GitHubTokenDetector"),
    "secret.openai_key": ("openai", "OpenAIDetector"),
    "secret.stripe_key": ("stripe", "StripeDetector"),
    "secret.slack_token": ("slack", "SlackDetector"),
    "secret.jwt": ("jwt", "JwtTokenDetector"),
    "secret.url_password": ("basic_auth", "BasicAuthDetector"),
}


@functools.cache
def _plugin(kind: str):
    """detect-secrets' plugin for ``kind`` (imported on first use: most texts never need one)."""
    import importlib

    module, name = _DETECT_SECRETS[kind]
    return getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), name)()


def _detect_secrets_spans(kind: str, text: str) -> Iterator[tuple[int, int]]:
    """Where detect-secrets' plugin for ``kind`` finds a secret in ``text`` (its API gives the
    strings; each is located in the text). Its AWS plugin's secret-key rule is left out: that
    kind is found with its name and value above."""
    if kind not in _DETECT_SECRETS:
        return
    for value in set(_plugin(kind).analyze_string(text)):
        if kind == "secret.aws_access_key" and not PATTERNS[kind].fullmatch(value):
            continue
        at = text.find(value)
        while at >= 0:
            yield at, at + len(value)
            at = text.find(value, at + 1)


def plugin_versions() -> dict[str, str]:
    """The detect-secrets version whose plugins are used, for the manifest."""
    from importlib import metadata

    try:
        return {"detect-secrets": metadata.version("detect-secrets")}
    except metadata.PackageNotFoundError:
        return {"detect-secrets": "not installed"}
