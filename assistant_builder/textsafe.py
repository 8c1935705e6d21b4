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


def shell_quote(text: str) -> str:
    """One shell word for ``text`` that a POSIX shell reads back exactly, printed on one line.

    ``shlex.quote`` when the text is printable; otherwise bash's ``$'...'`` quoting with
    escapes, so a newline in a path can neither break the command nor forge an output line.
    """
    import shlex

    if text.isprintable():
        return shlex.quote(text)
    body = []
    for ch in text:
        if ch in "\\'":
            body.append("\\" + ch)
        elif ch.isprintable():
            body.append(ch)
        elif ord(ch) < 0x80:  # \n, \t, \x1b: the escapes $'...' understands
            body.append(ch.encode("unicode_escape").decode("ascii"))
        else:  # by code point: a \xhh escape would be a raw byte, not this character
            body.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    return "$'" + "".join(body) + "'"
