"""From a document's headings and bodies to Pairs and Sections (shared by Markdown, RST, HTML).

Each format parser turns its file into a flat list of ``Block``s: a heading (level, title) and
the Markdown body up to the next heading of any level, line by line with source line numbers.
This module decides which headings are questions, what their answers are, and what is prose.

Rules (the same for every format, so a page reads the same whatever it was written in):
- a heading is a question when it reads as one (``cleanup.is_question``);
- on a page that is clearly an FAQ (title says so, or most headings are questions) a heading
  with body text and no question below it is a question too ("Light won't turn on");
- an answer runs to the next heading of the same or a higher level, or to the next question
  heading below it; sub-headings inside an answer become bold lines;
- bodies of other headings are searched for inline Q/A (``**Q?**`` paragraphs, ``Q:``/``A:``
  lines, ``<details><summary>``); what is left is a Section with its heading path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import cleanup
from .types import Pair, Section, Skipped

Line = tuple[int | None, str]


@dataclass
class Block:
    level: int  # 0: text before the first heading
    title: str
    line: int | None
    body: list[Line] = field(default_factory=list)
    page: int | None = None
    # A bold line among bold questions ("**Lockers**" between "**Do I need a cap?**" items):
    # an FAQ entry whose title is a statement.
    entry: bool = False


@dataclass
class Built:
    pairs: list[Pair] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


_FAQ_TITLE = re.compile(
    r"\b(?:FAQs?|F\.A\.Q\.?|frequently[- ]asked|questions?|Q\s*&\s*A|Q\s*and\s*A)\b", re.I
)


def looks_like_faq_title(title: str) -> bool:
    return bool(_FAQ_TITLE.search(title))


def clean_question(text: str) -> str:
    """A heading or marker line as a question: no markup debris, no "Q:"/"1.2" prefix."""
    text = cleanup.clean_inline_html(cleanup.strip_html_comments(text))
    text = cleanup.simplify_links(text)
    text = re.sub(r"\s*\{#[\w.-]+\}\s*$", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    # Whole-heading emphasis (``**How do I ...?**``) is presentation, not content.
    m = re.fullmatch(r"(\*\*|__|\*|_)(.+?)\1", text)
    if m:
        text = m.group(2).strip()
    return cleanup.strip_question_prefix(text)


def _text(lines: list[Line]) -> str:
    return "\n".join(t for _, t in lines)


def _span(lines: list[Line], default: int | None) -> tuple[int | None, int | None]:
    nums = [n for n, t in lines if n is not None and t.strip()]
    if not nums:
        return default, default
    return min(nums), max(nums)


def _title_index(blocks: list[Block]) -> int | None:
    """A single top-level heading at the start is the page title, not a question or category."""
    levels = [b.level for b in blocks if b.level > 0]
    if not levels:
        return None
    first = next(i for i, b in enumerate(blocks) if b.level > 0)
    top = min(levels)
    if blocks[first].level == top and levels.count(top) == 1 and len(levels) > 1:
        return first
    return None


def build(
    blocks: list[Block],
    *,
    source: str,
    fmt: str,
    page_title: str = "",
    faq_hint: bool = False,
) -> Built:
    from .bold_headings import bold_headings

    out = Built()
    blocks = bold_headings(blocks, faq_hint or looks_like_faq_title(page_title))
    n = len(blocks)
    explicit = [b.level > 0 and (b.entry or is_question_heading(b.title)) for b in blocks]
    title_idx = _title_index(blocks)
    if title_idx is not None:
        explicit[title_idx] = False
        page_title = page_title or clean_question(blocks[title_idx].title)

    heads = [i for i, b in enumerate(blocks) if b.level > 0 and i != title_idx]
    n_q = sum(explicit[i] for i in heads)
    faq_page = (
        faq_hint
        or looks_like_faq_title(page_title)
        or (n_q >= 2 and n_q * 2 >= len(heads))
        or (n_q >= 1 and len(heads) == 1)
    )

    def has_question_below(i: int) -> bool:
        lvl = blocks[i].level
        for j in range(i + 1, n):
            if blocks[j].level <= lvl:
                return False
            if explicit[j]:
                return True
        return False

    stack: list[tuple[int, str]] = []
    if page_title and title_idx is None:
        stack.append((0, page_title))
    i = 0
    while i < n:
        b = blocks[i]
        while stack and b.level > 0 and stack[-1][0] >= b.level:
            stack.pop()
        context = [t for _, t in stack]
        body_text = cleanup.clean_markdown(_text(b.body))
        promoted = (
            faq_page
            and b.level > 0
            and i != title_idx
            and bool(body_text)
            and not looks_like_faq_title(b.title)  # "Acme FAQ" heads the page, it asks nothing
            and not has_question_below(i)
            and not _has_inline_questions(b.body)  # a body of inline Q/A is a category
        )
        if b.level > 0 and i != title_idx and (explicit[i] or promoted):
            lines = list(b.body)
            j = i + 1
            while j < n and blocks[j].level > b.level and not explicit[j]:
                sub = clean_question(blocks[j].title)
                lines += [(None, ""), (blocks[j].line, f"**{sub}**"), (None, "")]
                lines += blocks[j].body
                j += 1
            # Q/A widgets (``<details>``) after the answer text are questions of their own.
            items, lines = split_inline_qa(lines, details_only=True)
            _emit_pair(out, b, lines, context, source, fmt, page_title)
            for q, qline, ans in items:
                head = Block(level=b.level + 1, title=q, line=qline, page=b.page)
                _emit_pair(out, head, ans, context, source, fmt, page_title)
            stack.append((b.level, clean_question(b.title)))
            i = j
            continue
        title = clean_question(b.title) if b.level > 0 else ""
        path = [*context, title] if title else context
        _emit_body(out, b, path, source, fmt, page_title)
        if b.level > 0:
            stack.append((b.level, title))
        i += 1
    return out


def is_question_heading(title: str) -> bool:
    return cleanup.is_question(clean_question(title))


def _emit_pair(
    out: Built,
    head: Block,
    lines: list[Line],
    context: list[str],
    source: str,
    fmt: str,
    page_title: str,
) -> None:
    question = clean_question(head.title)
    # list-item Q/A leave their answers indented; the common indent is not content
    texts = cleanup.dedent_lines([t for _, t in lines])
    first = next((k for k, t in enumerate(texts) if t.strip()), None)
    if first is not None:  # "**Q: ...**" as a heading leaves its "A:" marker on the answer
        texts[first] = _A_MARK.sub("", texts[first], count=1)
    if texts != [t for _, t in lines]:
        from .markdown import fence_indented  # dedenting can expose indented code blocks

        texts = [t for _, t in fence_indented([(None, t) for t in texts])]
    answer = cleanup.clean_markdown("\n".join(texts))
    _, end = _span(lines, head.line)
    if not answer:
        out.skipped.append(Skipped(source, f"question has no answer: {question!r}", head.line))
        return
    extra: dict[str, object] = {}
    if context:
        extra["heading_path"] = context
    if page_title:
        extra["page_title"] = page_title
    out.pairs.append(
        Pair(
            question=question,
            answer=answer,
            source=source,
            format=fmt,
            line_start=head.line,
            line_end=max(end or 0, head.line or 0) or None,
            page=head.page,
            extra=extra,
        )
    )


def _emit_body(
    out: Built, b: Block, path: list[str], source: str, fmt: str, page_title: str
) -> None:
    items, rest = split_inline_qa(b.body)
    for q, qline, ans in items:
        head = Block(level=b.level + 1, title=q, line=qline, page=b.page)
        _emit_pair(out, head, ans, path, source, fmt, page_title)
    text = cleanup.clean_markdown(_text(rest))
    if text:
        start, end = _span(rest, b.line)
        if b.level > 0 and b.line is not None:
            start = b.line
        out.sections.append(
            Section(
                heading_path=path,
                text=text,
                source=source,
                format=fmt,
                line_start=start,
                line_end=end,
                page=b.page,
            )
        )


# --- inline Q/A inside a body --------------------------------------------------------------

# "**How do I ...?** answer", also as a list item ("1. **How ...?**")
_BOLD_Q = re.compile(r"^\s*(?:(?:[-*+]|\d{1,3}[.)])\s+)?(\*\*|__)(?P<q>.+?)\1\s*(?P<rest>.*)$")
_Q_LINE = re.compile(
    r"^\s*(?:\*\*|__)?\s*Q(?:uestion)?\s*\d*\s*[:.)]\s*(?:\*\*|__)?\s*(?P<q>.+)$", re.I
)
_A_LINE = re.compile(
    r"^\s*(?:\*\*|__)?\s*A(?:nswer)?\s*\d*\s*[:.)]\s*(?:\*\*|__)?\s*(?P<a>.*)$", re.I
)
_A_MARK = re.compile(r"^\s*(?:\*\*|__)?\s*A(?:nswer)?\s*\d*\s*:\s*(?:\*\*|__)?\s*", re.I)
_DETAILS_OPEN = re.compile(r"<details\b", re.I)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.I)
_SUMMARY = re.compile(r"<summary\b[^>]*>(.*?)</summary\s*>", re.I | re.DOTALL)

InlineQA = tuple[str, int | None, list[Line]]


def _question_marker(line: str) -> tuple[str, str] | None:
    """If ``line`` opens an inline question, return (question, text after it on the line)."""
    m = _Q_LINE.match(line)
    if m:
        q = m.group("q").strip()
        # "Q: text? A: answer" on one line
        parts = re.split(r"\s+(?:\*\*|__)?A(?:nswer)?\s*[:.)]\s*(?:\*\*|__)?\s*", q, maxsplit=1)
        q = parts[0].strip().rstrip("*_").strip()
        return q, parts[1] if len(parts) > 1 else ""
    m = _BOLD_Q.match(line)
    if m:
        q = m.group("q").strip()
        rest = m.group("rest")
        if q.endswith("?") or (rest.startswith("?") and not rest[1:].strip()):
            return q + ("?" if rest.startswith("?") else ""), rest.lstrip("?").strip()
    return None


_LIST_START = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+\S")
# "1. How do I ...?" as a list item whose answer follows it (indented or as the next
# paragraph): a numbered FAQ written as a Markdown list.
_LIST_Q = re.compile(r"^(?P<ind>\s{0,3})(?:[-*+]|\d{1,3}[.)])\s+(?P<q>[^*_`\s].*\?)\s*$")


def _inline_marker(body: list[Line], k: int) -> tuple[str, str] | None:
    """(question, text after it) when ``body[k]`` opens an inline question of any kind."""
    marker = _question_marker(body[k][1])
    if marker is None:
        listed = _list_question(body, k)
        marker = (listed, "") if listed else None
    return marker


def _list_question(body: list[Line], k: int) -> str | None:
    """The question of a list item at ``body[k]`` that is followed by its answer, not by the
    next item (a tight list of questions is a checklist, not an FAQ)."""
    m = _LIST_Q.match(body[k][1])
    if m is None or not cleanup.is_question(m.group("q")):
        return None
    nxt = next((t for _, t in body[k + 1 :] if t.strip()), None)
    if nxt is None or nxt.strip().endswith("?"):
        return None
    ind = len(m.group("ind"))
    if _LIST_START.match(nxt) and len(nxt) - len(nxt.lstrip()) <= ind:
        return None
    return m.group("q").strip()


def _opens_item(line: str, prev_blank: bool) -> bool:
    """Inline questions start a paragraph, or a list item (items need no blank line)."""
    return bool(line.strip()) and (prev_blank or bool(_LIST_START.match(line)))


def _has_inline_questions(body: list[Line]) -> bool:
    """Bold-question paragraphs or ``Q:`` lines (not ``<details>``) anywhere in ``body``."""
    fence: str | None = None
    prev_blank = True
    for _, line in body:
        m = re.match(r"^\s*(`{3,}|~{3,})", line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None and _opens_item(line, prev_blank) and _question_marker(line):
            return True
        prev_blank = not line.strip()
    return any(_list_question(body, k) for k in range(len(body)))


def split_inline_qa(
    body: list[Line], details_only: bool = False
) -> tuple[list[InlineQA], list[Line]]:
    """Split a body into inline Q/A items and the remaining prose lines.

    ``details_only``: only ``<details>`` blocks count (inside an answer, a bold question may
    be rhetorical, but a collapsible block is always a separate entry)."""
    items: list[InlineQA] = []
    rest: list[Line] = []
    current: list[Line] | None = None
    fence: str | None = None
    prev_blank = True
    k = 0
    while k < len(body):
        no, line = body[k]
        stripped = line.strip()
        m = re.match(r"^\s*(`{3,}|~{3,})", line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and _DETAILS_OPEN.search(line):
            end = k
            while end < len(body) and not _DETAILS_CLOSE.search(body[end][1]):
                end += 1
            chunk = "\n".join(t for _, t in body[k : end + 1])
            sm = _SUMMARY.search(chunk)
            if sm and end < len(body):
                q = cleanup.clean_inline_html(sm.group(1)).strip()
                inner = _DETAILS_CLOSE.sub("", chunk[sm.end() :]).split("\n")
                # the answer is the last len(inner) lines of the block, with their numbers
                nums = [n for n, _ in body[k : end + 1]][-len(inner) :]
                inner_lines = list(zip(nums, inner, strict=True))
                items.append((q, no, inner_lines))
                current = None
                k = end + 1
                prev_blank = True
                continue
        if fence is None and _opens_item(line, prev_blank) and not details_only:
            marker = _inline_marker(body, k)
            if marker is not None:
                q, after = marker
                current = []
                items.append((q, no, current))
                if after:
                    current.append((no, after))
                prev_blank = False
                k += 1
                continue
        if fence is None and current is not None:
            am = _A_LINE.match(line)
            if am and not any(t.strip() for _, t in current):
                line = am.group("a")
        target = current if current is not None else rest
        target.append((no, line))
        prev_blank = not stripped
        k += 1
    return items, rest
