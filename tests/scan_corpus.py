"""The labelled corpus of the secrets and PII scan: planted findings per kind, look-alikes and
clean text, and the measurement of recall and false-positive lines on it.

Every planted value is generated here from the kind's published format (key prefixes and
lengths, the check-digit algorithms of cards, IBANs and national identifiers, written out below
rather than borrowed from the libraries the scanner uses) with a seeded random generator, and set
in the kinds of text fine-tuning data holds: chat turns, tool-call arguments as JSON, shell lines,
config files, code, logs. None is a real credential or a real person's number. The look-alikes are
what such data holds that resembles them and is not: UUIDs, hashes, version strings, ISBNs, order
and tracking numbers that fail the checksum, environment-variable references, placeholders,
arithmetic, dates, IPs in version strings, reserved domains, the documentation samples of AWS,
Slack and jwt.io. ``python -m tests.scan_corpus`` prints the table the README quotes.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections import Counter, defaultdict
from dataclasses import dataclass, field

SEED = 19
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"


@dataclass
class Case:
    """One line of the corpus: its text, the values planted in it (rule, value) and its group
    (``planted``, ``lookalike`` or ``clean``) with a family name for look-alikes."""

    text: str
    planted: list[tuple[str, str]] = field(default_factory=list)
    group: str = "planted"
    family: str = ""


class Gen:
    def __init__(self, seed: int = SEED):
        self.r = random.Random(seed)

    def s(self, n: int, alphabet: str = ALNUM) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def digits(self, n: int) -> str:
        return "".join(self.r.choice(string.digits) for _ in range(n))

    def pick(self, seq):
        return self.r.choice(seq)

    # ------------------------------------------------------------------ secrets (formats)

    def aws_key_id(self) -> str:
        return self.pick(["AKIA", "AKIA", "ASIA", "ABIA", "ACCA"]) + self.s(
            16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        )

    def aws_secret(self) -> str:
        return self.s(40, B64)

    def github(self) -> str:
        if self.r.random() < 0.3:
            return "github_pat_" + self.s(22) + "_" + self.s(59)
        return self.pick(["ghp_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + self.s(36)

    def openai(self) -> str:
        form = self.r.random()
        if form < 0.3:
            return "sk-" + self.s(20) + "T3BlbkFJ" + self.s(20)
        prefix = self.pick(["sk-proj-", "sk-proj-", "sk-svcacct-", "sk-admin-"])
        n = self.pick([58, 74])
        return prefix + self.s(n, URLSAFE) + "T3BlbkFJ" + self.s(n, URLSAFE)

    def anthropic(self) -> str:
        prefix = self.pick(["sk-ant-api03-", "sk-ant-api03-", "sk-ant-admin01-"])
        return prefix + self.s(93, URLSAFE) + "AA"

    def google(self) -> str:
        return "AIza" + self.s(35, URLSAFE)

    def stripe(self) -> str:
        prefix = self.pick(["sk_live_", "sk_live_", "rk_live_", "sk_test_", "rk_test_"])
        return prefix + self.s(self.pick([24, 24, 99]))

    def slack(self) -> str:
        form = self.r.random()
        if form < 0.35:
            return f"xoxb-{self.digits(12)}-{self.digits(13)}-{self.s(24)}"
        if form < 0.6:
            return f"xoxp-{self.digits(11)}-{self.digits(12)}-{self.digits(13)}-{self.s(32, HEX)}"
        if form < 0.75:
            return f"xapp-1-A{self.s(10, string.ascii_uppercase + string.digits)}-{self.digits(13)}-{self.s(64, HEX)}"
        team = "T" + self.s(8, string.ascii_uppercase + string.digits)
        bot = "B" + self.s(10, string.ascii_uppercase + string.digits)
        return f"https://hooks.slack.com/services/{team}/{bot}/{self.s(24)}"

    def jwt(self) -> str:
        def b64u(obj) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        head = {"alg": self.pick(["HS256", "RS256", "ES256"]), "typ": "JWT"}
        body = {
            "sub": self.digits(9),
            "email_verified": self.r.random() < 0.5,
            "iat": 1700000000 + self.r.randrange(10**7),
            "scope": self.pick(["read", "read write", "admin"]),
        }
        sig = self.s(self.pick([43, 86, 342]), URLSAFE)
        return f"{b64u(head)}.{b64u(body)}.{sig}"

    def private_key(self) -> str:
        label = self.pick(
            ["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"]
        )
        lines = [self.s(64, B64) for _ in range(self.r.randint(3, 12))] + [self.s(20, B64) + "=="]
        return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"

    def password(self) -> str:
        return self.s(self.r.randint(8, 20), ALNUM + "!_.~")

    def huggingface(self) -> str:
        return "hf_" + self.s(34, string.ascii_letters)

    # ------------------------------------------------------------------ PII (formats)

    FIRST = "maria james chen aisha lukas sofia omar ingrid diego hana priya tom eva noah".split()
    LAST = "garcia smith wang khan muller rossi haddad berg lopez sato patel okafor novak".split()
    DOMAINS = "gmail.com outlook.com yahoo.co.uk acme-corp.io mail.uni-heidelberg.de proton.me fastmail.fm web.de orange.fr company-x.com".split()

    def email(self) -> str:
        first, last = self.pick(self.FIRST), self.pick(self.LAST)
        local = self.pick(
            [
                f"{first}.{last}",
                f"{first}{last[0]}",
                f"{first}_{last}{self.digits(2)}",
                f"{first}+orders",
            ]
        )
        return f"{local}@{self.pick(self.DOMAINS)}"

    US_AREAS = "212 415 312 617 206 303 512 646 718 305 404 213 702 919 503".split()

    def phone(self) -> str:
        form = self.r.randrange(12)
        ex = str(self.r.randint(201, 989)).replace("555", "556")
        line = self.digits(4)
        area = self.pick(self.US_AREAS)
        if form == 0:
            return f"({area}) {ex}-{line}"
        if form == 1:
            return f"{area}-{ex}-{line}"
        if form == 2:
            return f"{area}.{ex}.{line}"
        if form == 3:
            return f"+1 {area} {ex} {line}"
        if form == 4:
            return f"+1-{area}-{ex}-{line}"
        if form == 5:
            return f"+44 20 7{self.digits(3)} {self.digits(4)}"
        if form == 6:
            return f"+49 30 {self.digits(8)}"
        if form == 7:
            return f"+33 6 {self.digits(2)} {self.digits(2)} {self.digits(2)} {self.digits(2)}"
        if form == 8:
            return f"+91 9{self.digits(4)} {self.digits(5)}"
        if form == 9:
            return f"+81 3-{self.r.randint(2, 9)}{self.digits(3)}-{self.digits(4)}"
        if form == 10:
            return f"+61 2 9{self.digits(3)} {self.digits(4)}"
        return f"+55 11 9{self.digits(4)}-{self.digits(4)}"

    @staticmethod
    def luhn_digit(body: str) -> str:
        total = 0
        for i, ch in enumerate(reversed(body)):
            d = int(ch)
            if i % 2 == 0:
                d *= 2
                if d > 9:
                    d -= 9
            total += d
        return str((10 - total % 10) % 10)

    def card(self) -> str:
        network = self.r.randrange(4)
        if network == 0:
            body = "4" + self.digits(14)
        elif network == 1:
            body = str(self.r.randint(51, 55)) + self.digits(13)
        elif network == 2:
            body = self.pick(["34", "37"]) + self.digits(12)
        else:
            body = "6011" + self.digits(11)
        number = body + self.luhn_digit(body)
        style = self.r.randrange(3)
        if style == 2:
            return number
        sep = " " if style == 0 else "-"
        if len(number) == 15:
            return sep.join([number[:4], number[4:10], number[10:]])
        return sep.join(number[i : i + 4] for i in range(0, 16, 4))

    IBAN_BBAN = {  # country: (length of BBAN, alphabet of each position)
        "DE": "0" * 18,
        "GB": "AAAA" + "0" * 14,
        "NL": "AAAA" + "0" * 10,
        "AT": "0" * 16,
        "CH": "0" * 17,
        "IE": "AAAA" + "0" * 14,
        "DK": "0" * 14,
        "PL": "0" * 24,
    }

    @staticmethod
    def iban_check(country: str, bban: str) -> str:
        moved = bban + country + "00"
        number = int("".join(str(int(c, 36)) for c in moved))
        return f"{98 - number % 97:02d}"

    def iban(self) -> str:
        country = self.pick(list(self.IBAN_BBAN))
        layout = self.IBAN_BBAN[country]
        bban = "".join(
            self.pick(string.ascii_uppercase) if c == "A" else self.pick(string.digits)
            for c in layout
        )
        if country == "PL":  # ... and Polish ones a weighted check in the bank number
            weights = (3, 9, 7, 1, 3, 9, 7)
            check = (
                10 - sum(int(d) * w for d, w in zip(bban[:7], weights, strict=False)) % 10
            ) % 10
            bban = bban[:7] + str(check) + bban[8:]
        iban = country + self.iban_check(country, bban) + bban
        if self.r.random() < 0.6:
            return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban

    # national identifiers, by their published algorithms

    def ssn(self) -> str:
        area = self.r.choice([n for n in range(1, 900) if n not in (666,)])
        return f"{area:03d}-{self.r.randint(1, 99):02d}-{self.r.randint(1, 9999):04d}"

    def nino(self) -> str:
        first = self.pick("ABCEGHJKLMNOPRSTWXYZ")
        second = self.pick("ABCEGHJKLMNPRSTWXYZ")
        while first + second in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
            second = self.pick("ABCEGHJKLMNPRSTWXYZ")
        d = self.digits(6)
        return self.pick(
            [
                f"{first}{second}{d}{self.pick('ABCD')}",
                f"{first}{second} {d[:2]} {d[2:4]} {d[4:]} {self.pick('ABCD')}",
            ]
        )

    def de_idnr(self) -> str:
        while True:  # ten digits: exactly one of them twice or three times, the first not 0
            body = self.digits(10)
            repeated = [c for c in Counter(body).values() if c > 1]
            if body[0] != "0" and len(repeated) == 1 and repeated[0] in (2, 3):
                break
        product = 10  # ISO 7064 MOD 11,10
        for ch in body:
            total = (int(ch) + product) % 10 or 10
            product = (total * 2) % 11
        check = (11 - product) % 10
        n = body + str(check)
        return self.pick([n, f"{n[:2]} {n[2:5]} {n[5:8]} {n[8:]}"])

    def fr_nir(self) -> str:
        sex = self.pick("12")
        year, month = f"{self.r.randint(40, 99):02d}", f"{self.r.randint(1, 12):02d}"
        dept = f"{self.r.randint(1, 95):02d}".replace("20", "21")
        commune, order = f"{self.r.randint(1, 990):03d}", f"{self.r.randint(1, 999):03d}"
        body = sex + year + month + dept + commune + order
        key = f"{97 - int(body) % 97:02d}"
        return f"{sex} {year} {month} {dept} {commune} {order} {key}"

    def es_dni(self) -> str:
        n = self.r.randint(10**7, 10**8 - 1)
        return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"

    CF_ODD = dict(
        zip(
            string.digits + string.ascii_uppercase,
            [1, 0, 5, 7, 9, 13, 15, 17, 19, 21]
            + [
                1,
                0,
                5,
                7,
                9,
                13,
                15,
                17,
                19,
                21,
                2,
                4,
                18,
                20,
                11,
                3,
                6,
                8,
                12,
                14,
                16,
                10,
                22,
                25,
                24,
                23,
            ],
            strict=False,
        )
    )

    def it_cf(self) -> str:
        letters = string.ascii_uppercase
        body = (
            self.s(6, letters)
            + f"{self.r.randint(40, 99):02d}"
            + self.pick("ABCDEHLMPRST")
            + f"{self.r.randint(1, 28) + self.pick([0, 40]):02d}"
            + self.pick(letters)
            + f"{self.r.randint(100, 999):03d}"
        )
        total = 0
        for i, ch in enumerate(body):
            if i % 2 == 0:
                total += self.CF_ODD[ch]
            else:
                total += int(ch) if ch.isdigit() else ord(ch) - 65
        return body + letters[total % 26]

    def nl_bsn(self) -> str:
        while True:
            d = self.digits(8)
            total = sum(int(c) * w for c, w in zip(d, range(9, 1, -1), strict=False))
            last = total % 11
            if last < 10 and d[0] != "0":
                return d + str(last)

    VERHOEFF_D = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ]  # fmt: skip
    VERHOEFF_P = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ]  # fmt: skip
    VERHOEFF_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]

    def aadhaar(self) -> str:
        body = str(self.r.randint(2, 9)) + self.digits(10)
        c = 0
        for i, ch in enumerate(reversed(body)):
            c = self.VERHOEFF_D[c][self.VERHOEFF_P[(i + 1) % 8][int(ch)]]
        n = body + str(self.VERHOEFF_INV[c])
        return f"{n[:4]} {n[4:8]} {n[8:]}"

    def ca_sin(self) -> str:
        body = str(self.r.randint(1, 7)) + self.digits(7)
        n = body + self.luhn_digit(body)
        return f"{n[:3]} {n[3:6]} {n[6:]}"

    def br_cpf(self) -> str:
        while True:
            d = [int(c) for c in self.digits(9)]
            if len(set(d)) > 2:
                break
        for length in (9, 10):
            total = sum(v * w for v, w in zip(d, range(length + 1, 1, -1), strict=False))
            d.append((total * 10) % 11 % 10)
        n = "".join(map(str, d))
        return f"{n[:3]}.{n[3:6]}.{n[6:9]}-{n[9:]}"

    def ipv4(self) -> str:
        while True:
            a = self.r.randint(11, 223)
            if a in (100, 127, 169, 172, 192, 198, 203):
                continue
            return f"{a}.{self.r.randint(0, 255)}.{self.r.randint(0, 255)}.{self.r.randint(1, 254)}"

    def ipv6(self) -> str:
        head = self.pick(["2a02", "2a01", "2600", "2607", "2804", "2400"])
        return (
            head
            + ":"
            + ":".join(self.s(4, HEX).lstrip("0") or "0" for _ in range(3))
            + "::"
            + self.s(4, HEX).lstrip("0")
        )


# --------------------------------------------------------------------------- contexts

CHAT = [
    "Sure, here it is: {v}",
    "my {what} is {v}, can you check why it fails?",
    "Please update the record to {v} and confirm.",
    "I pasted {v} into the form but nothing happened",
    "Thanks! For reference: {v}.",
    'Customer wrote: "you can reach me via {v}"',
    "{v}",
    "Got it — {v} — I'll forward this to billing.",
]
SECRET_CONTEXTS = [
    'export {env}="{v}"',
    "{env}={v}",
    'client = Client(api_key="{v}")',
    '{{"api_key": "{v}", "model": "gpt-4o-mini"}}',
    "curl -H 'Authorization: Bearer {v}' https://api.acme.dev/v1/items",
    "headers = {{'Authorization': 'token {v}'}}",
    "I accidentally committed {v} to the repo, how do I rotate it?",
    "config:\n  token: {v}\n  retries: 3",
    "Here is my key {v} why does it return 401?",
    "```\n{env} = '{v}'\n```",
]
ENV = {
    "secret.aws_access_key": "AWS_ACCESS_KEY_ID",
    "secret.github_token": "GITHUB_TOKEN",
    "secret.openai_key": "OPENAI_API_KEY",
    "secret.anthropic_key": "ANTHROPIC_API_KEY",
    "secret.google_api_key": "GOOGLE_API_KEY",
    "secret.stripe_key": "STRIPE_SECRET_KEY",
    "secret.slack_token": "SLACK_BOT_TOKEN",
    "secret.jwt": "SESSION_TOKEN",
    "secret.huggingface_token": "HF_TOKEN",
}
WHAT = {
    "pii.email": "email",
    "pii.phone": "phone number",
    "pii.card": "card number",
    "pii.iban": "IBAN",
    "pii.ip_address": "IP",
}


def planted(g: Gen, per_kind: int = 30) -> list[Case]:
    cases: list[Case] = []
    makers = {
        "secret.aws_access_key": g.aws_key_id,
        "secret.github_token": g.github,
        "secret.openai_key": g.openai,
        "secret.anthropic_key": g.anthropic,
        "secret.google_api_key": g.google,
        "secret.stripe_key": g.stripe,
        "secret.slack_token": g.slack,
        "secret.jwt": g.jwt,
        "secret.huggingface_token": g.huggingface,
    }
    for rule, make in makers.items():
        for i in range(per_kind):
            v = make()
            contexts = SECRET_CONTEXTS + [c.replace("{what}", "token") for c in CHAT]
            text = contexts[i % len(contexts)].format(v=v, env=ENV[rule])
            cases.append(Case(text, [(rule, v)]))
    for i in range(per_kind):
        v = g.aws_secret()
        text = [
            "aws_secret_access_key = {v}",
            "AWS_SECRET_ACCESS_KEY={v}",
            '{{"AccessKeyId": "AKIA...", "SecretAccessKey": "{v}"}}',
            'export AWS_SECRET_ACCESS_KEY="{v}"',
            "secret_access_key: {v}",
            "[default]\naws_access_key_id = <id>\naws_secret_access_key = {v}",
        ][i % 6].format(v=v)
        cases.append(Case(text, [("secret.aws_secret_key", v)]))
    for i in range(per_kind):
        v = g.private_key()
        text = [
            "Here's the deploy key:\n{v}\nuse it for the staging box",
            "{v}",
            "ssh config wants this file:\n```\n{v}\n```",
        ][i % 3].format(v=v)
        if i % 4 == 3:  # as a JSON string inside tool-call arguments: escaped newlines
            text = json.dumps({"name": "deploy", "key": v})
        cases.append(Case(text, [("secret.private_key", v)]))
    for _ in range(per_kind):
        pw = g.password()
        user = g.pick(["app", "admin", "svc_reader", "deploy", "alice", ""])
        url = g.pick(
            [
                "postgres://{u}:{p}@db.internal.acme.io:5432/prod",
                "mongodb+srv://{u}:{p}@cluster0.x8kq2.mongodb.net/test",
                "https://{u}:{p}@git.acme-corp.io/team/repo.git",
                "redis://{u}:{p}@10.0.3.4:6379/0",
                "amqp://{u}:{p}@rabbit.prod:5672/",
                "mysql://{u}:{p}@127.0.0.1:3306/shop",
            ]
        ).format(u=user, p=pw)
        text = g.pick(
            [
                "DATABASE_URL={v}",
                "The connection string is {v} but it times out",
                '{{"dsn": "{v}"}}',
                "git remote add origin {v}",
            ]
        ).format(v=url)
        cases.append(Case(text, [("secret.url_password", pw)]))
    pii_makers = {
        "pii.email": g.email,
        "pii.phone": g.phone,
        "pii.card": g.card,
        "pii.iban": g.iban,
    }
    for rule, make in pii_makers.items():
        for i in range(per_kind):
            v = make()
            text = CHAT[i % len(CHAT)].format(v=v, what=WHAT[rule])
            if rule == "pii.phone" and i % len(CHAT) in (0, 2, 3, 6, 7):
                text = g.pick(
                    ["Call me at {v}", "phone: {v}", "My cell is {v}.", "Tel. {v}"]
                ).format(v=v)
            if i % 5 == 4:
                text = json.dumps(
                    {"customer_id": "c_" + g.digits(6), "contact": v, "note": "priority"}
                )
            cases.append(Case(text, [(rule, v)]))
    for i in range(per_kind):
        v = g.ipv4() if i % 3 else g.ipv6()
        text = g.pick(
            [
                "Failed login from {v} at 03:12 UTC",
                "X-Forwarded-For: {v}",
                "the server at {v} refuses ssh",
                '{{"client_ip": "{v}", "status": 403}}',
                "ping {v}",
            ]
        ).format(v=v)
        cases.append(Case(text, [("pii.ip_address", v)]))
    ids = [
        (
            g.ssn,
            ["My SSN is {v}", "SSN: {v}", "social security number {v} on file", "Soc. Sec. # {v}"],
        ),
        (g.nino, ["National Insurance number: {v}", "my NINO is {v}", "NI number {v}"]),
        (
            g.de_idnr,
            ["Steuer-ID: {v}", "Meine Steueridentifikationsnummer lautet {v}", "tax ID (IdNr) {v}"],
        ),
        (g.fr_nir, ["Numéro de sécurité sociale : {v}", "NIR {v}", "{v}"]),
        (g.es_dni, ["DNI {v}", "Mi DNI es {v}", "documento de identidad: {v}"]),
        (g.it_cf, ["Codice fiscale: {v}", "CF {v}", "{v}"]),
        (g.nl_bsn, ["BSN: {v}", "mijn burgerservicenummer is {v}"]),
        (g.aadhaar, ["Aadhaar: {v}", "my aadhar number is {v}"]),
        (g.ca_sin, ["SIN: {v}", "Social Insurance Number {v}"]),
        (g.br_cpf, ["CPF {v}", "meu CPF é {v}", "{v}"]),
    ]
    for i in range(per_kind * 2):
        make, templates = ids[i % len(ids)]
        v = make()
        cases.append(Case(g.pick(templates).format(v=v), [("pii.national_id", v)]))
    return cases


# --------------------------------------------------------------------------- look-alikes


def lookalikes(g: Gen) -> list[Case]:
    out: list[Case] = []

    def add(family: str, texts) -> None:
        out.extend(Case(t, [], "lookalike", family) for t in texts)

    import uuid

    rng = g.r
    add("uuid", [f"request id {uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(15)])
    add(
        "uuid",
        [
            f'{{"id": "{uuid.UUID(int=rng.getrandbits(128), version=4)}", "status": "ok"}}'
            for _ in range(10)
        ],
    )
    add("git hash", [f"fixed in commit {g.s(40, HEX)}" for _ in range(10)])
    add(
        "git hash",
        [f"git checkout {g.s(7, HEX)} && git cherry-pick {g.s(12, HEX)}" for _ in range(8)],
    )
    add("sha256", [f"sha256:{g.s(64, HEX)}" for _ in range(8)])
    add("sha256", [f"{g.s(64, HEX)}  dist/app.tar.gz" for _ in range(6)])
    add("md5/base64", [f'md5 {g.s(32, HEX)}, etag "{g.s(32, HEX)}"' for _ in range(6)])
    add("md5/base64", [f'integrity="sha384-{g.s(64, B64)}"' for _ in range(6)])
    add(
        "version",
        [
            "Upgrade to version 10.2.0.1 before Friday",
            "pip install numpy==1.26.4 pandas==2.2.1",
            "Python 3.11.7 (main, Dec  8 2023)",
            "Chrome/120.0.6099.109 Safari/537.36",
            "v2.14.3.8 released",
            "build 1.0.0.2024 is out",
            "Section 4.2.1.3 covers this",
            "see RFC 7231 section 6.5.1",
            "kernel 6.1.0-18-amd64",
            "node v20.11.1, npm 10.2.4",
            "OID 1.3.6.1.4.1.311",
            "firmware 3.10.0.15",
            "requires glibc >= 2.31.0.1",
            "Tested on 1.2.3.4 and 2.0.0.1 of the SDK",
            "version: 4.18.2.1",
        ],
    )
    add(
        "isbn",
        [
            "ISBN 978-0-306-40615-7",
            "ISBN-13: 9780262033848",
            "ISBN 0-19-852663-6",
            "see ISBN 978-1-4028-9462-6 p. 112",
            "ISBN: 978-3-16-148410-0",
            "ISBN 979-10-90636-07-1",
            "ISBN 0-306-40615-2",
            "ISBN 978-0-13-468599-1",
        ],
    )
    for _ in range(15):  # order numbers that fail the Luhn check, 13-19 digits
        while True:
            n = g.pick(["4", "5", "6", "3"]) + g.digits(g.pick([12, 15, 18]))
            total = sum(
                (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
                for i, d in enumerate(int(c) for c in reversed(n))
            )
            if total % 10:
                break
        add(
            "order number",
            [
                g.pick(
                    ["Order {n} has shipped", "order no. {n}", "Invoice #{n}", "ref {n}"]
                ).format(n=n)
            ],
        )
    add(
        "tracking number",
        [
            f"UPS tracking 1Z{g.s(6, string.ascii_uppercase + string.digits)}{g.digits(10)}"
            for _ in range(6)
        ]
        + [
            f"USPS {g.digits(4)} {g.digits(4)} {g.digits(4)} {g.digits(4)} {g.digits(4)} {g.digits(2)}"
            for _ in range(5)
        ]
        + [f"FedEx tracking number: {g.digits(12)}" for _ in range(5)],
    )
    add(
        "order number",
        [f"Your order #{g.digits(3)}-{g.digits(7)}-{g.digits(7)} was delivered" for _ in range(8)],
    )
    add(
        "env reference",
        [
            "os.environ['OPENAI_API_KEY']",
            'api_key=os.getenv("ANTHROPIC_API_KEY")',
            "const key = process.env.STRIPE_SECRET_KEY;",
            "token = ENV['GITHUB_TOKEN']",
            "export OPENAI_API_KEY=$(cat ~/.openai)",
            "Authorization: Bearer ${SLACK_BOT_TOKEN}",
            "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}",
            "password: {{ vault_db_password }}",
            "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app",
            "HF_TOKEN=$HF_TOKEN python train.py",
            "secrets.GOOGLE_API_KEY",
            "AWS_ACCESS_KEY_ID=%AWS_ACCESS_KEY_ID%",
        ],
    )
    add(
        "placeholder",
        [
            'client = OpenAI(api_key="YOUR_API_KEY")',
            "OPENAI_API_KEY=sk-...",
            "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "api_key: <your-openai-key>",
            "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "AKIAXXXXXXXXXXXXXXXX",
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "sk_live_YOUR_STRIPE_SECRET_KEY_HERE",
            "xoxb-your-bot-token",
            "hf_YOUR_TOKEN_GOES_HERE_XXXXXXXXXXXX",
            "AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "ghp_1234567890abcdefghijklmnopqrstuvwxyz",
            "sk-ant-api03-REPLACE_ME",
            "Bearer <token>",
            "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\n<paste your key here>\n-----END PRIVATE KEY-----",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "token: eyJhbGciOiJIUzI1NiJ9 (the header only)",
            "stripe.api_key = 'sk_test_...'",
            "postgres://user:password@localhost:5432/mydb",
            "https://username:password@example.com/path",
            "ftp://user:pass@ftp.example.org",
            "mysql://root:root@localhost/test",
            "redis://:<password>@host:6379",
            "https://user:***@github.com/org/repo",
        ],
    )
    add(
        "prose",
        [
            "The secret to good bread is a long, cold proof.",
            "Keep your private key private: never paste the BEGIN PRIVATE KEY block anywhere.",
            "Use sk-learn's train_test_split for that.",
            "hf_hub_download fetches a single file.",
            "AKIA is the prefix of long-term AWS key ids.",
            "ghp_ tokens are classic personal access tokens.",
            "eyJ is what base64 of '{\"' looks like.",
            "Send the report to the team by email.",
            "Reply @channel when done",
            "@Override public String toString()",
            "npm i @types/node@20.11.0",
            "Images: logo@2x.png and hero@3x.jpg",
            "git clone git@github.com:acme/widgets.git",
            "Email us at support@example.com or admin@test.example",
            "user@localhost is the default login",
            "Use the format name@domain.com",
            "ssh deploy@build-01.local",
        ],
    )
    add(
        "arithmetic",
        [
            "123456 * 789012 = 97408265472",
            "1234567 + 7654321 = 8888888",
            "2^64 = 18446744073709551616",
            "256626720691 + 1646615806005 = 1903242526696",
            "4532015112830366 / 2 = 2266007556415183",
            "The product is 4111 1111 1111 1112.",
            "3.14159265358979323846",
            "6.02214076e23 particles",
            "99999 * 99999 = 9999800001",
            "factorial(20) = 2432902008176640000",
            "x = 5105105105105106 - 1",
            "12 345 678 + 87 654 321 = 99 999 999",
            "1 2 3 4 5 6 7 8 9 10",
            "population 7,900,000,000",
        ],
    )
    add(
        "date/time",
        [
            "2024-01-15T10:30:00Z",
            "on 15/01/2024 at 10:30",
            "Unix time 1700000000 is Nov 2023",
            "20240115-103000.log",
            "2023-12-31 23:59:59.999999",
            "Meeting 2024-03-04 14:00-15:30",
            "timestamp: 1699999999123",
            "between 1999-2004 and 2010-2015",
            "Q3 2024, FY2025",
            "cron 0 0 * * 1-5",
            "12/31/1999 11:59 PM",
        ],
    )
    add(
        "private/doc ip",
        [
            "connect to 10.0.0.1",
            "router at 192.168.1.1",
            "localhost 127.0.0.1:8080",
            "docs use 192.0.2.15",
            "example 203.0.113.7 and 198.51.100.23",
            "DNS 8.8.8.8 and 1.1.1.1",
            "bind 0.0.0.0:5000",
            "netmask 255.255.255.0",
            "fe80::1ff:fe23:4567:890a%eth0",
            "::1 is loopback",
            "2001:db8::ff00:42:8329",
            "multicast 224.0.0.251",
            "CIDR 172.16.0.0/12",
        ],
    )
    add(
        "iban/card look-alike",
        [
            "DE89 3704 0044 0532 0130 01",
            "GB82 WEST 1234 5698 7654 33",
            "card 4111 1111 1111 1112",
            "test card 4242 4242 4242 4242",
            "Use 4000 0566 5566 5556 in test mode",
            "5555 5555 5555 4444 is Stripe's test Mastercard",
            "CC: XXXX-XXXX-XXXX-1234",
            "**** **** **** 4242",
            "IBAN: DE00 0000 0000 0000 0000 00",
        ],
    )
    add(
        "id look-alike",
        [
            "The SSN format is 123-45-6789",
            "SSN: XXX-XX-XXXX",
            "ssn 000-12-3456 is invalid",
            "part 123-45-6789 in stock",
            "Call 1-800-FLOWERS",
            "room 4155 on floor 26",
            "ZIP 94105-1234",
            "ext. 4455",
            "port 8080 and 8443",
            "int max 2147483647",
            "serial SN-2024-000123",
            "PO 4500012345",
            "BSN-lijst 2024",
            "NI 12345",
        ],
    )
    add(
        "code",
        [
            "for (int i = 0; i < 1000000; i++) sum += i;",
            "color: #FF5733; margin: 0 0 12px;",
            "assert hash(x) == 0x7fffffff",
            "SELECT * FROM users WHERE id = 1234567;",
            "const TIMEOUT_MS = 3600000;",
            "np.random.seed(12345678)",
            "matrix = [[1, 2, 3], [4, 5, 6]]",
            "base64: SGVsbG8sIFdvcmxkIQ==",
            "key = hashlib.sha1(b'data').hexdigest()",
            'print(f"{user}@{host}")',
            "re.compile(r'[\\w.+-]+@[\\w-]+\\.[\\w.]+')",
        ],
    )
    return out


def clean_chat(n: int = 400, seed: int = 7) -> list[Case]:
    """Chat text like the benchmark corpus's: support and trip-planning prose with numbers."""
    from bench.corpus import example

    rng = random.Random(seed)
    cases = []
    for i in range(n):
        for m in example(rng, i)["messages"]:
            cases.append(Case(m["content"], [], "clean", "chat"))
    return cases


