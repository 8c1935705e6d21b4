"""What every detector shares: the kinds, the finding, small compiled patterns."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

# Patterns used inside the detectors, compiled once: libphonenumber compiles many patterns of
# its own, which would push these out of re's small cache on every text.
_DIGIT = re.compile(r"\d")
_A_LOWER = re.compile(r"[a-z]")
_A_UPPER = re.compile(r"[A-Z]")
_JOINED_WORDS = re.compile(r"[A-Za-z]+(?:[-_][A-Za-z0-9]+)+")
_LETTERS = re.compile(r"[A-Za-z]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_HEX_LETTER = re.compile(r"[a-fA-F]")
_DIGITS = re.compile(r"\d+")
_NON_DIGIT = re.compile(r"\D")
_HEX_CHAR = re.compile(r"[0-9A-Fa-f]")
_EXTENSION = re.compile(r"(?i)(?:x|ext\.?|extension)\s?\d+$")
_NON_SPACE = re.compile(r"\S+")
_NUMERIC_ONLY = re.compile(r"[\d\s.,:/-]+")

KINDS = (
    "url_credentials",
    "private_key",
    "api_key",
    "email",
    "iban",
    "card",
    "ip",
    "phone",
    "address",
    "person",
)
DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "IN", "AU", "CA", "ES", "IT", "NL")


class Finding(NamedTuple):
    """One value found (a named tuple: a build makes thousands, a frozen dataclass is slower
    to create)."""

    kind: str
    start: int
    end: int
    text: str


HEAD_NEED = 24  # characters a head pattern of near() may look at


def near(
    text: str,
    low: str,
    words: tuple[str, ...],
    rx: re.Pattern[str],
    reach: int = 30,
    head: re.Pattern[str] | None = None,
) -> list[re.Match[str]]:
    """Matches of ``rx`` that start within ``reach`` characters before a trigger word, found
    with str.find: a case-insensitive alternation run over a whole long text is slow in re.

    ``head`` (optional) is a zero-width pattern that matches wherever a match of ``rx`` can
    start, looking at most HEAD_NEED characters ahead: ``rx`` is then tried only at those places
    before each trigger (skipping any inside the last match, as ``finditer`` does), instead of
    being searched through the 200 characters after it, where no kept match can start."""
    seen: dict[int, re.Match[str]] = {}
    for w in words:
        i = low.find(w)
        while i >= 0:
            start = max(0, i - reach)
            stop = min(len(text), i + len(w) + 200)
            if head is None:
                for m in rx.finditer(text, start, stop):
                    if m.start() <= i:
                        seen.setdefault(m.start(), m)
            else:
                end = start
                for h in head.finditer(text, start, min(stop, i + HEAD_NEED)):
                    at = h.start()
                    if at > i:
                        break
                    hit = rx.match(text, at, stop) if at >= end else None
                    if hit:
                        end = hit.end()
                        seen.setdefault(at, hit)
            i = low.find(w, i + 1)
    return [seen[k] for k in sorted(seen)]


def starts(
    start: re.Pattern[str], rx: re.Pattern[str], text: str, back: int = 0
) -> Iterator[re.Match[str]]:
    """The matches of ``rx.finditer(text)``, with ``rx`` tried only where ``start`` matches
    (``back`` characters before that match). ``re`` tries a pattern that opens with a
    look-behind or an optional group at every character in Python-level steps; ``start``
    opens with a character class, which ``re`` skips to in C. It must match (consuming at
    most the characters it needs) wherever a match of ``rx`` can begin."""
    end = 0
    for s in start.finditer(text):
        i = s.start() - back
        if i >= end:
            m = rx.match(text, i)
            if m:
                end = m.end()
                yield m
