"""Numbers with a check: cards (Luhn, issuer prefix), IBANs (mod-97), IPs, phones."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterator

from .common import (
    _DIGITS,
    _EXTENSION,
    _HEX_CHAR,
    _NON_DIGIT,
    Finding,
    starts,
)
from .phone_table import possible_international, possible_national

# A run of digit groups; the card is the longest window of whole groups that passes the checks
# ("order #67763483 3707 240862 41020" holds an Amex after an order number).
# It opens with the digit and looks behind it (as the patterns below): re skips to digits in C.
# Only runs with 13 digits or more (the shortest card) are matched: the look-ahead fails in C on
# every shorter number, and a run so skipped holds no later start of a longer one.
_DIGIT_RUN = re.compile(r"\d(?<![\w.,/-]\d)(?=(?:[ -]?\d){12})\d*(?:[ -]\d+)*(?![\w/-]|[.,]\d)")
# Issuer prefixes (ISO/IEC 7812 ranges the brands publish) and the lengths each brand issues:
# a number of the wrong length for its prefix is an order or tracking number that happens to
# pass Luhn (one in ten does). Tried in order; the first prefix that matches decides.
_CARD_BRANDS: tuple[tuple[re.Pattern[str], frozenset[int]], ...] = tuple(
    (re.compile(prefix), frozenset(lengths))
    for prefix, lengths in (
        (r"4", (13, 16, 19)),  # Visa
        (r"5[1-5]|2(?:2[2-9]|[3-6]|7[01]|720)", (16,)),  # Mastercard
        (r"3[47]", (15,)),  # American Express
        (r"220[0-4]", (16, 17, 18, 19)),  # Mir
        (r"3(?:0[0-5]|09|[689])", (14, 15, 16, 17, 18, 19)),  # Diners Club
        (r"35", (16, 17, 18, 19)),  # JCB
        (r"6(?:011|5|4[4-9])", (16, 17, 18, 19)),  # Discover
        (r"62", (16, 17, 18, 19)),  # UnionPay
        (r"5[06-9]|6", tuple(range(13, 20))),  # Maestro and other 6-series issuers
    )
)


def card_brand_ok(digits: str) -> bool:
    """An issuer prefix and a length that issuer uses."""
    for prefix, lengths in _CARD_BRANDS:
        if prefix.match(digits):
            return len(digits) in lengths
    return False


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _cards(text: str) -> Iterator[Finding]:
    for m in _DIGIT_RUN.finditer(text):
        groups = list(_DIGITS.finditer(m.group()))
        if sum(len(g.group()) for g in groups) < 13:
            continue
        windows = sorted(
            ((i, j) for i in range(len(groups)) for j in range(i, len(groups))),
            key=lambda w: w[0] - w[1],
        )
        for i, j in windows:
            start, end = m.start() + groups[i].start(), m.start() + groups[j].end()
            digits = _NON_DIGIT.sub("", text[start:end])
            if 13 <= len(digits) <= 19 and card_brand_ok(digits) and luhn_ok(digits):
                yield Finding("card", start, end, text[start:end])
                break


_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,31})", re.IGNORECASE)
# Where an IBAN can start: two digits after two letters (the IBAN starts two characters before).
_IBAN_START = re.compile(r"\d(?<=[A-Z]{2}\d)\d", re.IGNORECASE)


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "").upper()
    if not (15 <= len(s) <= 34 and s[:2].isalpha() and s[2:4].isdigit()):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban_ends(cand: str) -> list[int]:
    """Offsets in ``cand`` (spaces included) where an IBAN that starts at its beginning could
    end with a valid mod-97 check, longest last; one pass, the remainder carried along."""
    head = int("".join(str(int(c, 36)) for c in cand[:4].upper()))
    ends: list[int] = []
    mod, n = 0, 4
    for i in range(4, len(cand)):
        c = cand[i]
        if c == " ":
            continue
        v = int(c, 36)
        mod = (mod * (100 if v > 9 else 10) + v) % 97
        n += 1
        if 15 <= n <= 34 and (mod * 1_000_000 + head) % 97 == 1:
            ends.append(i + 1)
    return ends


def _ibans(text: str) -> Iterator[Finding]:
    for m in starts(_IBAN_START, _IBAN, text, back=2):
        cand = m.group(1)
        if not (cand[:2].isupper() or cand.isupper()):
            continue
        # The pattern may run on into following words ("DE89 ... 00 ON FILE"): the longest
        # prefix that passes mod-97 is the IBAN.
        ends = _iban_ends(cand)
        if ends:
            yield Finding("iban", m.start(1), m.start(1) + ends[-1], cand[: ends[-1]])


# Patterns that start with a digit (not a look-behind) let re skip to the digits in C.
_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![\w]|\.\d)")
_IPV6_GATE = re.compile(r"::|:[0-9A-Fa-f]{1,4}:")
# An IPv4-mapped tail (::ffff:192.0.2.1) is part of the IPv6 address.
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4}|:)?"
    r"(?![\w:]|\.\d)"
)
# Four small numbers after these words are a version, not an address ("driver 3.19.4.75").
_VERSION_BEFORE = re.compile(
    r"(?i)\b(?:v|version|ver\.?|release|build|firmware|driver|kernel|bios|patch|update|"
    r"(?:up|down)grade|(?:up|down)graded to|updated? to|rolled back to)\s*$"
)


def _ipv4s(text: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text[max(0, m.start() - 20) : m.start()]):
            continue
        try:
            ip = ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        # 127.0.0.1 and 0.0.0.0 are every machine's: documentation, not anyone's address.
        # (Private ranges stay redacted: a ticket's "our server is 10.1.2.3" is internal.)
        if ip.is_loopback or ip.is_unspecified:
            continue
        yield Finding("ip", m.start(), m.end(), m.group())


def _ipv6s(text: str) -> Iterator[Finding]:
    if _IPV6_GATE.search(text):
        for m in _IPV6.finditer(text):
            cand = m.group()
            if cand.count(":") < 2 or not _HEX_CHAR.search(cand):
                continue
            try:
                ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            yield Finding("ip", m.start(), m.end(), cand)


# --- phone numbers ------------------------------------------------------------------------------

_PHONE = re.compile(
    r"(?<![\w+/#$€£.,-])(?:(?:\+|00)\s?\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{1,12}"
    r"(?:(?:\s|[.-]|\s?-\s?)\d{1,10}){0,5}(?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?"
    r"(?![\w%$€£]|[.,]\d|-\w)"
)
# Where _PHONE can start, and only where seven digits follow, each within three separators of
# the last (a phone has seven or more: _phone_shape): most numbers in a text (dates, prices,
# versions) fail that look-ahead in C. A start so skipped is followed in its own run by starts
# with fewer digits still, so the scan keeps every match of seven digits a full scan finds.
_PHONE_START = re.compile(
    r"[+(\d](?<![\w+/#$€£.,-][+(\d])"
    r"(?=(?<=\d)(?:[\s.()-]{0,3}\d){6}|(?<=[+(])\s?\d(?:[\s.()-]{0,3}\d){6})"
)
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone[ds]?|phoning|tel|telephone|mobile|cell|fax|call(?:ed|ing|s)?|ring(?:ing)?|"
    r"rang|text(?:ing)?|sms|whatsapp|signal|number|"
    r"reach|contact|dial|hotline|landline|tel\.|ph|mob|m|t)\b[^\n]{0,30}$"
)
# "order number 48291734", "SKU 12345-678", "ticket #...": an identifier, not a phone.
_ID_BEFORE = re.compile(
    r"(?i)\b(?:order|invoice|ticket|case|ref(?:erence)?|sku|account|acct|tracking|serial|model|"
    r"part|item|po|rma|confirmation|booking|reservation|customer|member|policy|id|zip|postcode|"
    r"version|build|ver)\b\W{0,3}(?:number|no\.?|num|id|code)?\W{0,3}$"
)
_PHONE_AFTER = re.compile(
    r"(?i)^\W{0,3}(?:is|was|as)?\s*(?:my|our|the|his|her)?\s*(?:mobile|cell|phone|landline|"
    r"number|tel|direct line|hotline|whatsapp)\b"
)
_DATE = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{4}\s*[-–]\s*\d{4}"
)


_LOG_DATE = re.compile(r"(?:19|20)\d\d-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])(?!\d)")


def _phone_shape(cand: str) -> str:
    """'strong' (international or shaped like a phone), 'weak' (needs a word like "call"
    before it) or '' (not a phone: too few or many digits, a date, a version)."""
    # An extension ("x", "ext", "extension") holds an x: without one there is none to cut.
    digits = _NON_DIGIT.sub("", _EXTENSION.sub("", cand) if "x" in cand or "X" in cand else cand)
    if not 7 <= len(digits) <= 15 or _DATE.fullmatch(cand.strip()):
        return ""
    if _LOG_DATE.match(cand):
        return ""  # "2017-10-29 09:23": a log line's timestamp
    if cand.startswith(("+", "00")):
        return "strong"
    groups = _DIGITS.findall(cand)
    if "." in cand and min(len(g) for g in groups) == 1:
        return ""  # 3.9.41.9038 is a version
    if "." in cand and (len(groups) < 3 or sum(len(g) >= 3 for g in groups) < 2):
        return "weak"  # 7592.5616 may be a phone; 10.0.19041.1 is a version
    if len(digits) >= 9 and (len(groups) >= 3 or "(" in cand):
        return "strong"
    return "weak"


def _phones(text: str, regions: tuple[str, ...]) -> Iterator[Finding]:
    for m in starts(_PHONE_START, _PHONE, text):
        cand = m.group().strip()
        shape = _phone_shape(cand)
        if not shape:
            continue
        start = m.start() + (len(m.group()) - len(m.group().lstrip()))
        before = text[max(0, start - 40) : start]
        intl = cand.startswith(("+", "00"))
        if not intl and _ID_BEFORE.search(before):
            continue
        if shape == "weak":
            # A bare run of digits is an order or account number unless said.
            after = text[start + len(cand) : start + len(cand) + 30]
            if not (_PHONE_CONTEXT.search(before) or _PHONE_AFTER.search(after)):
                continue
        # A number followed by another one ("+65 9722 1724 3) save", "... 24/7") is one
        # run of groups: the longest run of whole groups that is a phone number is the number.
        for part in _group_prefixes(cand):
            if _phone_ok(part, shape, intl, regions):
                yield Finding("phone", start, start + len(part), part)
                break


_LAST_GROUP = re.compile(r"\s+\d+$")


def _group_prefixes(cand: str) -> Iterator[str]:
    """``cand``, then ``cand`` less its last one or two space-separated groups."""
    yield cand
    for _ in range(2):
        cut = _LAST_GROUP.search(cand)
        if cut is None or _EXTENSION.search(cand):
            return
        cand = cand[: cut.start()]
        if len(_NON_DIGIT.sub("", cand)) < 7:
            return
        yield cand


def _phone_ok(cand: str, shape: str, intl: bool, regions: tuple[str, ...]) -> bool:
    national = len(_NON_DIGIT.sub("", cand))
    # Shaped like a phone with a national length: the shape is the evidence (and asking
    # libphonenumber region by region is most of the cost of redaction).
    if shape == "strong" and not intl and 9 <= national <= 12:
        return True
    return _is_phone(cand, intl, regions)


@functools.lru_cache(maxsize=4096)
def _is_phone(cand: str, intl: bool, regions: tuple[str, ...]) -> bool:
    """libphonenumber's length rules (phone_table.py): for the country a +/00 number names,
    else for any of the workspace's regions (the caller has found a word like "call" or a
    phone's shape)."""
    digits = _NON_DIGIT.sub("", _EXTENSION.sub("", cand))
    if intl:
        return possible_international(digits[2:] if cand.startswith("00") else digits)
    unknown = []
    for region in regions:
        ok = possible_national(digits, region)
        if ok:
            return True
        if ok is None:
            unknown.append(region)
    return bool(unknown) and _parsed_possible(cand, tuple(unknown))


def _parsed_possible(cand: str, regions: tuple[str, ...]) -> bool:
    """phonenumbers itself, for a region code its metadata does not know (a typo in the
    workspace settings parses as no region: not a phone)."""
    import phonenumbers

    try:
        return any(
            phonenumbers.is_possible_number(phonenumbers.parse(cand, region)) for region in regions
        )
    except phonenumbers.NumberParseException:
        return False
