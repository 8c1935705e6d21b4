"""Plain-text FAQs and documents (also the text layer of PDFs).

Questions are found as ``Q:``/``Question:`` lines, numbered entries ("1.1 What is ...?"), or
failing those, short stand-alone paragraphs ending with "?". Section titles (underlined,
ALL CAPS, or numbered one level above the questions) end an answer and give context.

A table of contents at the top lists the questions again: an entry with an empty answer whose
question appears again later is such a TOC line and is dropped silently, so no duplicates.
Text without questions becomes Sections, cut at section titles and at about 1,500 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import cleanup
from .types import Pair, ParseResult, Section, Skipped


@dataclass
class TLine:
    no: int | None  # 1-based line in the file (None for PDFs)
    page: int | None
    text: str


@dataclass
class _Entry:
    question: str
    head: TLine
    body: list[TLine] = field(default_factory=list)
    context: list[str] = field(default_factory=list)


_Q_MARK = re.compile(r"^\s*(?:Q(?:uestion)?\s*\d*\s*[:.)]|FAQ\s*\d+\s*[:.)])\s*(?P<q>\S.*)$", re.I)
_A_MARK = re.compile(r"^\s*A(?:nswer)?\s*\d*\s*[:.)]\s*", re.I)
_NUMBERED = re.compile(r"^\s*(?P<num>\d{1,3}(?:\.\d{1,3})*)[.)]?\s+(?P<t>\S.*?)\s*$")
_UNDERLINE = re.compile(r"^\s*([=\-~*#_])\1{2,}\s*$")
_BULLET = re.compile(r"^\s*(?:[-*•◦▪‣]|\d{1,3}[.)]|[a-z][.)])\s+")
_CHUNK = 1500


def parse_plaintext(text: str, source: str, faq_hint: bool = False) -> ParseResult:
    lines = [TLine(i + 1, None, t.rstrip()) for i, t in enumerate(text.split("\n"))]
    return parse_lines(lines, source, "text", faq_hint)


def parse_lines(lines: list[TLine], source: str, fmt: str, faq_hint: bool = False) -> ParseResult:
    result = ParseResult(format=fmt)
    q_idx = _find_questions(lines, faq_hint)
    lines = _join_wrapped(lines, q_idx)
    depth = _question_depth(lines, q_idx)
    headings = {
        i for i in range(len(lines)) if i not in q_idx and _is_heading(lines, i, depth, q_idx)
    }
    if not q_idx:
        _sections(result, lines, headings, source, fmt)
        return result
    entries, loose = _entries(lines, q_idx, headings)
    _add_pairs(result, entries, source, fmt)
    _add_loose_sections(result, loose, entries, source, fmt)
    return result


Loose = list[tuple[list[str], list[TLine]]]


def _entries(
    lines: list[TLine], q_idx: dict[int, str], headings: set[int]
) -> tuple[list[_Entry], Loose]:
    """The question entries with their answer lines, and the text outside any answer (intro,
    text under a section title) with its heading path."""
    entries: list[_Entry] = []
    context: list[str] = []
    loose: Loose = [([], [])]
    current: _Entry | None = None
    skip_next = False
    for i, ln in enumerate(lines):
        if skip_next:
            skip_next = False
            continue
        if i in q_idx:
            current = _Entry(q_idx[i], ln, context=list(context))
            entries.append(current)
            m = _Q_MARK.match(ln.text)
            after = re.split(r"\s+A(?:nswer)?\s*[:.)]\s*", m.group("q"), maxsplit=1) if m else []
            if len(after) == 2 and after[1].strip():
                current.body.append(TLine(ln.no, ln.page, after[1]))
            continue
        if i in headings:
            title = cleanup.strip_question_prefix(ln.text.strip().strip("=#*- ").strip())
            context = [title] if title else []
            current = None
            loose.append((list(context), []))
            if i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1].text):
                skip_next = True
            continue
        if _UNDERLINE.match(ln.text):
            continue  # a separator rule
        (current.body if current else loose[-1][1]).append(ln)
    return entries, loose


def _add_pairs(result: ParseResult, entries: list[_Entry], source: str, fmt: str) -> None:
    keys_later: dict[str, int] = {}
    for n, e in enumerate(entries):
        if _answer(e.body):
            keys_later[cleanup.norm_key(e.question)] = n
    for n, e in enumerate(entries):
        answer = _answer(e.body)
        if not answer:
            if keys_later.get(cleanup.norm_key(e.question), -1) > n:
                continue  # a table-of-contents line; the real entry comes later
            result.skipped.append(
                Skipped(source, f"question has no answer: {e.question[:80]!r}", e.head.no)
            )
            continue
        body_nums = [x.no for x in e.body if x.no is not None and x.text.strip()]
        extra: dict[str, object] = {"heading_path": e.context} if e.context else {}
        result.pairs.append(
            Pair(
                question=e.question,
                answer=answer,
                source=source,
                format=fmt,
                line_start=e.head.no,
                line_end=max(body_nums) if body_nums else e.head.no,
                page=e.head.page,
                extra=extra,
            )
        )


def _add_loose_sections(
    result: ParseResult, loose: Loose, entries: list[_Entry], source: str, fmt: str
) -> None:
    for path, chunk in loose:
        text = _answer(chunk)
        if text and not _looks_like_toc(chunk, entries):
            nums = [x.no for x in chunk if x.no is not None and x.text.strip()]
            result.sections.append(
                Section(
                    path,
                    text,
                    source,
                    fmt,
                    min(nums) if nums else None,
                    max(nums) if nums else None,
                    next(x.page for x in chunk if x.text.strip()),
                )
            )


def _looks_like_toc(pre: list[TLine], entries: list[_Entry]) -> bool:
    keys = {cleanup.norm_key(e.question) for e in entries}
    body = [x for x in pre if x.text.strip()]
    hits = sum(cleanup.norm_key(x.text) in keys for x in body)
    return bool(body) and hits * 2 >= len(body)


def _find_questions(lines: list[TLine], faq_hint: bool) -> dict[int, str]:
    """{line index: question text}."""
    marked: dict[int, str] = {}
    numbered: dict[int, str] = {}
    loose: dict[int, str] = {}
    for i, ln in enumerate(lines):
        t = ln.text
        m = _Q_MARK.match(t)
        if m:
            q = re.split(r"\s+A(?:nswer)?\s*[:.)]\s*", m.group("q"), maxsplit=1)[0]
            marked[i] = q.strip()
            continue
        m = _NUMBERED.match(t)
        if m and len(t) < 250 and cleanup.is_question(m.group("t")):
            numbered[i] = m.group("t").strip()
            continue
        prev_blank = i == 0 or not lines[i - 1].text.strip()
        nxt = lines[i + 1].text if i + 1 < len(lines) else ""
        if (
            prev_blank
            and t.strip().endswith("?")
            and len(t.strip()) < 200
            and not t.startswith("    ")
            and not _BULLET.match(t)
            and (not nxt.strip() or not nxt.strip().endswith("?"))
        ):
            loose[i] = t.strip()
    if marked or numbered:
        return {**marked, **numbered}
    return loose if len(loose) >= 2 or (loose and faq_hint) else {}


def _join_wrapped(lines: list[TLine], q_idx: dict[int, str]) -> list[TLine]:
    """A long question wraps in a printed page ("... cancelled because of the" / "weather?"):
    its next line or two, up to the one ending with "?", belong to the question, not the
    answer. Those lines are blanked (kept, so line indexes stay valid)."""
    lines = list(lines)
    for i, q in list(q_idx.items()):
        if q.rstrip().endswith("?"):
            continue
        for j in range(i + 1, min(i + 3, len(lines))):
            t = lines[j].text.strip()
            if not t or j in q_idx or _BULLET.match(lines[j].text) or _A_MARK.match(t):
                break
            if t.endswith("?") and len(q) + len(t) < 250:
                q_idx[i] = " ".join([q, *(x.text.strip() for x in lines[i + 1 : j + 1])])
                for k in range(i + 1, j + 1):
                    lines[k] = TLine(lines[k].no, lines[k].page, "")
                break
    return lines


def _question_depth(lines: list[TLine], q_idx: dict[int, str]) -> int:
    depths = []
    for i in q_idx:
        m = _NUMBERED.match(lines[i].text)
        if m:
            depths.append(m.group("num").count(".") + 1)
    return max(set(depths), key=depths.count) if depths else 0


def _is_heading(lines: list[TLine], i: int, depth: int, q_idx: dict[int, str]) -> bool:
    t = lines[i].text.strip()
    if not t or len(t) > 80 or t.endswith((".", ",", ";", "?")):
        return False
    nxt = lines[i + 1].text if i + 1 < len(lines) else ""
    prev_blank = i == 0 or not lines[i - 1].text.strip()
    if _UNDERLINE.match(nxt) and not _UNDERLINE.match(t):
        return True
    if (
        prev_blank
        and re.match(r"^(?:#{1,6}\s+)?[A-Z0-9][A-Z0-9 &/,:'()-]{2,}$", t)
        and re.search(r"[A-Z]{3}", t)
    ):
        return True  # ALL CAPS title
    m = _NUMBERED.match(t)
    if m and depth > 1 and m.group("num").count(".") + 1 < depth:
        # "2. Installation" above "2.1 How do I ...?": a numbered step inside an answer is
        # not followed by a question line, a section title is.
        j = next((j for j in range(i + 1, len(lines)) if lines[j].text.strip()), None)
        return j is not None and j in q_idx
    return bool(re.match(r"^(?:section|part|chapter)\s+[\w.]+[:.]?\s", t, re.I)) and prev_blank


def _answer(body: list[TLine]) -> str:
    """Answer lines to Markdown: "A:" dropped, common indent removed, wrapped lines joined,
    indented blocks fenced as code."""
    texts = [x.text for x in body]
    while texts and not texts[0].strip():
        texts.pop(0)
    if texts:
        texts[0] = _A_MARK.sub("", texts[0], count=1)
    texts = cleanup.dedent_lines(texts)
    out: list[str] = []
    k = 0
    while k < len(texts):
        t = texts[k]
        if t.startswith("    ") and (not out or not out[-1].strip()):
            code = []
            while k < len(texts) and (texts[k].startswith("    ") or not texts[k].strip()):
                code.append(texts[k][4:])
                k += 1
            while code and not code[-1].strip():
                code.pop()
            out += ["```", *code, "```", ""]
            continue
        if (
            out
            and out[-1].strip()
            and t.strip()
            and not _BULLET.match(t)
            and not out[-1].startswith("```")
            and not t.startswith(" ")
        ):
            out[-1] = out[-1].rstrip() + " " + t.strip()
        else:
            out.append(re.sub(r"^(\s*)[•◦▪‣]\s+", r"\1- ", t))
        k += 1
    return cleanup.tidy(
        cleanup.clean_inline_html("\n".join(out)) if "&" in "".join(out) else "\n".join(out)
    )


def _sections(
    result: ParseResult, lines: list[TLine], headings: set[int], source: str, fmt: str
) -> None:
    title: list[str] = []
    chunk: list[TLine] = []

    def flush() -> None:
        text = _answer(chunk)
        if text:
            nums = [x.no for x in chunk if x.no is not None and x.text.strip()]
            result.sections.append(
                Section(
                    list(title),
                    text,
                    source,
                    fmt,
                    min(nums) if nums else None,
                    max(nums) if nums else None,
                    chunk[0].page,
                )
            )
        chunk.clear()

    size = 0
    for i, ln in enumerate(lines):
        if i in headings:
            flush()
            size = 0
            title = [cleanup.strip_question_prefix(ln.text.strip().strip("=#*- ").strip())]
            continue
        if _UNDERLINE.match(ln.text):
            continue
        # Cut long runs at a paragraph break so every Section stays a digestible size.
        if not ln.text.strip() and size > _CHUNK:
            flush()
            size = 0
        chunk.append(ln)
        size += len(ln.text)
    flush()
