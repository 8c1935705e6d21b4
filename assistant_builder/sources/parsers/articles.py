"""Help-centre article exports (Zendesk Help Center, Intercom Articles, Freshdesk Solutions
APIs): the title asks, the body (Freshdesk: ``description``, its HTML body) answers; an
article whose body is itself an FAQ gives one pair per question."""

from __future__ import annotations

import re
from typing import Any

from .types import ParseResult

ARTICLE_TYPES = ("article", "solution_article", "kb_article")

_QA_MARKUP = re.compile(r"<(?:h[2-6]|summary|dt)\b", re.IGNORECASE)


def add_article_faq(
    result: ParseResult,
    title: str,
    body: str,
    source: str,
    fmt: str,
    at: int | None,
    extra: dict[str, Any],
) -> bool:
    """A help-centre article whose HTML body is itself an FAQ ("Shipping questions" with a
    heading per question): its questions, each with its own answer, under the title as
    context. False (nothing added) when the body holds fewer than two questions."""
    if len(_QA_MARKUP.findall(body)) < 2:
        return False
    from .html_page import parse_html
    from .structure import looks_like_faq_title

    inner = parse_html(body, source, faq_hint=looks_like_faq_title(title))
    if len(inner.pairs) < 2:
        return False
    for p in inner.pairs:
        path = [
            x for x in [*extra.get("heading_path", []), re.sub(r"\s+", " ", title).strip()] if x
        ]
        p.format, p.line_start, p.line_end = fmt, at, at
        p.extra = {**{k: v for k, v in extra.items() if k != "heading_path"}, "heading_path": path}
        result.pairs.append(p)
    return True


def is_draft(low: dict[str, Any]) -> bool:
    """An unpublished help-centre article: Zendesk ``draft``, Intercom ``state``, Freshdesk
    ``status`` 1 (2 is published)."""
    if low.get("draft") is True or str(low.get("state", "")).lower() == "draft":
        return True
    return "folderid" in low and low.get("status") == 1
