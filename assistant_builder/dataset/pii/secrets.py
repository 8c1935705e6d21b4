"""E-mail addresses, URLs with credentials, private keys, API keys and tokens."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

from .common import (
    _A_LOWER,
    _A_UPPER,
    _DIGIT,
    _HEX,
    _HEX_LETTER,
    _JOINED_WORDS,
    _LETTERS,
    Finding,
    near,
)

# Letters and digits of any script ([^\W_]): internationalised addresses (RFC 6531,
# "jürgen@müller-bau.de") are as personal as ASCII ones; punycode domains are plain ASCII.
_EMAIL = re.compile(
    r"(?<![\w.%+-])[^\W_][\w.%+-]*@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])"
)
# scheme://user:password@host...: the whole URL goes (its host and path say where the password
# opens a door).
_URL_CREDS = re.compile(
    r"(?i)\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@<>\"']+:[^\s@/<>\"']+@[^\s<>\"'`)\]]*"
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
)
# Provider formats that are documented and distinctive; no entropy check needed.
_PREFIXED_KEY = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?:proj-|ant-(?:api\d\d-)?|live-)?[A-Za-z0-9_-]{20,}"
    r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|whsec_[A-Za-z0-9]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}"
    r"|AIza[A-Za-z0-9_-]{35}"
    r"|ya29\.[A-Za-z0-9_-]{20,}"
    r"|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|npm_[A-Za-z0-9]{36}"
    r"|pypi-[A-Za-z0-9_-]{50,}"
    r"|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"
    r"|sq0(?:atp|csp)-[A-Za-z0-9_-]{22,}"
    r"|dop_v1_[a-f0-9]{64}"
    r"|(?:AC|SK)[a-f0-9]{32}"
    r"|key-[a-f0-9]{32}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|\d{8,10}:AA[A-Za-z0-9_-]{33}"  # Telegram bot token
    r"|[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}"  # Discord bot token
    r"|https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}"
    r"|https://(?:\w+\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{20,}"
    r"|https://[\w.-]+\.webhook\.office\.com/\S{20,}"
    r")(?![\w-])"
)
# "api_key: abc...", "password=...", "Authorization: Bearer ...": the value is the secret.
_SECRET_NAME = (
    # The name may close an environment variable or a camelCase key: PGPASSWORD, dbPassword.
    r"(?-i:(?<![a-z0-9])|(?<=[a-z])(?=[A-Z]))"
    r"(?:api[_ -]?key|apikey|secret(?:[_ -]?(?:access[_ -]?)?key)?"
    r"|access[_ -]?(?:key|token)|auth[_ -]?token"
    r"|token|passw(?:or)?d|pwd|client[_ -]?secret|private[_ -]?key|bearer)"
)
_ASSIGNED = re.compile(
    rf"(?i){_SECRET_NAME}[\"']?"
    r"(?:\s*(?:[:=]|is|was)\s*|\s+)[\"'`]?([A-Za-z0-9*!@#$%^&~?+/][A-Za-z0-9_\-.+/=~!@#$%^&*?]{7,})"
    r"|\s-p(['\"])([^'\"\s]{6,})\2"  # mysql -p'...'"
    r"|\bkey\s*[:=]\s*[\"'`]?([A-Za-z0-9][A-Za-z0-9_\-.+/=~!@#$%^&*]{7,})"
)
# Where _ASSIGNED can start (its three openings; near() tries it only there).
_ASSIGNED_HEAD = re.compile(rf"(?i)(?={_SECRET_NAME}|\s-p['\"]|\bkey)")
# "=" only as base64 padding: "request_id=SKU-2212-RED-XL" is a name and a value, not a token.
_TOKEN = re.compile(r"(?<![\w/+.-])[A-Za-z0-9][A-Za-z0-9_\-+/]{23,}={0,2}(?![\w/+=-])")


def shannon_bits(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _is_high_entropy(tok: str) -> bool:
    """A random-looking token: letters and digits mixed, high entropy per character. Words
    joined by dashes or underscores ("getting-started-with-the-api") fail the class mix;
    a hex checksum or commit id fails the upper-case requirement (hex needs context)."""
    core = tok.rstrip("=")
    if len(core) < 24 or not _DIGIT.search(core):
        return False
    if not (_A_LOWER.search(core) and _A_UPPER.search(core)):
        return False
    bits = shannon_bits(core)
    if _JOINED_WORDS.fullmatch(core) and bits < 4.2:
        return False
    return bits >= 3.8


# Gates start only where a token starts, so they scan a long text once instead of retrying at
# every character.
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-+/=])[A-Za-z0-9_\-+/=]{16}")
_SECRET_WORDS = ("key", "token", "secret", "passw", "pwd", "bearer", " -p'", ' -p"')
# A whole word of 15 characters or more (the shortest key _PREFIXED_KEY takes has 15).
_LONG_WORD = re.compile(r"\S{15,}")


def _secrets(text: str) -> Iterator[Finding]:
    if "://" in text and "@" in text:
        for m in _URL_CREDS.finditer(text):
            url = m.group().rstrip(".,;:!?")
            yield Finding("url_credentials", m.start(), m.start() + len(url), url)
    if "-----BEGIN" in text:
        for m in _PRIVATE_KEY.finditer(text):
            yield Finding("private_key", m.start(), m.end(), m.group())
    # Keys and tokens hold no space: only the words long enough to hold one are searched (each
    # alone gives the same matches as the whole text, the space after it ending them as well).
    words = [m.span() for m in _LONG_WORD.finditer(text)]
    long_token = any(_LONG_TOKEN.search(text, a, b) for a, b in words)
    if long_token:
        for a, b in words:
            for m in _PREFIXED_KEY.finditer(text, a, b):
                yield Finding("api_key", m.start(), m.end(), m.group())
    yield from _assigned(text)
    for a, b in words if long_token else ():
        for m in _TOKEN.finditer(text, a, b):
            tok = m.group()
            before = text[max(0, m.start() - 30) : m.start()]
            if _is_high_entropy(tok) or _is_hex_secret(tok, before):
                yield Finding("api_key", m.start(), m.end(), tok)


def _assigned(text: str) -> Iterator[Finding]:
    """The values after a secret's name ("password: ...", "Bearer ...")."""
    for m in near(text, text.lower(), _SECRET_WORDS, _ASSIGNED, head=_ASSIGNED_HEAD):
        g = next(i for i in (1, 3, 4) if m.group(i))
        val = m.group(g).rstrip(".,;:!?)\"'`")
        # "the token is expired", "password reset", "password: ********": not a secret. Words
        # joined by dashes are one unless a digit is in them ("battery-staple-orbit43").
        if _LETTERS.fullmatch(val) or sum(c.isalnum() for c in val) < 4:
            continue
        if val.islower() and "-" in val and val.isascii() and not _DIGIT.search(val):
            continue
        if val[0] == "/" and not _is_high_entropy(val):
            continue  # "private key /etc/ssl/server.key": a path (base64 can open with "/")
        if _DIGIT.search(val) or len(val) >= 12:
            yield Finding("api_key", m.start(g), m.start(g) + len(val), val)


