"""Postal addresses and person names: no checksum, so only where the text states them."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .common import (
    _DIGIT,
    _NON_SPACE,
    _NUMERIC_ONLY,
    Finding,
    near,
    starts,
)

_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|"
    r"Terrace|Parkway|Pkwy|Circle|Cir|Square|Sq|Highway|Hwy|Close|Crescent|Row|Trail"
)
_ADDRESS = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][a-zA-Z'-]+\.?\s+){{1,4}}(?:{_STREET_TYPES})\b\.?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|#)\.?\s*[\w-]+)?"
    r"(?:,\s*[A-Z][a-zA-Z]+(?:\s[A-Z][a-zA-Z]+){0,2})?"
    r"(?:,?\s+[A-Z]{2})?(?:,?\s+\d{5}(?:-\d{4})?)?"
    r"|\b[A-ZÄÖÜ][a-zäöüß]++(?:(?<=straße)|(?<=strasse)|(?<=str)\.|(?<=weg)|(?<=platz)|"
    r"(?<=allee)|(?<=gasse)|(?<=ring)|(?<=damm))\s+\d{1,4}[a-z]?"
    r"(?:,\s*\d{5}\s+[A-ZÄÖÜ][a-zäöüß]+)?"
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b"
)
# Where _ADDRESS can start: a word opening with a digit or a capital, and (looked ahead, in
# C) followed by what the branch opening that way needs: a capitalised word then a street
# type, a UK postcode's shape, a German street suffix then a number. The start consumes one
# character, so no later start is skipped; most words fail the look-ahead without a Python step.
_ADDRESS_START = re.compile(
    r"[\dA-ZÄÖÜ](?<!\w[\dA-ZÄÖÜ])(?="
    rf"(?<=\d)\d{{0,4}}[A-Za-z]?\s+(?:[A-Z][a-zA-Z'-]+\.?\s+){{1,4}}(?:{_STREET_TYPES})\b"
    r"|(?<=[A-Z])[A-Z]?\d[A-Z\d]?\s\d[A-Z]{2}\b"
    r"|(?<=[A-ZÄÖÜ])[a-zäöüß]++(?:(?<=straße)|(?<=strasse)|(?<=str)\.|(?<=weg)|(?<=platz)|"
    r"(?<=allee)|(?<=gasse)|(?<=ring)|(?<=damm))\s+\d)"
)
# An address stated as one ("my address is ...", "ship it to ...") runs to the end of its
# sentence; it must hold a number (house, postcode) to count.
_ADDRESS_SAID = re.compile(
    r"(?i)\b(?:my (?:home |postal |shipping |billing |delivery )?address is|address:|"
    r"ship(?:ped)?(?: it| them| this)? to|deliver(?:ed|y)?(?: it)? to|delivery address(?: is)?:?|"
    r"(?:i |we )(?:live|moved|relocated) to|(?:i |we )live at|send (?:it|them) to|located at)"
    r"\s+(?-i:(?=[A-Z\d]))"
)
# Where _ADDRESS_SAID can start (near() tries it only there).
_ADDRESS_SAID_HEAD = re.compile(r"(?i)(?=\b(?:my |address:|ship|deliver|i |we |send |located at))")
_ADDRESS_WORDS = ("address", "ship", "deliver", "live", "moved", "relocated", "send", "located")
_ADDRESS_END = re.compile(r"[.!?;](?=\s+[A-Z]|\s*$)|\s(?:and|but|since|please|thanks)\s", re.I)
_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_NAME = rf"[{_UPPER}][{_LOWER}]+(?:[-'][{_UPPER}][{_LOWER}]+)?"
_PARTICLE = r"(?:de|du|da|di|del|della|van|von|der|den|la|le|y|bin|al)"
_TITLE = r"(?:(?:Mr|Mrs|Ms|Mx|Dr|Prof|Sig|Sra|Sr|Mme|M|Herr|Frau|Dott)\.?\s+)?"
_PERSON_NAME = rf"({_TITLE}{_NAME}(?:\s+(?:{_PARTICLE}\s+)?{_NAME}){{0,3}})"
_PERSON_SAID = re.compile(
    r"\b(?:[Mm]y name is|[Nn]ame:|[Dd]ear|[Ff]ull name:|[Cc]ardholder:|[Ss]igned,?|"
    r"[Tt]his is|[Ii]t'?s|[Ii] am|I'm)\s+" + _PERSON_NAME
)
# Where _PERSON_SAID can start (its openings, lower-cased).
_SAID_OPENINGS = ("my name is", "name:", "dear", "full name:", "cardholder:", "signed", "this is",
                  "it's", "its", "i am", "i'm")  # fmt: skip
_PERSON_SIGNED = re.compile(
    r"(?:^|\n|[.!?]\s)\s*"
    r"(?:Regards|Best regards|Kind regards|Thanks|Thank you|Cheers|Best|Sincerely),?"
    r"\s*\n\s*(?:--\s*)?" + _PERSON_NAME
)
_NOT_NAMES = frozenset(
    [
        "Team",
        "Support",
        "Customer",
        "Sir",
        "Madam",
        "All",
        "Everyone",
        "There",
        "Admin",
        "Help",
        "Service",
        "Sales",
        "The",
        "Our",
        "Not",
        "Unable",
        "Still",
        "Just",
        "Having",
        "Trying",
        "Using",
        "Getting",
        "Back",
        "Here",
        "Sorry",
        "Happy",
        "Glad",
        "New",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "My",
        "I",
        "We",
        "Is",
        "Please",
        "Hi",
        "Hello",
        "Thanks",
        "Regards",
        "Your",
        "This",
        "That",
        "It",
    ]
)
_SAID_ONLY = ("this is", "it's", "its", "i am", "i'm")  # need a full name: "I am Unable" is not one


_ADDRESS_LOWER = frozenset(
    [
        "de",
        "del",
        "della",
        "la",
        "le",
        "les",
        "du",
        "des",
        "di",
        "da",
        "van",
        "von",
        "der",
        "den",
        "rue",
        "avenue",
        "chemin",
        "boulevard",
        "allée",
        "impasse",
        "place",
        "quai",
        "route",
        "y",
        "e",
        "am",
        "an",
        "im",
        "bis",
        "ter",
        "apt",
        "apt.",
        "suite",
    ]
)
_SENTENCE_START = frozenset(
    [
        "I",
        "I'm",
        "It",
        "It's",
        "My",
        "We",
        "Our",
        "Is",
        "Please",
        "Thanks",
        "Thank",
        "Hello",
        "Hi",
        "Sorry",
        "Let",
        "The",
        "This",
        "That",
        "Card",
        "Order",
        "Here",
        "How",
        "Can",
        "Could",
        "Also",
        "Any",
        "When",
        "Why",
        "What",
    ]
)


def _address_words(chunk: str) -> str:
    """The address at the start of ``chunk``: it stops at a lower-case word that is not part
    of a street name ("... 24, Alicante since ...") or at a word that starts a sentence."""
    out = []
    for m in _NON_SPACE.finditer(chunk):
        w = m.group()
        bare = w.strip(",.;:()")
        if w.startswith("("):
            break
        if bare and bare[0].islower() and bare.lower() not in _ADDRESS_LOWER:
            break
        if bare in _SENTENCE_START:
            break
        out.append(m)
    return chunk[: out[-1].end()] if out else ""


def _addresses(text: str) -> Iterator[Finding]:
    for m in starts(_ADDRESS_START, _ADDRESS, text):
        yield Finding("address", m.start(), m.end(), m.group().rstrip(".,"))
    for m in near(text, text.lower(), _ADDRESS_WORDS, _ADDRESS_SAID, head=_ADDRESS_SAID_HEAD):
        start = m.end()
        lines = text[start : start + 120].split("\n")
        # A short first line ("17/920") continues on the next one.
        chunk = lines[0] + ("\n" + lines[1] if len(lines) > 1 and len(lines[0]) < 12 else "")
        end = _ADDRESS_END.search(chunk)
        addr = _address_words(chunk[: end.start() if end else 90]).rstrip(" .,")
        if _DIGIT.search(addr) and not _NUMERIC_ONLY.fullmatch(addr):
            yield Finding("address", start, start + len(addr), addr)


def _said(text: str) -> Iterator[re.Match[str]]:
    """_PERSON_SAID's matches, tried only where one of its openings is (found with str.find:
    the pattern opens with a word boundary, which re tries at every character)."""
    low = text.lower()
    if len(low) != len(text):  # a letter whose lower case is longer: offsets would differ
        yield from _PERSON_SAID.finditer(text)
        return
    at = set()
    for w in _SAID_OPENINGS:
        i = low.find(w)
        while i >= 0:
            at.add(i)
            i = low.find(w, i + 1)
    end = 0
    for i in sorted(at):
        m = _PERSON_SAID.match(text, i) if i >= end else None
        if m:
            end = m.end()
            yield m


def _persons(text: str) -> Iterator[Finding]:
    # A signature needs a line break after "Regards,".
    signed = _PERSON_SIGNED.finditer(text) if "\n" in text else ()
    for matches in (_said(text), signed):
        for m in matches:
            words = m.group(1).split()
            # A signature runs on into the next sentence when a line break is missing.
            while words and words[-1] in _NOT_NAMES:
                words.pop()
            if not words or words[0] in _NOT_NAMES:
                continue
            said = m.group(0)[: m.start(1) - m.start(0)].strip().lower()
            if said in _SAID_ONLY and len(words) < 2:
                continue
            name = m.group(1)[: m.group(1).index(words[-1]) + len(words[-1])]
            yield Finding("person", m.start(1), m.start(1) + len(name), name)
