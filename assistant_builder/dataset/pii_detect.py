"""Finding personal data and secrets in text: validated patterns, no model.

Every detector is a candidate pattern plus a check that a random string fails: the Luhn sum and
an issuer prefix for cards, ISO 13616 mod-97 for IBANs, ``ipaddress`` for IPs, libphonenumber
(the ``phonenumbers`` package) for phone numbers, provider prefixes or Shannon entropy for keys.
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

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str


# --- e-mail, URLs with credentials, secrets ---------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-])"
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
    r")(?![\w-])"
)
# "api_key: abc...", "password=...", "Authorization: Bearer ...": the value is the secret.
_ASSIGNED = re.compile(
    r"(?i)\b(?:api[_ -]?key|apikey|secret(?:[_ -]?key)?|access[_ -]?(?:key|token)|auth[_ -]?token"
    r"|token|passw(?:or)?d|pwd|client[_ -]?secret|private[_ -]?key|bearer)"
    r"(?:\s*(?:[:=]|is|was)\s*|\s+)[\"'`]?([A-Za-z0-9][A-Za-z0-9_\-.+/=~!@#$%^&*]{7,})"
    r"|\bkey\s*[:=]\s*[\"'`]?([A-Za-z0-9][A-Za-z0-9_\-.+/=~!@#$%^&*]{7,})"
)
_TOKEN = re.compile(r"(?<![\w/+=.-])[A-Za-z0-9][A-Za-z0-9_\-+/=]{23,}(?![\w/+=-])")


def shannon_bits(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _is_high_entropy(tok: str) -> bool:
    """A random-looking token: letters and digits mixed, high entropy per character. Words
    joined by dashes or underscores ("getting-started-with-the-api") fail the class mix;
    a hex checksum or commit id fails the upper-case requirement (hex needs context)."""
    core = tok.rstrip("=")
    if len(core) < 24 or not re.search(r"\d", core):
        return False
    if not (re.search(r"[a-z]", core) and re.search(r"[A-Z]", core)):
        return False
    if re.fullmatch(r"[A-Za-z]+(?:[-_][A-Za-z0-9]+)+", core) and shannon_bits(core) < 4.2:
        return False
    return shannon_bits(core) >= 3.8


def _secrets(text: str) -> Iterator[Finding]:
    for m in _URL_CREDS.finditer(text):
        url = m.group().rstrip(".,;:!?")
        yield Finding("url_credentials", m.start(), m.start() + len(url), url)
    for m in _PRIVATE_KEY.finditer(text):
        yield Finding("private_key", m.start(), m.end(), m.group())
    for m in _PREFIXED_KEY.finditer(text):
        yield Finding("api_key", m.start(), m.end(), m.group())
    for m in _ASSIGNED.finditer(text):
        g = 1 if m.group(1) else 2
        val = m.group(g).rstrip(".,;:!?)\"'`")
        # "the token is expired", "password reset": a word is not a secret.
        if re.fullmatch(r"[A-Za-z]+", val) or (val.islower() and "-" in val and val.isascii()):
            continue
        if re.search(r"\d", val) or len(val) >= 12:
            yield Finding("api_key", m.start(g), m.start(g) + len(val), val)
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if _is_high_entropy(tok):
            yield Finding("api_key", m.start(), m.end(), tok)


def _emails(text: str) -> Iterator[Finding]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        yield Finding("email", m.start(), m.end(), m.group())


# --- numbers with a checksum -------------------------------------------------------------------

_CARD = re.compile(r"(?<![\w.,/-])\d(?:[ -]?\d){12,18}(?![\w/-]|[.,]\d)")
_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2(?:2[2-9]|[3-6]|7[01]|720)|3[47]|3(?:0[0-5]|[689])|6(?:011|5|4[4-9]|2)|35|5[06-9]|6"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _cards(text: str) -> Iterator[Finding]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_ok(digits):
            yield Finding("card", m.start(), m.end(), m.group())


_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,31})", re.IGNORECASE)


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "").upper()
    if not (15 <= len(s) <= 34 and s[:2].isalpha() and s[2:4].isdigit()):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ibans(text: str) -> Iterator[Finding]:
    for m in _IBAN.finditer(text):
        cand = m.group(1)
        # The pattern may run on into following words ("DE89 ... 00 ON FILE"): the longest
        # prefix that passes mod-97 is the IBAN.
        end = len(cand)
        while end >= 15:
            piece = cand[:end].rstrip()
            if iban_ok(piece) and (piece[:2].isupper() or piece.isupper()):
                yield Finding("iban", m.start(1), m.start(1) + len(piece), piece)
                break
            end -= 1


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)?(?![\w:])")
_VERSION_BEFORE = re.compile(r"(?i)\b(?:v|version|ver\.?|release|build|firmware)\s*$")


def _ips(text: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
            continue
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        yield Finding("ip", m.start(), m.end(), m.group())
    if text.count(":") >= 2:
        for m in _IPV6.finditer(text):
            cand = m.group()
            if cand.count(":") < 2 or not re.search(r"[0-9A-Fa-f]", cand):
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
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|fax|call(?:ed)?|ring|text|sms|whatsapp|number|"
    r"reach|contact|dial|hotline|landline|tel\.|ph|mob|m|t)\b[^\n]{0,30}$"
)
# "order number 48291734", "SKU 12345-678", "ticket #...": an identifier, not a phone.
_ID_BEFORE = re.compile(
    r"(?i)\b(?:order|invoice|ticket|case|ref(?:erence)?|sku|account|acct|tracking|serial|model|"
    r"part|item|po|rma|confirmation|booking|reservation|customer|member|policy|id|zip|postcode|"
    r"version|build|ver)\b\W{0,3}(?:number|no\.?|num|id|code)?\W{0,3}$"
)
_DATE = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{4}\s*[-–]\s*\d{4}"
)


def _phone_shape(cand: str) -> str:
    """'strong' (international or shaped like a phone), 'weak' (needs a word like "call"
    before it) or '' (not a phone: too few or many digits, a date, a version)."""
    digits = re.sub(r"\D", "", re.sub(r"(?i)(?:x|ext\.?|extension)\s?\d+$", "", cand))
    if not 7 <= len(digits) <= 15 or _DATE.fullmatch(cand.strip()):
        return ""
    if cand.startswith(("+", "00")):
        return "strong"
    groups = re.findall(r"\d+", cand)
    if "." in cand and min(len(g) for g in groups) == 1:
        return ""  # 3.9.41.9038 is a version
    if "." in cand and (len(groups) < 3 or sum(len(g) >= 3 for g in groups) < 2):
        return "weak"  # 7592.5616 may be a phone; 10.0.19041.1 is a version
    if len(digits) >= 9 and (len(groups) >= 3 or "(" in cand):
        return "strong"
    return "weak"


def _phones(text: str, regions: tuple[str, ...]) -> Iterator[Finding]:
    for m in _PHONE.finditer(text):
        cand = m.group().strip()
        shape = _phone_shape(cand)
        if not shape:
            continue
        start = m.start() + (len(m.group()) - len(m.group().lstrip()))
        before = text[max(0, start - 40) : start]
        intl = cand.startswith(("+", "00"))
        if not intl and _ID_BEFORE.search(before):
            continue
        context = bool(_PHONE_CONTEXT.search(before))
        if shape == "weak" and not context:
            continue  # a bare run of digits is an order or account number unless said
        if _is_phone(cand, intl, context, regions):
            yield Finding("phone", start, start + len(cand), cand)


def _is_phone(cand: str, intl: bool, context: bool, regions: tuple[str, ...]) -> bool:
    import phonenumbers

    try:
        if intl:
            num = phonenumbers.parse("+" + cand[2:] if cand.startswith("00") else cand, None)
            return bool(phonenumbers.is_possible_number(num))
        possible = False
        for region in regions:
            num = phonenumbers.parse(cand, region)
            if phonenumbers.is_valid_number(num):
                return True
            possible = possible or bool(phonenumbers.is_possible_number(num))
        return possible and context
    except phonenumbers.NumberParseException:
        return False


# --- postal addresses and names (no checksum: only where the text says so) -----------------

_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|"
    r"Terrace|Parkway|Pkwy|Circle|Cir|Square|Sq|Highway|Hwy|Close|Crescent|Row|Trail"
)
_ADDRESS = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][a-zA-Z'-]+\.?\s+){{1,4}}(?:{_STREET_TYPES})\b\.?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|#)\.?\s*[\w-]+)?"
    r"(?:,\s*[A-Z][a-zA-Z]+(?:\s[A-Z][a-zA-Z]+){0,2})?"
    r"(?:,?\s+[A-Z]{2})?(?:,?\s+\d{5}(?:-\d{4})?)?"
    r"|\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm)\s+\d{1,4}[a-z]?"
    r"(?:,\s*\d{5}\s+[A-ZÄÖÜ][a-zäöüß]+)?"
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b"
)
# An address stated as one ("my address is ...", "ship it to ...") runs to the end of its
# sentence; it must hold a number (house, postcode) to count.
_ADDRESS_SAID = re.compile(
    r"(?i)\b(?:my (?:home |postal |shipping |billing |delivery )?address is|address:|"
    r"ship(?:ped)?(?: it| them| this)? to|deliver(?:ed|y)?(?: it)? to|delivery address(?: is)?:?|"
    r"(?:i |we )(?:live|moved|relocated) to|(?:i |we )live at|send (?:it|them) to|located at)"
    r"\s+(?-i:(?=[A-Z\d]))"
)
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
_PERSON_SIGNED = re.compile(
    r"(?:^|\n|[.!?]\s)\s*"
    r"(?:Regards|Best regards|Kind regards|Thanks|Thank you|Cheers|Best|Sincerely),?"
    r"\s*\n\s*(?:--\s*)?" + _PERSON_NAME
)
_NOT_NAMES = frozenset(
    "Team Support Customer Sir Madam All Everyone There Admin Help Service Sales The Our "
    "Not Unable Still Just Having Trying Using Getting Back Here Sorry Happy Glad New "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday My I We Is Please Hi Hello "
    "Thanks Regards Your This That It".split()
)
_SAID_ONLY = ("this is", "it's", "its", "i am", "i'm")  # need a full name: "I am Unable" is not one


_ADDRESS_LOWER = frozenset(
    "de del della la le les du des di da van von der den rue avenue chemin boulevard allée "
    "impasse place quai route y e am an im bis ter apt apt. suite".split()
)
_SENTENCE_START = frozenset(
    "I I'm It It's My We Our Is Please Thanks Thank Hello Hi Sorry Let The This That Card "
    "Order Here How Can Could Also Any When Why What".split()
)


def _address_words(chunk: str) -> str:
    """The address at the start of ``chunk``: it stops at a lower-case word that is not part
    of a street name ("... 24, Alicante since ...") or at a word that starts a sentence."""
    out = []
    for m in re.finditer(r"\S+", chunk):
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
    for m in _ADDRESS.finditer(text):
        yield Finding("address", m.start(), m.end(), m.group().rstrip(".,"))
    for m in _ADDRESS_SAID.finditer(text):
        start = m.end()
        lines = text[start : start + 120].split("\n")
        # A short first line ("17/920") continues on the next one.
        chunk = lines[0] + ("\n" + lines[1] if len(lines) > 1 and len(lines[0]) < 12 else "")
        end = _ADDRESS_END.search(chunk)
        addr = _address_words(chunk[: end.start() if end else 90]).rstrip(" .,")
        if re.search(r"\d", addr) and not re.fullmatch(r"[\d\s.,:/-]+", addr):
            yield Finding("address", start, start + len(addr), addr)


def _persons(text: str) -> Iterator[Finding]:
    for pattern in (_PERSON_SAID, _PERSON_SIGNED):
        for m in pattern.finditer(text):
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


# --- all together ------------------------------------------------------------------------------

_PRIORITY = {k: i for i, k in enumerate(KINDS)}


def detect(
    text: str, kinds: Iterable[str] = KINDS, regions: tuple[str, ...] = DEFAULT_REGIONS
) -> list[Finding]:
    """Non-overlapping findings in ``text``, in order. Where two overlap, the kind earlier in
    ``KINDS`` wins (a key inside a URL is a key; a card number is not also a phone)."""
    wanted = set(kinds)
    detectors: list[tuple[str, Callable[[str], Iterator[Finding]]]] = [
        ("secrets", _secrets),
        ("email", _emails),
        ("iban", _ibans),
        ("address", _addresses),
        ("person", _persons),
    ]
    if any(c.isdigit() for c in text):
        detectors += [("card", _cards), ("ip", _ips), ("phone", lambda t: _phones(t, regions))]
    found: list[Finding] = []
    for _name, fn in detectors:
        found.extend(f for f in fn(text) if f.kind in wanted)
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
            clash = [] if len(piece) >= 4 and re.search(r"\d", piece) else clash
        if not clash:
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)
