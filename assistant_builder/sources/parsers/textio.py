"""Reading source files safely: size cap, binary detection, BOMs and encoding detection.

Every failure here is a whole-file failure, so it raises ``IngestError`` naming the file; the
parsers then work on clean ``str`` text with ``\\n`` line endings, so line numbers they report
match what an editor shows.
"""

from __future__ import annotations

import codecs
import itertools
import json
import re
import stat
from pathlib import Path
from typing import Any

from assistant_builder.errors import IngestError

# Larger files are refused rather than streamed: an FAQ or a manual is far below this, and a
# 50 MB "FAQ" is almost always a data dump or a wrong path that would stall the UI.
MAX_BYTES = 50 * 1024 * 1024

# Byte-order marks, longest first (UTF-32 LE starts with the UTF-16 LE mark).
_BOMS: list[tuple[bytes, str]] = [
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]

# Magic numbers of common binary formats a user may drop into a folder by mistake.
_BINARY_MAGIC: list[tuple[bytes, str]] = [
    (b"PK\x03\x04", "a ZIP archive (docx/xlsx/odt/epub?)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0", "an old MS Office document"),
    (b"\x7fELF", "an executable"),
    (b"SQLite format 3", "an SQLite database"),
    (b"BZh", "a bzip2 archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
]


def read_bytes(path: Path, display: str, max_bytes: int | None = None) -> bytes:
    """Read a whole file, refusing missing, unreadable, empty or oversized files."""
    if max_bytes is None:
        max_bytes = MAX_BYTES
    try:
        info = path.stat()
    except OSError as exc:
        raise IngestError(display, f"cannot read file: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):  # a pipe or a device would block or never end
        raise IngestError(display, "not a regular file (a pipe, socket or device): not read")
    size = info.st_size
    if size > max_bytes:
        raise IngestError(
            display,
            f"file is too large ({size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB); "
            "split it into smaller files",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(display, f"cannot read file: {exc.strerror or exc}") from exc
    if not data.strip():
        raise IngestError(display, "file is empty")
    return data


def binary_kind(data: bytes) -> str | None:
    """Say what binary thing ``data`` looks like, or None when it looks like text.

    UTF-16/32 text is full of NUL bytes, so a BOM is checked first; otherwise NULs or many
    C0 control bytes in the first 8 KB mean binary (the heuristic ``file`` and git use).
    """
    for magic, what in _BINARY_MAGIC:
        if data.startswith(magic):
            return what
    if any(data.startswith(bom) for bom, _ in _BOMS):
        return None
    head = data[:8192]
    if _looks_utf16_without_bom(head):
        return None
    if b"\x00" in head:
        return "binary data (contains NUL bytes)"
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    if head and controls / len(head) > 0.10:
        return "binary data (many control bytes)"
    return None


def _looks_utf16_without_bom(head: bytes) -> bool:
    # ASCII text in UTF-16 has a NUL in every other byte, on one side only.
    if len(head) < 8:
        return False
    even = head[0::2]
    odd = head[1::2]
    return (even.count(0) > 0.7 * len(even) and odd.count(0) == 0) or (
        odd.count(0) > 0.7 * len(odd) and even.count(0) == 0
    )


def decode(data: bytes, display: str) -> tuple[str, str]:
    """Decode bytes to text; returns ``(text, encoding)``.

    Order: BOM, strict UTF-8 (most files), then charset-normalizer's best guess. Line endings
    become ``\\n`` and a leading BOM character is dropped.
    """
    text: str | None = None
    encoding = ""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(enc)
                encoding = enc + " (BOM)"
            except UnicodeDecodeError as exc:
                reason = f"file has a {enc} byte-order mark but is not valid {enc}"
                raise IngestError(display, reason) from exc
            break
    if text is None and _looks_utf16_without_bom(data[:8192]):
        enc = "utf-16-le" if data[1:2] == b"\x00" else "utf-16-be"
        try:
            text = data.decode(enc)
            encoding = enc
        except UnicodeDecodeError:
            text = None
    if text is None:
        try:
            text = data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            text, encoding = _damaged_utf8(data) or _guess(data, display)
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise IngestError(display, "file is empty")
    if "\x00" in text:
        raise IngestError(display, "binary data (contains NUL characters after decoding)")
    return text, encoding


_PREFERRED = ("cp1252", "latin_1", "iso8859_15")
# Above this share of "mess" (charset-normalizer's chaos: odd symbols, mixed scripts) no legacy
# code page reads the file sensibly: refuse it rather than train on mojibake.
MAX_CHAOS = 0.2
GUESSED = "guessed"  # in the encoding name when it was not declared (BOM) nor valid UTF-8


def _damaged_utf8(data: bytes) -> tuple[str, str] | None:
    """UTF-8 text with a few invalid bytes (a truncated copy, one stray byte, a line pasted
    from a Windows-1252 file): keep it as UTF-8, read each invalid byte as Windows-1252 (the
    usual source of such bytes, so "caf\\xe9" stays "café") and say how many there were.
    None when the file is not UTF-8 at all."""
    good = data.decode("utf-8", errors="ignore")
    multibyte = sum(1 for ch in good if ord(ch) > 0x7F)
    text = data.decode("utf-8", errors=_CP1252_FALLBACK)
    bad = len(data) - len(good.encode("utf-8"))
    if multibyte == 0 or bad > multibyte:
        return None
    return text, f"utf-8 ({bad} invalid byte(s) read as cp1252)"


def _cp1252_bytes(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    chunk = exc.object[exc.start : exc.end]
    # Five bytes have no cp1252 character; they stay visible as a replacement mark.
    return chunk.decode("cp1252", errors="replace"), exc.end


_CP1252_FALLBACK = "assistant-builder-cp1252"
codecs.register_error(_CP1252_FALLBACK, _cp1252_bytes)


def _guess(data: bytes, display: str) -> tuple[str, str]:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - it is a declared dependency
        return data.decode("cp1252", errors="replace"), "cp1252 (assumed)"
    matches = list(from_bytes(data[: 4 * 1024 * 1024]))
    best = matches[0] if matches else None
    # On short texts several code pages score the same; Windows-1252 is by far the most
    # common legacy encoding of FAQ files, so it wins among near-equal guesses.
    # Otherwise the most coherent of the near-equal ones: a few curly quotes read as cp775
    # ("ōquotedö") score as clean as cp1250 ("“quoted”"), but read as less likely language.
    if best is not None:
        near = [m for m in matches if m.chaos <= best.chaos + 0.05]
        preferred = [m for m in near if m.encoding in _PREFERRED]
        best = preferred[0] if preferred else max(near, key=lambda m: m.coherence)
    if best is not None and best.encoding == "cp1250" and _same_as_cp1252(data):
        return data.decode("cp1252"), f"cp1252 ({GUESSED}: not UTF-8)"
    if best is None or best.encoding is None:
        raise IngestError(display, "cannot detect the text encoding (not UTF-8); save it as UTF-8")
    if best.chaos > MAX_CHAOS:
        raise IngestError(
            display,
            f"not UTF-8, and no encoding reads it cleanly (best guess {best.encoding} leaves "
            f"{best.chaos:.0%} garbled); save it as UTF-8",
        )
    try:
        return data.decode(best.encoding), f"{best.encoding} ({GUESSED}: not UTF-8)"
    except (UnicodeDecodeError, LookupError) as exc:
        raise IngestError(
            display, f"text encoding looks like {best.encoding} but does not decode; save as UTF-8"
        ) from exc


def _same_as_cp1252(data: bytes) -> bool:
    try:
        return data.decode("cp1252") == data.decode("cp1250")
    except UnicodeDecodeError:
        return False


def read_text(path: Path, display: str) -> tuple[str, str]:
    """Read and decode a text file, refusing binaries; returns ``(text, encoding)``."""
    data = read_bytes(path, display)
    kind = binary_kind(data)
    if kind is not None:
        raise IngestError(display, f"not a text file: looks like {kind}")
    return decode(data, display)


class TooDeep(ValueError):
    """JSON nested deeper than a person writes: refused before the recursive parser sees it."""


MAX_JSON_DEPTH = 100
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_DEPTH_STEP = str.maketrans({"[": "1", "{": "1", "]": "0", "}": "0"})


def json_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside strings (0 for a scalar)."""
    brackets = "".join(re.findall(r"[\[\]{}]", _JSON_STRING.sub("", text)))
    steps = (1 if c == "1" else -1 for c in brackets.translate(_DEPTH_STEP))
    return max(itertools.accumulate(steps, initial=0))


# Python refuses to convert integers longer than this (a ValueError that would lose the file).
_MAX_INT_DIGITS = 4000


def _int_or_text(literal: str) -> int | str:
    # An id of thousands of digits is no number anyone computes with: keep its text.
    return int(literal) if len(literal) <= _MAX_INT_DIGITS else literal


def _no_constant(_name: str) -> None:
    """NaN and Infinity are not JSON; an answer of NaN is a missing answer, not "nan"."""
    return None


def json_loads(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for files written by other tools: raises ``TooDeep`` (a ValueError)
    instead of a RecursionError, keeps huge integer literals as text, reads NaN/Infinity as
    null, and accepts raw control characters (a tab pasted into a string) inside strings."""
    if text.count("[") + text.count("{") > max_depth and json_depth(text) > max_depth:
        raise TooDeep(f"nested deeper than {max_depth} levels")
    return json.loads(text, parse_int=_int_or_text, parse_constant=_no_constant, strict=False)


def line_of(text: str, offset: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, max(0, offset)) + 1