HOLDOUT_CONTEXTS = [
    "| {what} | {v} |",
    "{what},{v},2024-05-01",
    "2024-05-01T12:00:01Z INFO request user={v} took 31ms",
    "- {what}: `{v}`",
    "d = {{'{what}': '{v}', 'active': True}}",
    "> From the ticket: {v}",
    "<td>{v}</td>",
    '{what} = "{v}"  # do not share',
    "Hi team,\n\nthe value is {v}\n\nBest,\nR.",
    "{v} (see above)",
]


def holdout(g: Gen) -> list[Case]:
    """A second set, written after the detectors were frozen and measured once as it came: other
    contexts (tables, CSV, logs, YAML, HTML), other formats (angle-bracket and mailto addresses,
    phone extensions, more countries' numbers) and other look-alike families."""
    cases: list[Case] = []
    makers = {
        "secret.aws_access_key": g.aws_key_id,
        "secret.github_token": g.github,
        "secret.openai_key": g.openai,
        "secret.anthropic_key": g.anthropic,
        "secret.google_api_key": g.google,
        "secret.stripe_key": g.stripe,
        "secret.slack_token": g.slack,
        "secret.jwt": g.jwt,
        "secret.huggingface_token": g.huggingface,
        "pii.card": g.card,
        "pii.iban": g.iban,
        "pii.ip_address": g.ipv4,
    }
    for rule, make in makers.items():
        for i in range(10):
            v = make()
            what = rule.split(".")[1]
            cases.append(Case(HOLDOUT_CONTEXTS[i].format(v=v, what=what), [(rule, v)], "holdout"))
    for i in range(10):
        e = g.email()
        text = [
            "From: Maria Garcia <{v}>",
            "mailto:{v}",
            "CC {v}; bcc nobody",
            "contact={v}&ref=nav",
            "Reach out ({v}) anytime",
            "{v},Maria,Garcia,2021",
            "email: {v}",
            '<a href="mailto:{v}">write</a>',
            "Forwarded by {v} on Monday",
            "user {v} logged in",
        ][i].format(v=e)
        cases.append(Case(text, [("pii.email", e)], "holdout"))
    phones = [
        "+34 612 34 56 78",
        "+39 06 6982 1234",
        "+7 495 123-45-67",
        "+31 20 794 0345",
        "+353 1 234 5678",
        "+46 8 123 456 78",
        "+48 22 123 45 67",
        "+27 21 123 4567",
        "+1 (646) 398-2211",
        "+52 55 1234 5678",
    ]
    us = [f"(303) {g.r.randint(201, 989)}-{g.digits(4)}" for _ in range(5)] + [
        f"{g.pick(Gen.US_AREAS)}-{g.r.randint(201, 989)}-{g.digits(4)} ext. 12" for _ in range(5)
    ]
    for i, v in enumerate(phones + us):
        text = [
            "Office: {v}",
            "Call our hotline {v}",
            "mobile {v}",
            "tel:{v}",
            "Phone | {v}",
            "Whatsapp me on {v}",
            "{v} (cell)",
            "Contact number: {v}",
            "Fax {v}",
            "Reach me at {v}",
        ][i % 10].format(v=v)
        cases.append(Case(text, [("pii.phone", v.removesuffix(" ext. 12"))], "holdout"))
    ids = [
        g.ssn,
        g.nino,
        g.de_idnr,
        g.fr_nir,
        g.es_dni,
        g.it_cf,
        g.nl_bsn,
        g.aadhaar,
        g.ca_sin,
        g.br_cpf,
    ]
    labels = [
        "SSN",
        "NINO",
        "Steuer-ID",
        "NIR",
        "DNI",
        "codice fiscale",
        "BSN",
        "Aadhaar",
        "SIN",
        "CPF",
    ]
    for make, label in zip(ids, labels, strict=False):
        for template in ("{label}: {v}", "| {label} | {v} |"):
            v = make()
            cases.append(
                Case(template.format(label=label, v=v), [("pii.national_id", v)], "holdout")
            )
    for _ in range(6):
        pw = g.password()
        url = g.pick(
            [
                "sftp://ops:{p}@files.acme.io/in",
                "https://bot:{p}@registry.acme.dev/v2/",
                "postgresql://reporting:{p}@10.1.2.3/warehouse",
            ]
        ).format(p=pw)
        cases.append(Case(f"- url: {url}", [("secret.url_password", pw)], "holdout"))
    for _ in range(4):
        v = g.private_key()
        cases.append(
            Case(
                "key: |\n  " + v.replace("\n", "\n  "),
                [("secret.private_key", v.splitlines()[0])],
                "holdout",
            )
        )
    for _ in range(6):
        v = g.aws_secret()
        cases.append(
            Case(f'"aws_secret_access_key": "{v}",', [("secret.aws_secret_key", v)], "holdout")
        )

    def add(family: str, texts) -> None:
        cases.extend(Case(t, [], "holdout-lookalike", family) for t in texts)

    add("ids in JSON", [f'{{"order_id": "4{g.digits(15)}", "qty": 2}}' for _ in range(10)])
    add("ids in JSON", [f'{{"tweet_id": "1{g.digits(18)}"}}' for _ in range(5)])
    add("ids in JSON", [f'{{"user_id": {g.digits(10)}, "ts": {g.digits(13)}}}' for _ in range(5)])
    add(
        "money",
        ["$1,234,567.89", "€ 12 345 678,90", "USD 4 500 000", "budget: 3.500.000 €", "¥123456789"],
    )
    add(
        "science",
        [
            "CAS 7732-18-5",
            "pi = 3.141592653589793",
            "c = 299 792 458 m/s",
            "Avogadro 6.022 140 76 × 10^23",
            "lat/long 40.7128, -74.0060",
        ],
    )
    add(
        "legal/ref",
        [
            "case no. 2:19-cv-01234",
            "US Patent 7,123,456 B2",
            "Regulation (EU) 2016/679",
            "DOI 10.1038/nature12373",
            "arXiv:2303.08774v3",
        ],
    )
    add(
        "tables",
        [
            "| 1024 | 2048 | 4096 | 8192 |",
            "| 2021 | 2022 | 2023 | 2024 |",
            "1 1 2 3 5 8 13 21 34 55 89 144",
            "0 1 1 0 1 0 0 1 1 0 1 0 1 1",
        ],
    )
    add(
        "infra",
        [
            f"image: registry.acme.dev/api@sha256:{g.s(64, HEX)}",
            "pod api-7f9c8d6b5-x2k4q restarted",
            "listening on [::]:8080",
            "docker run -p 5432:5432 postgres:16.2",
            "EXPOSE 443/tcp 8443/tcp",
            f"request-id: {g.s(32, HEX)}",
            f"trace_id={g.s(32, HEX)} span_id={g.s(16, HEX)}",
            "MAC 00:1A:2B:3C:4D:5E",
            "ARN arn:aws:iam::123456789012:role/Admin",
            "account 123456789012 (AWS docs' example)",
        ],
    )
    add(
        "keys that are not secrets",
        [
            f"pk_live_{g.s(24)}",
            f"stripe publishable key pk_test_{g.s(24)}",
            "AWS region us-east-1, key id AKIA…",
            "the anon key is public by design",
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@laptop",
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n-----END CERTIFICATE-----",
            "ghs_ tokens expire after an hour",
            "AIza… keys can be restricted by referrer",
        ],
    )
    add(
        "mentions",
        [
            "@maria.garcia said hi",
            "ping @oncall-team",
            "see user.name@ in the regex",
            "name[at]example[dot]com",
            "support at acme dot com",
        ],
    )
    return cases


