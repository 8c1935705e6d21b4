"""python benchmarks/pii/make_wild.py  (writes benchmarks/pii/wild.jsonl; no extra packages)

A third labelled set, written to be unlike the first two (labelled.jsonl, labelled_heldout.jsonl)
and before the detectors were run on it: the formats and contexts real support tickets carry
rather than Faker's. How it differs:

- Values built by hand from the published formats, each checked: phone numbers of 11
  countries (UK, DE, FR, IN, BR, JP, AU, US, ES, CN, SG) with ``+``, ``00``, ``(0)``, dots,
  dashes, spaces, parentheses and extensions (``ext. 12``, ``x204``), each one checked valid by
  libphonenumber; cards of 12 brands and 13-19 digits (Visa 13/16/19, Mastercard 51-55 and
  2221-2720, Amex, Discover, Diners, JCB, UnionPay, Maestro, Mir) with Luhn digits; IBANs of 22
  countries with ISO 13616 check digits, in print form (groups of four) and electronic form;
  IPv4 and IPv6 (full, compressed, zone ids, IPv4-mapped, ``[addr]:port``, in URLs); e-mail
  with plus tags, subdomains, upper case, punycode and Unicode domains, ``<...>``, ``mailto:``;
  keys and tokens of 25 providers in their documented shapes (AWS access key id and secret,
  GitHub, GitLab, Slack tokens and webhooks, Stripe, Google, OpenAI, Anthropic, Hugging Face,
  Twilio, SendGrid, npm, PyPI, Shopify, DigitalOcean, Mailgun, Telegram, Discord, JWTs, opaque
  Bearer tokens, Azure account keys), PEM private key blocks (RSA, EC, OpenSSH, PKCS#8,
  encrypted, PGP), passwords after ``password:``/``pwd=``/``-p``, and URLs with credentials
  (an empty user name included).
- Contexts from tickets: pasted server and application logs, JSON and YAML snippets, ``curl``
  commands, HTTP headers, ``.env`` files, e-mail signatures, HTML fragments, CSV rows.
- Traps that must survive, many of them shaped like PII: versions (``10.0.19045.3803``,
  ``v2.14.0-rc.1``, four-part versions after "upgraded to"), semver ranges, git SHAs (short and
  40 hex, after words that are not "commit"), UUIDs and W3C trace ids (a UUID or trace id names
  a record or a request, not a person: not PII here), order and ticket numbers (``#12345``,
  ``ORD-2024-000123``, ``INC0012345``, Amazon-style ``112-7654321-1234567``), tracking numbers,
  dates and times in many formats, Unix timestamps, prices, percentages, HTTP status codes,
  ports, file paths, SKUs, npm ``package@1.2.3`` specs, the last four digits of a card, masked
  cards, ``127.0.0.1``, and the allow-listed support address and phone in other spellings.

The kinds are scored as in the other sets; ``private_key`` (PEM blocks) and ``password`` are
kinds of their own here so the table shows them apart from API keys. Fixed seed; the file is
committed.
"""

# ruff: noqa: E501  (tables of formats: one generator per line reads better than wrapped)

from __future__ import annotations

import base64
import json
import random
import re
import string
import uuid
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).with_name("wild.jsonl")
SUPPORT_EMAIL = "help@northwind-tools.example"
SUPPORT_PHONE = "+1 (888) 555-0142"
ALLOW = [SUPPORT_EMAIL, SUPPORT_PHONE]
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"

R = random.Random


