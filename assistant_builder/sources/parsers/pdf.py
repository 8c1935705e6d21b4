"""PDF text layer (pypdf) to Pairs/Sections, with the page number as provenance.

The extracted text goes through the plain-text parser. Before that, what PDFs add to text is
removed: running headers/footers repeated on most pages, bare page numbers, and words
hyphenated across line ends. A PDF without a text layer (a scan) is refused with a reason.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

from assistant_builder.errors import IngestError

from .plaintext import TLine, parse_lines
from .types import ParseResult, Skipped

_MAX_PAGES = 3000
_PAGE_NO = re.compile(r"^\s*(?:page\s*)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?\s*$", re.IGNORECASE)


def parse_pdf(data: bytes, source: str, faq_hint: bool = False) -> ParseResult:
    try:
        from pypdf import PdfReader
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise IngestError(source, "reading PDFs needs the 'pypdf' package") from exc
    log = logging.getLogger("pypdf")
    old_level = log.level
    log.setLevel(logging.ERROR)  # broken PDFs make pypdf log a warning per object
    try:
        return _parse(PdfReader, data, source, faq_hint)
    finally:
        log.setLevel(old_level)


def _parse(reader_cls: type, data: bytes, source: str, faq_hint: bool) -> ParseResult:
    skipped: list[Skipped] = []
    try:
        reader = reader_cls(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(source, "PDF is password-protected")
        pages = list(reader.pages)
    except IngestError:
        raise
    except Exception as exc:
        raise IngestError(source, f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if len(pages) > _MAX_PAGES:
        raise IngestError(source, f"PDF has {len(pages)} pages; the limit is {_MAX_PAGES}")
    texts: list[str] = []
    for n, page in enumerate(pages, start=1):
        try:
            texts.append(page.extract_text() or "")
        except Exception as exc:
            texts.append("")
            skipped.append(Skipped(source, f"page {n}: text not extractable ({exc})"))
    if not any(t.strip() for t in texts):
        raise IngestError(source, "PDF has no text layer (a scan?); run OCR on it first")
    lines = _clean_pages(texts)
    result = parse_lines(lines, source, "pdf", faq_hint=faq_hint)
    for p in result.pairs:
        p.line_start = p.line_end = None  # lines of extracted text are not file lines
    for s in result.sections:
        s.line_start = s.line_end = None
    result.skipped = skipped + result.skipped
    return result


def _shape(line: str) -> str:
    # "Page 3 of 9" and "Page 4 of 9" are the same footer.
    return re.sub(r"\d+", "#", line.strip())


def _clean_pages(texts: list[str]) -> list[TLine]:
    page_lines = []
    for t in texts:
        t = t.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
        t = re.sub(r"([a-z])-\n([a-z])", r"\1\2", t)  # "config-\nuration"
        page_lines.append([ln.rstrip() for ln in t.split("\n")])
    # Running headers/footers: the same first/last lines on at least half of 3+ pages.
    edge: Counter[str] = Counter()
    for lines in page_lines:
        body = [x.strip() for x in lines if x.strip()]
        edge.update({_shape(x) for x in body[:2] + body[-2:]})
    repeated = {s for s, c in edge.items() if len(page_lines) >= 3 and c * 2 >= len(page_lines)}
    out: list[TLine] = []
    for n, lines in enumerate(page_lines, start=1):
        for ln in lines:
            s = ln.strip()
            if _shape(s) in repeated or _PAGE_NO.match(ln):
                continue
            out.append(TLine(None, n, ln))
        out.append(TLine(None, n, ""))
    return out