def corpus() -> list[Case]:
    g = Gen()
    return planted(g) + lookalikes(g) + clean_chat()


def holdout_corpus() -> list[Case]:
    return holdout(Gen(2024))


# --------------------------------------------------------------------------- measuring


@dataclass
class Measure:
    planted: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)
    negative_lines: int = 0
    false_lines: Counter = field(default_factory=Counter)  # rule -> lines it fired on wrongly
    false_examples: dict = field(default_factory=lambda: defaultdict(list))
    missed: dict = field(default_factory=lambda: defaultdict(list))
    lines_with_false: int = 0

    def recall(self, rule: str) -> float:
        return self.found[rule] / self.planted[rule] if self.planted[rule] else 1.0

    def false_share(self, rule: str) -> float:
        return self.false_lines[rule] / self.negative_lines if self.negative_lines else 0.0


def measure(cases: list[Case], scan) -> Measure:
    """Recall of planted values by kind, and the lines on which each kind fires wrongly: a
    look-alike or clean line with any finding, or a finding in a planted line that is none of its
    planted values. ``scan(text)`` returns matches with rule, start and end."""
    m = Measure()
    for case in cases:
        matches = scan(case.text)
        spans = {(x.rule, x.start, x.end) for x in matches}
        used = set()
        for rule, value in case.planted:
            m.planted[rule] += 1
            at = case.text.find(value)
            if rule == "secret.private_key" and at < 0:  # inside escaped JSON
                at = case.text.find(json.dumps(value)[1:-1])
                value = json.dumps(value)[1:-1]
            hit = next(
                (s for s in spans if s[0] == rule and s[1] < at + len(value) and at < s[2]), None
            )
            if hit:
                m.found[rule] += 1
                used.add(hit)
            else:
                m.missed[rule].append(case.text)
        wrong = {s[0] for s in spans - used}
        if not case.planted:
            m.negative_lines += 1
        for rule in wrong:
            m.false_lines[rule] += 1
            m.false_examples[rule].append(case.text)
        if wrong:
            m.lines_with_false += 1
    return m


def table(m: Measure) -> str:
    from pipeline.stages.scan.kinds import RULES

    rows = [
        "| rule | planted | found | recall | false-positive lines | share of negative lines |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for rule in RULES:
        rows.append(
            f"| `{rule}` | {m.planted[rule]} | {m.found[rule]} | {m.recall(rule):.3f} | "
            f"{m.false_lines[rule]} | {m.false_share(rule):.2%} |"
        )
    return "\n".join(rows)


def main() -> None:
    import sys

    from pipeline.stages.scan.scanner import scan_text

    cases = holdout_corpus() if "--holdout" in sys.argv else corpus()
    m = measure(cases, scan_text)
    groups = Counter(c.group for c in cases)
    print("corpus:", dict(groups))
    print(table(m))
    print(f"lines with any false positive: {m.lines_with_false} of {len(cases)}")
    for rule, texts in m.missed.items():
        for t in texts[:5]:
            print("MISSED", rule, repr(t[:160]))
    for rule, texts in m.false_examples.items():
        for t in texts[:8]:
            print("FALSE", rule, repr(t[:160]))


if __name__ == "__main__":
    main()
