"""Ingest: source files (FAQ pages, documents, exports) to question/answer pairs and sections.

Public API::

    parse_file(path, display_path=None) -> ParseResult
    detect_format(path, text_head) -> str
    SUPPORTED_EXTENSIONS

``parse_file`` raises only ``IngestError`` (a whole-file failure: binary, empty, undecodable,
too large, unsupported). Problems with single rows or entries are reported in
``ParseResult.skipped`` with their line numbers, and everything good is still returned.
"""

from __future__ import annotations

import re
from pathlib import Path

from assistant_builder.errors import IngestError

from .detect import SUPPORTED_EXTENSIONS, detect_format
from .types import Pair, ParseResult, Section, Skipped

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Pair",
    "ParseResult",
    "Section",
    "Skipped",
    "detect_format",
    "parse_file",
    "parse_text",
]


def parse_file(path: Path, display_path: str | None = None) -> ParseResult:
    """Parse one file; ``display_path`` is what provenance ``source`` and errors show."""
    from . import textio

    path = Path(path)
    display = display_path if display_path is not None else str(path)
    ext = path.suffix.lower()
    if path.is_dir():
        raise IngestError(display, "is a folder, not a file")
    data = textio.read_bytes(path, display)
    if data.startswith(b"%PDF-") or ext == ".pdf":
        from .pdf import parse_pdf

        faq = bool(re.search(r"faq|q-?and-?a|qna", path.stem, re.IGNORECASE))
        pdf = _guarded(lambda: parse_pdf(data, display, faq_hint=faq), display, "pdf")
        return _scrubbed(pdf, display)
    kind = textio.binary_kind(data)
    if kind is not None:
        raise IngestError(display, f"not a text file: looks like {kind}")
    if ext and ext not in SUPPORTED_EXTENSIONS:
        raise IngestError(
            display,
            f"unsupported file type '{ext}' (supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))})",
        )
    text, encoding = textio.decode(data, display)
    fmt = detect_format(path, text[:16384])
    faq_hint = bool(re.search(r"faq|q-?and-?a|qna", path.stem, re.IGNORECASE))
    parsed = _guarded(lambda: parse_text(text, fmt, display, faq_hint=faq_hint), display, fmt)
    result = _scrubbed(parsed, display)
    if "(" in encoding and "BOM" not in encoding:  # guessed or repaired: say so
        result.encoding_note = f"decoded as {encoding}; check its text"
    return result


# Terminal escape sequences and control characters are never content: in a training row they
# teach the model to emit them, and in a terminal they can repaint the screen. Tab and newline
# stay; U+FFFD stays too, as the visible mark of a repaired byte.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])?")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")


def _clean(text: str) -> tuple[str, int]:
    if not _CONTROLS.search(text):
        return text, 0
    out = _CONTROLS.sub("", _ESCAPES.sub("", text))
    return out, len(text) - len(out)


def _scrubbed(result: ParseResult, display: str) -> ParseResult:
    """Control characters removed from every extracted text; a note says how many went."""
    removed = 0
    first: int | None = None

    def clean(text: str, line: int | None) -> str:
        nonlocal removed, first
        out, n = _clean(text)
        if n:
            removed += n
            first = line if first is None else first
        return out

    for p in result.pairs:
        p.question = clean(p.question, p.line_start)
        p.answer = clean(p.answer, p.line_start)
        p.variants = [clean(v, p.line_start) for v in p.variants]
    for s in result.sections:
        s.text = clean(s.text, s.line_start)
        s.heading_path = [clean(h, s.line_start) for h in s.heading_path]
    for c in result.conversations:
        for t in c.turns:
            t["content"] = clean(t["content"], c.line_start)
    if removed:
        reason = f"{removed} control character(s) (terminal escapes, NUL...) removed from the text"
        result.notes.append(Skipped(display, reason, first))
        kept = [p for p in result.pairs if p.question.strip() and p.answer.strip()]
        for p in result.pairs:
            if not (p.question.strip() and p.answer.strip()):
                result.skipped.append(Skipped(display, "only control characters", p.line_start))
        result.pairs = kept
    return result


def parse_text(text: str, fmt: str, source: str, *, faq_hint: bool = False) -> ParseResult:
    """Parse already-decoded ``text`` as ``fmt`` (any format name but "pdf")."""
    if fmt in ("markdown", "rst", "text"):
        text = _clamp_indent(text)
    if fmt == "markdown":
        from .markdown import parse_markdown

        return parse_markdown(text, source, faq_hint=faq_hint)
    if fmt == "rst":
        from .rst import parse_rst

        return parse_rst(text, source, faq_hint=faq_hint)
    if fmt == "html":
        from .html_page import parse_html

        return parse_html(text, source, faq_hint=faq_hint)
    if fmt in ("csv", "tsv", "json", "jsonl"):
        from .transcript_read import looks_like_transcript, parse_transcripts

        if looks_like_transcript(text, fmt):
            return parse_transcripts(text, source, fmt)
    if fmt in ("csv", "tsv"):
        from .tabular import parse_tabular

        return parse_tabular(text, source, fmt)
    if fmt in ("json", "jsonl"):
        from .json_records import parse_json

        return parse_json(text, source, fmt)
    if fmt == "text":
        from .plaintext import parse_plaintext

        return parse_plaintext(text, source, faq_hint=faq_hint)
    raise IngestError(source, f"unsupported format {fmt!r}")


# Indentation beyond this many columns is flattened to it: no document nests lists or quotes
# that deep, and the block parsers slow down with the square of the nesting.
MAX_INDENT = 64
_DEEP_INDENT = re.compile(rf"^[ \t]{{{MAX_INDENT + 1},}}", re.MULTILINE)


def _clamp_indent(text: str) -> str:
    return _DEEP_INDENT.sub(" " * MAX_INDENT, text)


def _guarded(fn: object, display: str, fmt: str) -> ParseResult:
    """Run a parser; any exception that is not an IngestError is a bug in a parser, but the
    user still gets one clear message naming the file instead of a traceback."""
    assert callable(fn)
    try:
        result = fn()
    except IngestError:
        raise
    except RecursionError as exc:
        raise IngestError(display, f"{fmt} structure is nested too deeply to read") from exc
    except MemoryError as exc:
        raise IngestError(display, "file needs too much memory to parse") from exc
    except Exception as exc:
        raise IngestError(
            display, f"internal parser error while reading {fmt}: {type(exc).__name__}: {exc}"
        ) from exc
    assert isinstance(result, ParseResult)
    return result
