"""Text from outside (file names, paths, parsed content) made safe to print on one line.

A file may be named ``"faq\\n✓ ingested 900 pairs"``; printed raw, its name would forge a line
of output. ``printable`` escapes control characters (newline, carriage return, escape
sequences, bidi overrides) the way Python writes them in a string literal.
"""

from __future__ import annotations

import unicodedata


def printable(text: str) -> str:
    """``text`` with every control or format character written as an escape (``\\n``)."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)
