"""What the scan looks for: one rule id per kind of secret or personal data, in words, with the
placeholder that replaces it and the order in which overlapping matches are settled.

A secret is a credential someone could use (an API key, a token, a private key, a password in a
URL); personal data (PII) identifies a person (an e-mail address, a phone number, a payment card,
a bank account, a national identifier, an IP address). Names and postal addresses are not looked
for: telling them apart from other words needs a language model, which ftprep does not download.
"""

from __future__ import annotations

from dataclasses import dataclass

SECRET = "secrets"
PII = "pii"


@dataclass(frozen=True)
class Kind:
    rule: str  # secret.<kind> or pii.<kind>: stable, part of the CLI contract
    category: str  # SECRET or PII: which of --secrets and --pii decides what becomes of it
    what: str  # in words, for messages: "an AWS access key id"

    @property
    def placeholder(self) -> str:
        """The typed placeholder that replaces a match: ``<AWS_ACCESS_KEY>``, ``<EMAIL>``."""
        return "<" + self.rule.split(".", 1)[1].upper() + ">"


# In priority order: when two matches overlap, the kind listed first wins (a private key block
# holds base64 that may look like other things; an IBAN holds digits a card or phone number
# would take; a JWT is not also an e-mail address).
KINDS = [
    Kind("secret.private_key", SECRET, "a private key block"),
    Kind("secret.anthropic_key", SECRET, "an Anthropic API key"),
    Kind("secret.openai_key", SECRET, "an OpenAI API key"),
    Kind("secret.jwt", SECRET, "a JSON Web Token"),
    Kind("secret.github_token", SECRET, "a GitHub token"),
    Kind("secret.aws_access_key", SECRET, "an AWS access key id"),
    Kind("secret.aws_secret_key", SECRET, "an AWS secret access key"),
    Kind("secret.stripe_key", SECRET, "a Stripe secret key"),
    Kind("secret.slack_token", SECRET, "a Slack token or webhook URL"),
    Kind("secret.google_api_key", SECRET, "a Google API key"),
    Kind("secret.huggingface_token", SECRET, "a Hugging Face access token"),
    Kind("secret.url_password", SECRET, "a password in a URL"),
    Kind("pii.iban", PII, "an IBAN (bank account number)"),
    Kind("pii.card", PII, "a payment card number"),
    Kind("pii.national_id", PII, "a national identification number"),
    Kind("pii.email", PII, "an e-mail address"),
    Kind("pii.phone", PII, "a phone number"),
    Kind("pii.ip_address", PII, "a public IP address"),
]
BY_RULE = {k.rule: k for k in KINDS}
PRIORITY = {k.rule: n for n, k in enumerate(KINDS)}
RULES = tuple(BY_RULE)


def mask(value: str) -> str:
    """Enough of a match to recognise it, never the match: ``sk-pr…X`` (the first five characters
    and the last), fewer for short values (``jo…m``); at most a third of the value is shown."""
    value = value.replace("\n", " ")
    if len(value) >= 18:
        return value[:5] + "…" + value[-1]
    if len(value) >= 9:
        return value[:2] + "…" + value[-1]
    return "…"