# Hex that names something public: a checksum, a commit, or an OpenPGP key's fingerprint (FAQs
# print their signing key's so users can verify downloads).
_HASH_WORDS = re.compile(
    r"(?i)\b(?:sha\d*|md5|checksum|hash|commit|digest|sum|etag|rev|fingerprint|gpg|pgp|signing)\b"
)


def _is_hex_secret(tok: str, before: str) -> bool:
    """32+ hex digits are a token unless the text says it is a checksum or commit id. Exactly
    40 is a SHA-1: the length of every git commit id pasted from a log ("HEAD is now at ..."),
    a secret only where a word says so ("token: ...", found by _ASSIGNED)."""
    return (
        len(tok) >= 32
        and len(tok) != 40
        and _HEX.fullmatch(tok) is not None
        and _HEX_LETTER.search(tok) is not None
        and _DIGIT.search(tok) is not None
        and not _HASH_WORDS.search(before)
    )


_LOCAL_PUNCT = frozenset("._%+-")


def _emails(text: str) -> Iterator[Finding]:
    """_EMAIL's matches, tried only at the start of the run of local-part characters before
    each "@" (its look-behind allows no other start; scanning all the text is slower)."""
    end = 0
    at = text.find("@")
    while at >= 0:
        i = at
        while i > end and (text[i - 1].isalnum() or text[i - 1] in _LOCAL_PUNCT):
            i -= 1
        m = _EMAIL.match(text, i) if i > end or end == 0 else None
        if m:
            end = m.end()
            yield Finding("email", m.start(), m.end(), m.group())
        at = text.find("@", max(at + 1, end))
