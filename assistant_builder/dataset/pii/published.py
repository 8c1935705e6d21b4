"""The workspace's own published contact addresses, which redaction keeps.

A support FAQ tells customers where to write ("mail frontdesk@torproject.org"); replacing that
with ``<EMAIL>`` teaches the model to answer "write to <EMAIL>". An address counts as the team's
own when it appears in the FAQ or documentation material (not in transcripts, which are the
customers' words) *and* its domain is one that material links to (``https://…torproject.org/``):
a published page links to its own site. A customer's address quoted as an example
("alice@gmail.com") stays redacted unless the material links to that domain too; the big mail
providers never count. Exact addresses are kept, not whole domains, so a customer writing from
the same domain in a transcript is still redacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@((?:[\w-]+\.)+[A-Za-z]{2,})")
URL_HOST = re.compile(r"https?://(?:[^/\s@]*@)?((?:[\w-]+\.)+[A-Za-z]{2,})")
# Domains anyone can have an address at: linking to them says nothing about ownership.
MAIL_PROVIDERS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "qq.com",
        "163.com",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
    ]
)
_SECOND_LEVEL = frozenset(["co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "go"])


def site(host: str) -> str:
    """The registrable part of a host name: support.torproject.org → torproject.org,
    shop.example.co.uk → example.co.uk."""
    parts = host.casefold().strip(".").split(".")
    if len(parts) >= 3 and len(parts[-1]) == 2 and parts[-2] in _SECOND_LEVEL:
        return ".".join(parts[-3:])
    return ".".join(parts[-2:])


def _texts(items: Iterable[dict[str, Any]]) -> list[str]:
    out = []
    for item in items:
        if item.get("kind") == "pair":
            out += [str(item.get("question", "")), str(item.get("answer", ""))]
        elif item.get("kind") == "section":
            out.append(str(item.get("text", "")))
    return out


def published_addresses(items: Iterable[dict[str, Any]]) -> list[str]:
    """E-mail addresses of the FAQ/document items whose site the same items link to."""
    texts = _texts(items)
    # Most texts hold no "@": the patterns are run only where they can find an address.
    mails = [m for t in texts if "@" in t for m in EMAIL.finditer(t)]
    if not mails:
        return []
    linked = {site(h) for t in texts if "://" in t for h in URL_HOST.findall(t)} - MAIL_PROVIDERS
    return sorted({m.group(0).casefold() for m in mails if site(m.group(1)) in linked})
