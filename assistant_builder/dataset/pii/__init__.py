"""Finding personal data and secrets in text: validated patterns, no model.

Every detector is a candidate pattern plus a check that a random string fails: the Luhn sum and
an issuer prefix and its lengths for cards, ISO 13616 mod-97 for IBANs, ``ipaddress`` for IPs,
libphonenumber's length rules (the ``phonenumbers`` package's metadata, kept as a table in
phone_lengths.json) for phone numbers, provider prefixes or Shannon entropy for keys.
The checks are what keep the traps a support text is full of (version numbers, order codes,
dates, prices) out. Why not presidio-analyzer, scrubadub or datafog: see benchmarks/README.md
("PII redaction"): measured on the same labelled set they found fewer phones and keys, and
presidio's default engine needs a spaCy model that would have to be downloaded.

Person names and postal addresses have no checksum, so they are found only in the places a
support text states them ("my name is ...", a signature after "Regards,", a numbered street
with a street type, a German street, a UK postcode); recall for them is lower, and the report
says so rather than guessing at every capitalised word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .common import _DIGIT, DEFAULT_REGIONS, KINDS, Finding
from .context import _addresses, _persons
from .numbers import _cards, _ibans, _ipv4s, _ipv6s, _phones, iban_ok, luhn_ok
from .secrets import _emails, _secrets, shannon_bits

__all__ = ["DEFAULT_REGIONS", "KINDS", "Finding", "detect", "iban_ok", "luhn_ok", "shannon_bits"]

_PRIORITY = {k: i for i, k in enumerate(KINDS)}


# Cheap gates: most support text has no long digit run, no "@", no key-like token; a detector
# whose gate fails is not run at all (this is what keeps redaction a small part of a build).
# Each gate is a necessary condition of what its detectors find, so it changes no finding.
_GATE_DIGITS7 = re.compile(r"\d(?<!\d\d)(?:[\s().-]{0,3}\d){6}")  # opens with a digit: fast
# The words _persons can start from (one alternation run in C, not a str.find per word).
_PERSON_WORDS = re.compile(r"name|dear|this is|it's|its |i am|i'm|signed|cardholder|regards|"
                           r"thank|cheers|best|sincerely")  # fmt: skip
# An ASCII text mapped byte by byte (bytes.translate, in C) to its character classes: digits
# become "0", letters "a", whitespace " " (the ASCII characters \\d, [A-Za-z] and \\s match),
# the rest stays. Substring tests on it are gates that cost next to nothing.
_CLASSES = bytes(
    48 if chr(b).isdigit() else 97 if chr(b).isalpha() else 32 if chr(b).isspace() else b
    for b in range(128)
) + bytes(range(128, 256))
_ALL_KINDS = frozenset(KINDS)


def _gates(text: str) -> tuple[bool, bool, bool, bool, bool]:
    """(cards, phones, IBANs, IPv4, addresses): whether each can find anything in ``text``.
    Cards need 13 digits, phones 7 (_DIGIT_RUN and _PHONE_START look for them in one run),
    an IBAN opens with two letters and two digits, an IPv4 address holds a digit, a dot and a
    digit, an address a digit. Texts that are not ASCII get the regular-expression gates."""
    if text.isascii():
        cls = text.encode().translate(_CLASSES)
        n = cls.count(b"0")
        return n >= 13, n >= 7, b"aa00" in cls, b"0.0" in cls, n > 0
    digits = _GATE_DIGITS7.search(text) is not None
    return digits, digits, True, "." in text, _DIGIT.search(text) is not None


def detect(
    text: str, kinds: Iterable[str] = KINDS, regions: tuple[str, ...] = DEFAULT_REGIONS
) -> list[Finding]:
    """Non-overlapping findings in ``text``, in order. Where two overlap, the kind earlier in
    ``KINDS`` wins (a key inside a URL is a key; a card number is not also a phone)."""
    wanted = _ALL_KINDS if kinds is KINDS else frozenset(kinds)
    cards, phones, ibans, ipv4, addresses = _gates(text)
    found: list[Finding] = list(_secrets(text))  # gated inside
    if "@" in text:
        found += _emails(text)
    if cards:
        found += _cards(text)
    # Not behind the digit gate: an IBAN's letters can break every run of seven digits
    # ("LU28 001C 3B00 ...").
    if ibans:
        found += _ibans(text)
    if ipv4:
        found += _ipv4s(text)
    if ":" in text:
        found += _ipv6s(text)
    if addresses:
        found += _addresses(text)
    if _PERSON_WORDS.search(text.lower()):
        found += _persons(text)
    if wanted is not _ALL_KINDS:
        found = [f for f in found if f.kind in wanted]
    if phones and "phone" in wanted:
        # Phone numbers last, and not inside what is already a card, IBAN, key or address:
        # libphonenumber is the slow part, and a card number is not also a phone.
        taken = [(f.start, f.end) for f in found if _PRIORITY[f.kind] < _PRIORITY["phone"]]
        found.extend(
            f
            for f in _phones(text, regions)
            if not any(f.start < e and s < f.end for s, e in taken)
        )
    return _resolve(text, found) if len(found) > 1 else found


def _resolve(text: str, found: list[Finding]) -> list[Finding]:
    found.sort(key=lambda f: (_PRIORITY[f.kind], -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for f in found:
        clash = [k for k in kept if f.start < k.end and k.start < f.end]
        if clash and f.kind == "address":
            # An address said in an unpunctuated sentence runs on into the next value: keep
            # the part before it.
            cut = min(k.start for k in clash)
            piece = text[f.start : cut].rstrip(" .,:;")
            f = Finding(f.kind, f.start, f.start + len(piece), piece)
            clash = [] if len(piece) >= 4 and _DIGIT.search(piece) else clash
        if not clash:
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)
