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
from collections.abc import Callable, Iterable, Iterator

from .common import _DIGIT, DEFAULT_REGIONS, KINDS, Finding
from .context import _addresses, _persons
from .numbers import _IBAN_START, _cards, _ibans, _ips, _phones, iban_ok, luhn_ok
from .secrets import _emails, _secrets, shannon_bits

__all__ = ["DEFAULT_REGIONS", "KINDS", "Finding", "detect", "iban_ok", "luhn_ok", "shannon_bits"]

_PRIORITY = {k: i for i, k in enumerate(KINDS)}


# Cheap gates: most support text has no long digit run, no "@", no key-like token; a detector
# whose gate fails is not run at all (this is what keeps redaction a small part of a build).
_GATE_DIGITS7 = re.compile(r"\d(?<!\d\d)(?:[\s().-]{0,3}\d){6}")  # opens with a digit: fast
_PERSON_WORDS = ("name", "dear", "this is", "it's", "its ", "i am", "i'm", "signed", "cardholder",
                 "regards", "thank", "cheers", "best", "sincerely")  # fmt: skip


def detect(
    text: str, kinds: Iterable[str] = KINDS, regions: tuple[str, ...] = DEFAULT_REGIONS
) -> list[Finding]:
    """Non-overlapping findings in ``text``, in order. Where two overlap, the kind earlier in
    ``KINDS`` wins (a key inside a URL is a key; a card number is not also a phone)."""
    wanted = set(kinds)
    digits = _GATE_DIGITS7.search(text) is not None
    detectors: list[Callable[[str], Iterator[Finding]]] = [_secrets]  # gated inside
    if "@" in text:
        detectors.append(_emails)
    if digits:
        detectors.append(_cards)
    # Not behind the digit gate: an IBAN's letters can break every run of seven digits
    # ("LU28 001C 3B00 ..."); two digits after two letters is where one can start.
    if _IBAN_START.search(text):
        detectors.append(_ibans)
    if "." in text or ":" in text:
        detectors.append(_ips)
    if _DIGIT.search(text):
        detectors.append(_addresses)
    low = text.lower()
    if any(w in low for w in _PERSON_WORDS):
        detectors.append(_persons)
    found: list[Finding] = []
    for fn in detectors:
        found.extend(f for f in fn(text) if f.kind in wanted)
    if digits and "phone" in wanted:
        # Phone numbers last, and not inside what is already a card, IBAN, key or address:
        # libphonenumber is the slow part, and a card number is not also a phone.
        taken = [(f.start, f.end) for f in found if _PRIORITY[f.kind] < _PRIORITY["phone"]]
        found.extend(
            f
            for f in _phones(text, regions)
            if not any(f.start < e and s < f.end for s, e in taken)
        )
    return _resolve(text, found)


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
