"""Bold lines used as headings ("**Lockers**" then its text): web editors and exported help
pages lay out FAQs that way instead of with real headings. They become sub-blocks, so the
shared structure rules decide which are questions, as for any heading."""

from __future__ import annotations

import re

from . import cleanup
from .structure import Block, Line, clean_question, is_question_heading

_BOLD_LINE = re.compile(r"^ {0,3}(\*\*|__)(?P<t>[^*_\s](?:(?!\1).)*?)\1\s*$")


def _bold_line(body: list[Line], k: int) -> str | None:
    """The text of a paragraph-opening line that is bold and nothing else (a pseudo-heading
    that web editors and exported help pages use instead of real headings)."""
    m = _BOLD_LINE.match(body[k][1])
    if m is None or (k > 0 and body[k - 1][1].strip()):
        return None
    t = m.group("t").strip()
    if len(t) > 150 or t.endswith((":", ".", ",", ";")):
        return None
    return t


def bold_headings(blocks: list[Block], faq: bool = False) -> list[Block]:
    """Split bodies laid out as bold lines, each followed by its text, into sub-blocks one
    level down. Only bodies with at least two bold lines, at least one of them a question
    (or on a page known to be an FAQ), and not under a question heading (there bold lines
    are parts of an answer)."""
    out: list[Block] = []
    for b in blocks:
        if b.level > 0 and is_question_heading(b.title):
            out.append(b)
            continue
        fence: str | None = None
        at: list[tuple[int, str]] = []
        for k, (_, line) in enumerate(b.body):
            m = re.match(r"^\s*(`{3,}|~{3,})", line)
            if fence is None and m:
                fence = m.group(1)
            elif fence is not None and line.strip().startswith(fence):
                fence = None
            elif fence is None:
                t = _bold_line(b.body, k)
                if t is not None:
                    at.append((k, t))
        asks = any(cleanup.is_question(clean_question(t)) for _, t in at)
        if len(at) < 2 or not (asks or faq):
            out.append(b)
            continue
        head = Block(b.level, b.title, b.line, b.body[: at[0][0]], b.page, b.entry)
        out.append(head)
        for n, (k, t) in enumerate(at):
            end = at[n + 1][0] if n + 1 < len(at) else len(b.body)
            sub = Block(b.level + 1, t, b.body[k][0], b.body[k + 1 : end], b.page, entry=asks)
            out.append(sub)
    return out