def rand(rng: R, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def fill(rng: R, pattern: str) -> str:
    """'d' → a random digit, everything else as written."""
    return "".join(rng.choice(string.digits) if c == "d" else c for c in pattern)


# --- phone numbers --------------------------------------------------------------------------

PHONES: dict[str, list[str]] = {
    "GB": ["+44 20 7946 0ddd", "020 7946 0ddd", "+44 (0)20 7946 0ddd", "0044 20 7946 0ddd",
           "07911 123ddd", "+44 7911 123ddd", "+44 (0) 7911 123 ddd", "0161 496 0ddd",
           "+44 161 496 0ddd", "+447911123ddd", "0113 496 0ddd"],
    "DE": ["+49 30 2dddddd", "030 2ddddddd", "+49 (0)30 2dddddd", "0049 89 2dddddd",
           "0151 2ddddddd", "+49 151 2ddddddd", "+49 170 2dddddd", "+49 (0) 221 2dddddd",
           "+49-40-2dddddd", "0171/2dddddd"],
    "FR": ["+33 1 dd dd dd dd", "01 dd dd dd dd", "06.dd.dd.dd.dd", "+33 (0)6 dd dd dd dd",
           "0033 7 dd dd dd dd", "+33 6 dd dd dd dd", "04-dd-dd-dd-dd", "+33 4 dd dd dd dd"],
    "IN": ["+91 98ddd ddddd", "+91-98dddddddd", "098ddd ddddd", "+91 22 2ddd dddd",
           "022-2ddd dddd", "+91 80 2ddd dddd", "+91 (80) 2ddd dddd", "0091 98ddd ddddd"],
    "BR": ["+55 11 9dddd-dddd", "(11) 9dddd-dddd", "+55 (21) 2ddd-dddd", "0055 11 3ddd dddd",
           "+55 21 9dddd dddd", "+55 (11) 3ddd-dddd"],
    "JP": ["+81 3-dddd-dddd", "03-dddd-dddd", "090-dddd-dddd", "+81 90 dddd dddd",
           "(03) dddd-dddd", "+81-6-dddd-dddd", "080-dddd-dddd", "+81 (0)3 dddd dddd"],
    "AU": ["+61 2 9ddd dddd", "(02) 9ddd dddd", "041d ddd ddd", "+61 41d ddd ddd",
           "+61 (0)3 9ddd dddd", "0061 3 9ddd dddd", "04dd-ddd-ddd", "+61 (0) 41d ddd ddd"],
    "US": ["(415) 555-01dd", "415.555.01dd", "+1-415-555-01dd", "1-212-555-01dd",
           "+1 (646) 555-01dd", "+1.312.555.01dd", "(312) 555 01dd", "1 (617) 555-01dd"],
    "ES": ["+34 612 dd dd dd", "612 ddd ddd", "+34 91 ddd dd dd", "0034 93 ddd dd dd"],
    "CN": ["+86 138 dddd dddd", "+86 10 dddd dddd", "138-dddd-dddd", "0086 139 dddd dddd"],
    "SG": ["+65 6ddd dddd", "+65 9ddd dddd", "(+65) 8ddd dddd"],
}  # fmt: skip
EXTENSIONS = [" ext. dd", " x2dd", " ext ddd", " extension d", " Ext. ddd", " x dd"]


def phone(rng: R) -> str:
    import phonenumbers

    region = rng.choice(list(PHONES))
    pattern = rng.choice(PHONES[region])
    for _ in range(200):
        v = fill(rng, pattern)
        dial = v.replace("(+", "+").replace("(0)", "")
        dial = "+" + dial[2:] if dial.startswith("00") else dial
        num = phonenumbers.parse(dial, region)
        if phonenumbers.is_valid_number(num):
            break
    else:
        raise AssertionError(f"no valid number for {pattern}")
    if region in ("US", "GB", "DE", "AU") and rng.random() < 0.25:
        v += fill(rng, rng.choice(EXTENSIONS))
    return v


PHONE_CONTEXT = [
    "Tel: {v}", "Mobile: {v}", "M: {v}", "T: {v}", "Tél. : {v}", "Tel.: {v}", "Phone {v}",
    "call me on {v}", "ring me at {v} after 3pm", "you can reach me at {v}", "my cell is {v}",
    "WhatsApp {v}", "Fax: {v}", "Direct: {v}", "Office: {v}", "Handy: {v}", "Portable : {v}",
    "Telefon: {v}", "mob. {v}", "best number to call: {v}", "Tel {v} (9-17h)",
    "please phone {v}", "customer callback number {v}", "Móvil: {v}", "電話 {v}",
]  # fmt: skip

# --- cards --------------------------------------------------------------------------------------


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


BRANDS: list[tuple[str, Callable[[R], str], list[int]]] = [
    ("Visa", lambda r: "4", [16, 16, 13, 19]),
    ("Mastercard", lambda r: str(r.randint(51, 55)), [16]),
    ("Mastercard", lambda r: str(r.randint(2221, 2720)), [16]),
    ("Amex", lambda r: r.choice(["34", "37"]), [15]),
    ("Discover", lambda r: r.choice(["6011", "65", str(r.randint(644, 649))]), [16, 19]),
    ("Diners Club", lambda r: r.choice(["36", "38", str(r.randint(300, 305))]), [14]),
    ("JCB", lambda r: str(r.randint(3528, 3589)), [16, 19]),
    ("UnionPay", lambda r: "62" + str(r.randint(2126, 9925))[:2], [16, 17, 18, 19]),
    ("Maestro", lambda r: r.choice(["5018", "5020", "5038", "6304", "6759", "6761"]), [16, 18, 19]),
    ("Mir", lambda r: "220" + str(r.randint(0, 4)), [16]),
]


def card(rng: R) -> tuple[str, str]:
    brand, prefix, lengths = rng.choice(BRANDS)
    n = rng.choice(lengths)
    body = prefix(rng)
    body += rand(rng, n - 1 - len(body), string.digits)
    num = body + luhn_digit(body)
    sep = rng.choice([" ", " ", "-", "", " "])
    groups = {15: [4, 6, 5], 14: [4, 6, 4]}.get(n, [4] * (n // 4) + ([n % 4] if n % 4 else []))
    if not sep:
        return brand, num
    out, i = [], 0
    for g in groups:
        out.append(num[i : i + g])
        i += g
    return brand, sep.join(out)


# --- IBANs ---------------------------------------------------------------------------------------

# country: BBAN pattern (n digit, a upper-case letter, c either), from the SWIFT IBAN registry.
IBAN_BBAN = {
    "DE": "n" * 18, "GB": "aaaa" + "n" * 14, "FR": "n" * 10 + "c" * 11 + "nn",
    "ES": "n" * 20, "IT": "a" + "n" * 10 + "c" * 12, "NL": "aaaa" + "n" * 10, "BE": "n" * 12,
    "CH": "n" * 5 + "c" * 12, "AT": "n" * 16, "PL": "n" * 24, "SE": "n" * 20, "NO": "n" * 11,
    "DK": "n" * 14, "IE": "aaaa" + "n" * 14, "PT": "n" * 21, "FI": "n" * 14,
    "LU": "nnn" + "c" * 13, "BR": "n" * 23 + "a" + "c", "SA": "nn" + "c" * 18,
    "TR": "n" * 5 + "0" + "c" * 16, "CZ": "n" * 20, "GR": "n" * 7 + "c" * 16,
}  # fmt: skip


def iban(rng: R) -> str:
    cc = rng.choice(list(IBAN_BBAN))
    up = string.ascii_uppercase
    bban = "".join(
        rand(rng, 1, string.digits) if k == "n" else rand(rng, 1, up) if k == "a"
        else k if k == "0" else rand(rng, 1, up + string.digits * 3)
        for k in IBAN_BBAN[cc]
    )  # fmt: skip
    num = int("".join(str(int(c, 36)) for c in bban + cc + "00"))
    s = f"{cc}{98 - num % 97:02d}{bban}"
    if rng.random() < 0.6:
        return " ".join(s[i : i + 4] for i in range(0, len(s), 4))
    return s


# --- IPs ---------------------------------------------------------------------------------------


def ipv4(rng: R) -> str:
    return rng.choice(
        [
            lambda: f"203.0.113.{rng.randint(1, 254)}",
            lambda: f"198.51.100.{rng.randint(1, 254)}",
            lambda: (
                f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                f"{rng.randint(1, 254)}"
            ),
            lambda: f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            lambda: f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            lambda: f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        ]
    )()


def ipv6(rng: R) -> str:
    g = [rand(rng, rng.randint(1, 4), HEX) for _ in range(8)]
    return rng.choice(
        [
            lambda: ":".join(x.zfill(4) for x in g),
            lambda: "2001:db8::" + ":".join(g[:2]),
            lambda: f"2a02:{g[0]}:{g[1]}::{g[2]}",
            lambda: f"fe80::{g[0]}:{g[1][:2]}ff:fe{g[2][:2]}:{g[3]}",
            lambda: ":".join(g[:4]) + "::" + g[4],
            lambda: "::ffff:" + ipv4(rng),
            lambda: f"2606:4700:{g[0]}::{g[1]}".upper(),
        ]
    )()


# --- e-mail ---------------------------------------------------------------------------------

FIRST = ["jane", "Mehmet", "priya", "lukas", "Sofía", "chen", "oluwaseun", "marie", "tomás",
         "aiko", "ravi", "ingrid", "Dmitri", "fatima", "joão", "Kwame", "anna-lena", "li"]  # fmt: skip
LAST = ["doe", "Yilmaz", "raghunathan", "Schmidt", "garcia", "wang", "adeyemi", "dupont",
        "Nakamura", "okafor", "lindqvist", "O'Neil", "petrov", "haddad", "silva"]  # fmt: skip
DOMAINS = ["mail.contoso.com", "eu.corp.fabrikam.io", "gmail.com", "outlook.de", "yahoo.co.jp",
           "uol.com.br", "example.co.uk", "students.uni-heidelberg.de", "proton.me", "web.de",
           "abc-logistics.com.au", "dept.gov.in", "startup.ai", "co.example.museum"]  # fmt: skip


def _ascii(s: str) -> str:
    table = str.maketrans("íáãéóúç'", "iaaeouc-")
    return s.translate(table)


def email(rng: R) -> str:
    f, last = rng.choice(FIRST), rng.choice(LAST)
    local = rng.choice(
        [
            f"{f}.{last}", f"{f}+{rng.choice(['billing', 'support', 'amazon', 'test1'])}",
            f"{f[0]}{last}{rng.randint(1, 99)}", f"{f}_{last}", f"{last}.{f}".upper(),
            f"{f}.{last}+tickets", f"{f[0]}.{last}",
        ]
    )  # fmt: skip
    local = _ascii(local).replace("--", "-")
    kind = rng.random()
    if kind < 0.08:
        return f"{local}@xn--{rand(rng, 5, string.ascii_lowercase)}-{rand(rng, 3, 'abcdefk')}.de"
    if kind < 0.14:
        return f"{local}@{rng.choice(['müller-bau.de', 'bücher.example', 'café-paris.fr'])}"
    dom = rng.choice(DOMAINS)
    return (local + "@" + dom).upper() if kind < 0.2 else f"{local}@{dom}"


EMAIL_CONTEXT = [
    "From: {n} <{v}>", "mailto:{v}", "<a href=\"mailto:{v}\">email me</a>", "Reply-To: <{v}>",
    "\"email\": \"{v}\"", "email={v}&plan=pro", "contact: {v}", "({v})", "cc: {v};",
    "Please update my login to {v}.", "<{v}>", "E-Mail: {v}", "user '{v}' not found",
    "[{v}]", "invite sent to {v}, never arrived", "Courriel : {v}",
]  # fmt: skip

# --- keys and tokens -----------------------------------------------------------------------------

B64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"


def jwt(rng: R) -> str:
    head = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT","kid":"k1"}').rstrip(b"=")
    sub = rand(rng, 10, string.digits)
    body = base64.urlsafe_b64encode(f'{{"sub":"{sub}","exp":1767225600}}'.encode()).rstrip(b"=")
    return f"{head.decode()}.{body.decode()}.{rand(rng, 86, URLSAFE)}"


KEYS: list[tuple[str, Callable[[R], str]]] = [
    ("aws_access_key_id", lambda r: "AKIA" + rand(r, 16, string.ascii_uppercase + "234567")),
    ("aws_session", lambda r: "ASIA" + rand(r, 16, string.ascii_uppercase + "234567")),
    ("aws_secret_access_key", lambda r: rand(r, 40, B64)),
    ("github", lambda r: r.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + rand(r, 36)),
    ("github_pat", lambda r: "github_pat_11" + rand(r, 20, string.ascii_uppercase + "0123456789")
     + "_" + rand(r, 59)),
    ("gitlab", lambda r: "glpat-" + rand(r, 20, URLSAFE)),
    ("slack", lambda r: r.choice(["xoxb-", "xoxp-"]) + rand(r, 11, string.digits) + "-"
     + rand(r, 12, string.digits) + "-" + rand(r, 24)),
    ("slack_webhook", lambda r: "https://hooks.slack.com/services/T" + rand(r, 8, string.ascii_uppercase + "0123456789")
     + "/B" + rand(r, 10, string.ascii_uppercase + "0123456789") + "/" + rand(r, 24)),
    ("stripe", lambda r: r.choice(["sk_live_", "rk_live_", "pk_live_", "sk_test_"]) + rand(r, r.choice([24, 99]))),
    ("google", lambda r: "AIza" + rand(r, 35, URLSAFE)),
    ("openai", lambda r: r.choice(["sk-proj-" + rand(r, 156, URLSAFE), "sk-" + rand(r, 48),
                                   "sk-svcacct-" + rand(r, 120, URLSAFE)])),
    ("anthropic", lambda r: "sk-ant-api03-" + rand(r, 93, URLSAFE) + "AA"),
    ("huggingface", lambda r: "hf_" + rand(r, 34)),
    ("twilio_sid", lambda r: "AC" + rand(r, 32, HEX)),
    ("twilio_key", lambda r: "SK" + rand(r, 32, HEX)),
    ("twilio_token", lambda r: rand(r, 32, HEX)),
    ("sendgrid", lambda r: "SG." + rand(r, 22, URLSAFE) + "." + rand(r, 43, URLSAFE)),
    ("npm", lambda r: "npm_" + rand(r, 36)),
    ("pypi", lambda r: "pypi-AgEIcHlwaS5vcmc" + rand(r, 140, URLSAFE)),
    ("shopify", lambda r: "shpat_" + rand(r, 32, HEX)),
    ("digitalocean", lambda r: "dop_v1_" + rand(r, 64, HEX)),
    ("mailgun", lambda r: "key-" + rand(r, 32, HEX)),
    ("telegram", lambda r: rand(r, 10, string.digits) + ":AA" + rand(r, 33, URLSAFE)),
    ("discord", lambda r: "M" + rand(r, 23) + "." + rand(r, 6, URLSAFE) + "." + rand(r, 38, URLSAFE)),
    ("jwt", jwt),
    ("opaque", lambda r: rand(r, r.choice([32, 40, 48]), URLSAFE)),
    ("azure", lambda r: rand(r, 86, B64) + "=="),
]  # fmt: skip

KEY_CONTEXT: dict[str, list[str]] = {
    "aws_access_key_id": ["aws_access_key_id = {v}", "AWS_ACCESS_KEY_ID={v}",
                          "\"AccessKeyId\": \"{v}\""],
    "aws_session": ["\"AccessKeyId\": \"{v}\",", "export AWS_ACCESS_KEY_ID={v}"],
    "aws_secret_access_key": ["aws_secret_access_key = {v}", "AWS_SECRET_ACCESS_KEY={v}",
                              "\"SecretAccessKey\": \"{v}\""],
    "twilio_token": ["TWILIO_AUTH_TOKEN={v}", "auth token: {v}", "-u ACxxxx:{v}"],
    "azure": ["DefaultEndpointsProtocol=https;AccountName=prodstore;AccountKey={v};"
              "EndpointSuffix=core.windows.net"],
    "opaque": ["Authorization: Bearer {v}", "X-API-Key: {v}", "token={v}", "api_key: {v}",
               "\"client_secret\": \"{v}\"", "?access_token={v}&format=json",
               "SECRET_KEY='{v}'", "-H \"Authorization: Token {v}\""],
    "jwt": ["Authorization: Bearer {v}", "\"id_token\": \"{v}\"", "Cookie: session={v}",
            "jwt={v}"],
    "slack_webhook": ["webhook_url: {v}", "curl -X POST -d '{{\"text\":\"hi\"}}' {v}"],
}  # fmt: skip
KEY_GENERIC = ["key: {v}", "I pasted {v} by mistake", "\"token\": \"{v}\"", "export TOKEN={v}",
               "here's the key {v} – rotate it?", "Authorization: Bearer {v}",
               "config.api_key = \"{v}\"", "{v}"]  # fmt: skip


def pem(rng: R) -> str:
    kind = rng.choice(["RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "PRIVATE KEY",
                       "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK", "DSA PRIVATE KEY"])  # fmt: skip
    lines = [rand(rng, 64, B64) for _ in range(rng.randint(2, 5))] + [rand(rng, 24, B64) + "=="]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"


def password(rng: R) -> str:
    return rng.choice(
        [
            lambda: rng.choice(["Summer", "Winter", "Spring", "Autumn"]) + str(rng.randint(2019, 2026))
            + rng.choice("!#$?"),
            lambda: rand(rng, rng.randint(10, 16), ALNUM + "!#$%&*?@"),
            lambda: rng.choice(["Tr0ub4dor&3", "P@ssw0rd123", "Qwerty!234", "letmein2024!"]),
            lambda: "-".join(rng.choice(["correct", "horse", "battery", "staple", "orbit",
                                         "maple"]) for _ in range(3)) + str(rng.randint(1, 99)),
        ]
    )()  # fmt: skip


PASSWORD_CONTEXT = ["password: {v}", "pwd={v}", "my password is {v}", "\"password\": \"{v}\"",
                    "mysql -u root -p'{v}' -h db1", "PGPASSWORD={v} psql -h db1",
                    "Password = {v}", "temp password {v} doesn't work", "passwd: {v}"]  # fmt: skip


def url_creds(rng: R) -> str:
    user = rng.choice(["admin", "app_user", "deploy", "jsmith", "svc-backup", "oauth2", "root"])
    pw = rand(rng, rng.randint(8, 20), ALNUM + "!$*~")
    host = rng.choice(["db.internal.acme.io", "10.0.4.12", "cluster0.ab1cd.mongodb.net",
                       "ftp.files.example.com", "rabbit.prod.local", "gitlab.com"])  # fmt: skip
    scheme = rng.choice(["postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp",
                         "https", "ftp", "smtp", "sftp"])  # fmt: skip
    port = rng.choice(["", ":5432", ":6379", ":21", ":8443"])
    if scheme == "redis" and rng.random() < 0.5:
        return f"redis://:{pw}@{host}{port}/0"
    return f"{scheme}://{user}:{pw}@{host}{port}/{rng.choice(['app', 'prod', 'backup', ''])}"


# --- traps -----------------------------------------------------------------------------------


def trap(rng: R) -> str:
    r = rng
    return r.choice(
        [
            lambda: f"{r.randint(1, 20)}.{r.randint(0, 30)}.{r.randint(0, 40)}",
            lambda: f"v10.0.{r.randint(17000, 22631)}",
            lambda: f"10.0.{r.randint(17000, 22631)}.{r.randint(100, 4000)}",
            # Four small parts read as an IPv4 address unless a word says it is a version.
            lambda: (
                r.choice(["driver ", "app version ", "firmware ", "Office build "])
                + f"{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}.{r.randint(0, 99)}"
            ),
            lambda: f"v{r.randint(1, 5)}.{r.randint(0, 20)}.0-rc.{r.randint(1, 5)}",
            lambda: r.choice(["^1.2.3", "~4.17.21", ">=2.0.0 <3.0.0", "1.x", "^18.2.0"]),
            lambda: rand(r, 7, HEX),
            lambda: rand(r, 40, HEX),
            lambda: str(uuid.UUID(int=r.getrandbits(128))),
            lambda: str(uuid.UUID(int=r.getrandbits(128))).upper(),
            lambda: f"#{r.randint(10000, 999999)}",
            lambda: f"ORD-{r.randint(2019, 2026)}-{r.randint(0, 999999):06d}",
            lambda: f"INC{r.randint(0, 9999999):07d}",
            lambda: (
                f"{r.randint(100, 999)}-{r.randint(1000000, 9999999)}-{r.randint(1000000, 9999999)}"
            ),
            lambda: (
                f"1Z{rand(r, 6, string.ascii_uppercase + string.digits)}{rand(r, 10, string.digits)}"
            ),
            lambda: (
                f"{r.randint(2019, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T"
                f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z"
            ),
            lambda: f"{r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(2019, 2026)}",
            lambda: (
                f"{r.randint(1, 12)}/{r.randint(1, 28)}/{r.randint(2019, 2026)} {r.randint(1, 12)}:"
                f"{r.randint(0, 59):02d} PM"
            ),
            lambda: r.choice(["Mar 15, 2024", "15 March 2024", "Tue, 05 Nov 2024 14:22:05 GMT"]),
            lambda: (
                f"{r.randint(2019, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} "
                f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d},{r.randint(0, 999):03d}"
            ),
            lambda: str(r.randint(1_600_000_000, 1_790_000_000)),
            lambda: f"${r.randint(1, 9)},{r.randint(100, 999)}.{r.randint(0, 99):02d}",
            lambda: f"{r.randint(1, 9)}.{r.randint(100, 999)},{r.randint(0, 99):02d} €",
            lambda: f"£{r.randint(1, 99)}.{r.randint(0, 99):02d}",
            lambda: f"¥{r.randint(1, 99)},{r.randint(100, 999)}",
            lambda: f"{r.randint(1, 99)}.{r.randint(0, 9)}%",
            lambda: f"HTTP {r.choice([200, 301, 403, 404, 429, 500, 502, 503])}",
            lambda: f"port {r.choice([22, 443, 5432, 6379, 8080, 9200, 27017])}",
            lambda: r.choice(
                [
                    "/var/log/nginx/error.log",
                    "C:\\Program Files\\Northwind\\app.exe",
                    "~/.config/northwind/settings.json",
                    "/usr/lib/python3.11/ssl.py",
                ]
            ),
            lambda: (
                f"SKU-{r.randint(1000, 9999)}-{r.choice(['BLK', 'WHT', 'RED'])}-{r.choice(['S', 'M', 'XL'])}"
            ),
            lambda: r.choice(["lodash@4.17.21", "@types/node@20.11.5", "react@18.2.0"]),
            lambda: f"card ending in {r.randint(1000, 9999)}",
            lambda: f"**** **** **** {r.randint(1000, 9999)}",
            lambda: r.choice(["127.0.0.1:8080", "localhost:3000", "0.0.0.0"]),
            lambda: r.choice(
                [
                    SUPPORT_EMAIL,
                    SUPPORT_PHONE,
                    "1-888-555-0142",
                    "(888) 555-0142",
                    SUPPORT_EMAIL.upper(),
                ]
            ),
            lambda: f"error 0x{rand(r, 8, '0123456789ABCDEF')}",
            lambda: f"KB{r.randint(5000000, 5049999)}",
            lambda: f"{r.choice([1280, 1920, 2560])}x{r.choice([720, 1080, 1440])}",
            lambda: f"pid {r.randint(1000, 4194304)}",
        ]
    )()


TRAP_CONTEXT = ["version {t}", "upgraded to {t}", "ticket {t}", "order {t}", "at {t}",
                "(build {t})", "charged {t}", "{t}", "returned {t}", "see {t}", "request_id={t}",
                "ref: {t}", "tracking {t}", "HEAD is now at {t}", "trace_id={t}",
                "\"orderId\": \"{t}\"", "npm i {t}", "x-request-id: {t}"]  # fmt: skip


# --- records -------------------------------------------------------------------------------------

Slot = tuple[str, str]  # (kind or "trap", value)


def slot(rng: R, kind: str) -> tuple[str, str, str]:
    """(template, kind, value) for one planted value or trap."""
    if kind == "phone":
        return rng.choice(PHONE_CONTEXT), kind, phone(rng)
    if kind == "email":
        return rng.choice(EMAIL_CONTEXT).replace("{n}", rng.choice(FIRST).title()), kind, email(rng)
    if kind == "card":
        brand, v = card(rng)
        ctx = rng.choice(["{b} {v}", "card: {v}", "\"card_number\": \"{v}\"", "charged to {v}",
                          "CC# {v} exp 11/28", "<td>{v}</td>", "number={v}&cvc=123",
                          "PAN {v}", "my {b} is {v}", "{v}"])  # fmt: skip
        return ctx.replace("{b}", brand), kind, v
    if kind == "iban":
        ctx = rng.choice(["IBAN: {v}", "IBAN {v}", "\"iban\": \"{v}\"", "Kontonummer/IBAN: {v}",
                          "refund to {v} please", "<b>IBAN</b> {v}", "acct {v} (BIC DEUTDEFF)",
                          "{v};EUR;Refund"])  # fmt: skip
        return ctx, kind, iban(rng)
    if kind == "ip":
        v = ipv4(rng) if rng.random() < 0.6 else ipv6(rng)
        six = ":" in v
        ctx = rng.choice(
            ["client {v}", "from {v} port 51234 ssh2", "X-Forwarded-For: {v}", "remote_addr={v}",
             "\"ip\": \"{v}\"", "ping {v}", "connect to {v} failed", "{v} - - [05/Nov/2024:14:22:05",
             "our office IP is {v}", "allow {v}/32"]
            + (["http://[{v}]:8080/health", "[{v}]:443", "inet6 {v}/64 scope global"] if six
               else ["http://{v}:8080/health", "{v}:5432", "inet {v}/24 brd"])
        )  # fmt: skip
        return ctx, kind, v
    if kind == "api_key":
        name, gen = rng.choice(KEYS)
        ctx = rng.choice(KEY_CONTEXT.get(name) or KEY_GENERIC)
        return ctx, kind, gen(rng)
    if kind == "private_key":
        return rng.choice(["key file:\n{v}", "{v}", "id_rsa contents:\n{v}\n"]), kind, pem(rng)
    if kind == "password":
        return rng.choice(PASSWORD_CONTEXT), kind, password(rng)
    if kind == "url_credentials":
        return rng.choice(["DATABASE_URL={v}", "\"dsn\": \"{v}\"", "git clone {v}",
                           "connecting to {v} ...", "uri: {v}"]), kind, url_creds(rng)  # fmt: skip
    return rng.choice(TRAP_CONTEXT), "trap", trap(rng)


# Frames: the kind of document a ticket pastes. {0}, {1}... are slots.
FRAMES = [
    "Hi team,\n\nsince the update I get errors. {0}\n\nThanks,\n«person:Sam Okafor»\n{1}",
    "2024-11-05 14:22:05,123 ERROR [worker-3] {0} ({1})\n2024-11-05 14:22:06,004 WARN retrying {2}",
    '{{\n  "customer": {{ {0} }},\n  "meta": {{ {1} }}\n}}',
    "curl -s https://api.northwind-tools.example/v2/orders -H 'Content-Type: application/json' "
    "-d '{{ {0} }}'  # {1}",
    "-- \nKind regards\n«person:Dr. Ana Souza» | Head of IT\n{0}\n{1}\n"
    "Northwind Tools GmbH · «address:Friedrichstr. 12»",
    '<div class="msg"><p>Hello,</p><p>{0}</p><p>{1}</p></div>',
    "# .env (prod)\nNODE_ENV=production\n{0}\n{1}\n",
    'customer,contact,notes\n{0};{1};"see attached"',
    "Q: why does sync fail? {0} A: {1}",
    "Steps: 1) open settings 2) {0} 3) save. Result: {1}. Expected: no error.",
    "> On Tue, Nov 5, 2024 someone wrote:\n> {0}\n\nI still see this. {1} {2}",
    "config.yaml:\n  server:\n    {0}\n  logging:\n    {1}",
    "{0}. Also {1}.",
    "Sorry to bother you again - {0} and {1} - can you check? {2}",
]
PII_KINDS = ["phone"] * 5 + ["email"] * 3 + ["card"] * 3 + ["iban"] * 3 + ["ip"] * 3 \
    + ["api_key"] * 5 + ["private_key", "password", "password", "url_credentials"] * 1  # fmt: skip


def make_record(i: int, rng: R) -> dict[str, object]:
    frame = rng.choice(FRAMES)
    n = len(set(re.findall(r"(?<!\{)\{(\d)\}", frame)))
    kinds = [rng.choice(PII_KINDS) for _ in range(n)]
    n_traps = rng.randint(1, max(1, n - 1))
    for j in rng.sample(range(n), n_traps):
        kinds[j] = "trap"
    if all(k == "trap" for k in kinds):
        kinds[0] = rng.choice(PII_KINDS)
    slots = [slot(rng, k) for k in kinds]
    # Build the text piece by piece so offsets are exact.
    text = ""
    pii: list[dict[str, object]] = []
    traps: list[dict[str, object]] = []
    pieces = re.split(r"(?<!\{)\{(\d)\}(?!\})", frame)
    for j, piece in enumerate(pieces):
        if j % 2 == 0:
            # «kind:value»: personal data written into the frame itself (a signature's name).
            for k, lit in enumerate(re.split(r"«(\w+:[^»]+)»", piece)):
                if k % 2:
                    kind, value = lit.split(":", 1)
                    pii.append({"kind": kind, "start": len(text), "end": len(text) + len(value),
                                "value": value})  # fmt: skip
                    text += value
                else:
                    text += lit.replace("{{", "{").replace("}}", "}")
            continue
        template, kind, value = slots[int(piece)]
        key = "{t}" if kind == "trap" else "{v}"
        head, tail = template.split(key)
        head, tail = head.replace("{{", "{").replace("}}", "}"), tail.replace("{{", "{")
        start = len(text) + len(head)
        text += head + value + tail.replace("}}", "}")
        entry = {"start": start, "end": start + len(value), "value": value}
        (traps if kind == "trap" else pii).append(
            entry if kind == "trap" else {"kind": kind, **entry}
        )
    for e in pii + traps:
        assert text[e["start"] : e["end"]] == e["value"]
    return {"id": i, "text": text, "pii": pii, "traps": traps}


def main() -> None:
    rng = random.Random(5150)
    rows = [make_record(i, rng) for i in range(400)]
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(json.dumps({"allow": ALLOW}) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    n = sum(len(r["pii"]) for r in rows)  # type: ignore[arg-type]
    t = sum(len(r["traps"]) for r in rows)  # type: ignore[arg-type]
    print(f"{len(rows)} records, {n} planted values, {t} traps -> {OUT}")


if __name__ == "__main__":
    main()
