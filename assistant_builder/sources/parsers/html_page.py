"""HTML pages and fragments (help centres, saved FAQ pages) to Pairs and Sections.

Steps: drop page chrome (nav, header, footer, scripts, cookie banners, "was this helpful"),
pick the main content, walk it in document order cutting at h1-h6 headings, and render the
bodies as Markdown. Q/A widgets that are not headings (``dt``/``dd``, ``<details>``, list
items that start with a question, accordion buttons) are rendered as ``<details>`` blocks,
which ``structure.split_inline_qa`` turns into pairs with exact boundaries. When the visible
page yields no pairs, schema.org FAQPage JSON-LD (common on real FAQ pages) is used.
"""

from __future__ import annotations

import re
from typing import Any

from assistant_builder.errors import IngestError

from . import cleanup
from .html_markdown import DROP, QUESTION_CLASS, Converter, make_soup
from .structure import Block, Line, build, looks_like_faq_title
from .textio import json_loads
from .types import ParseResult

_CHROME_TAGS = ["nav", "header", "footer", "aside", "form", "script", "style", "noscript",
                "template", "svg", "iframe", "select", "input", "textarea"]  # fmt: skip
_CHROME_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary", "dialog"}
_CHROME_TOKENS = {
    "nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "sidebar", "cookie",
    "cookies", "consent", "gdpr", "skip", "share", "social", "vote", "votes", "feedback",
    "helpful", "rating", "related", "comments", "comment", "footer", "masthead", "banner",
    "subscribe", "newsletter", "pagination", "pager", "toc", "advert", "ads", "promo",
    "leftbar", "rightbar", "topbar", "menubar", "toolbar", "sidenav", "topnav", "sitenav",
    "search", "searchbox", "widget", "widgets", "sitemap", "meta", "author", "byline",
}  # fmt: skip
# A list or table whose text is mostly link text is a menu ("Quick links", "Related pages"),
# however it is marked up; FAQ answers are prose with an occasional link.
_LINK_LIST_DENSITY = 0.7
_LINK_LIST_MIN_LINKS = 3
_HEADING = re.compile(r"^h[1-6]$")


def _tokens(tag: Any) -> set[str]:
    attrs = " ".join([*(tag.get("class") or []), str(tag.get("id") or "")]).lower()
    return {t for t in re.split(r"[-_\s]+", attrs) if t}


def _strip_chrome(root: Any) -> None:
    for tag in root.find_all(_CHROME_TAGS):
        if tag.name == "header" and tag.find_parent(["article", "main", "section"]):
            continue  # an article's own header holds its title, not site chrome
        tag.decompose()
    for tag in root.find_all(True):
        if tag.decomposed or getattr(tag, "attrs", None) is None:
            continue  # inside something removed already
        role = str(tag.get("role") or "").lower()
        # Accordion FAQs put the question in a <button>; other buttons are UI.
        if (
            role in _CHROME_ROLES
            or (_tokens(tag) & _CHROME_TOKENS and not tag.find(_HEADING))
            or (tag.name == "button" and not cleanup.is_question(tag.get_text(" ", strip=True)))
        ):
            tag.decompose()
    _strip_link_lists(root)


def _strip_link_lists(root: Any) -> None:
    """Remove link menus (and the heading right above one, its title): lists and tables
    whose text is mostly links."""
    for tag in root.find_all(["ul", "ol", "menu", "table"]):
        if tag.decomposed or getattr(tag, "attrs", None) is None:
            continue
        links = tag.find_all("a")
        if len(links) < _LINK_LIST_MIN_LINKS:
            continue
        text = len(tag.get_text("", strip=True))
        linked = sum(len(a.get_text("", strip=True)) for a in links)
        if text == 0 or linked < _LINK_LIST_DENSITY * text:
            continue
        title = tag.find_previous_sibling(True)
        if title is not None and _HEADING.match(title.name or ""):
            title.decompose()
        tag.decompose()


# Real pages nest a few dozen elements deep; the walkers below recurse per level.
MAX_HTML_DEPTH = 150


def _check_depth(soup: Any, source: str) -> None:
    """IngestError for markup nested deeper than any page a person reads."""
    from bs4 import Tag

    depth: dict[int, int] = {id(soup): 0}
    for tag in soup.descendants:
        if isinstance(tag, Tag):
            d = depth[id(tag)] = depth.get(id(tag.parent), 0) + 1
            if d > MAX_HTML_DEPTH:
                line = f" (line {tag.sourceline})" if tag.sourceline else ""
                raise IngestError(
                    source, f"HTML nested deeper than {MAX_HTML_DEPTH} elements{line}"
                )


def _main(soup: Any) -> Any:
    for sel in ("main", "article", "[role=main]", "#content", ".content", "#main", "body"):
        found = soup.select(sel)
        if found:
            return max(found, key=lambda t: len(t.get_text()))
    return soup


def parse_html(text: str, source: str, faq_hint: bool = False) -> ParseResult:
    soup = make_soup(text)
    _check_depth(soup, source)
    ld = _json_ld(soup)
    title_tag = soup.find("title")
    page_title = title_tag.get_text(" ", strip=True) if title_tag else ""
    faq_page = (
        faq_hint
        or looks_like_faq_title(page_title)
        or any(str(_low(x).get("type", "")).lower() == "faqpage" for x in ld)
    )
    _strip_chrome(soup)
    walker = _Walker(faq_page)
    walker.walk(_main(soup))
    built = build(
        walker.blocks, source=source, fmt="html", page_title=page_title, faq_hint=faq_page
    )
    result = ParseResult(
        format="html", pairs=built.pairs, sections=built.sections, skipped=built.skipped
    )
    if not result.pairs and ld:
        _add_json_ld(result, ld, source, text)
    return result


def _low(d: Any) -> dict[str, Any]:
    return {str(k).lstrip("@").lower(): v for k, v in d.items()} if isinstance(d, dict) else {}


def _json_ld(soup: Any) -> list[Any]:
    out: list[Any] = []
    for s in soup.find_all("script", attrs={"type": "application/ld+json"}):
        try:
            data = json_loads(s.string or "")
        except ValueError:
            continue
        items = data if isinstance(data, list) else [data]
        for it in items:
            graph = _low(it).get("graph")
            out.extend(graph if isinstance(graph, list) else [it])
    return out


def _add_json_ld(result: ParseResult, ld: list[Any], source: str, text: str) -> None:
    from .json_records import _add, _Locator, find_records

    loc = _Locator(text)  # each question's line in the page's own JSON-LD block
    for item in ld:
        if str(_low(item).get("type", "")).lower() != "faqpage":
            continue
        for rec in find_records(item) or []:
            _add(result, rec, source, "html", None, loc)
    for p in result.pairs:
        p.extra["from"] = "json-ld"


class _Walker:
    """Flattens the content tree into heading Blocks with Markdown bodies."""

    def __init__(self, faq_page: bool) -> None:
        self.faq_page = faq_page
        self.blocks: list[Block] = [Block(level=0, title="", line=None)]

    def add(self, md: str, start: int | None, end: int | None) -> None:
        if not md.strip():
            return
        lines = md.split("\n")
        body: list[Line] = [(start, x) for x in lines[:-1]] + [(end or start, lines[-1])]
        body.append((None, ""))
        self.blocks[-1].body.extend(body)

    def walk(self, node: Any) -> None:
        from bs4 import NavigableString, Tag

        inline: list[Any] = []  # runs of inline content between blocks form one paragraph

        def flush() -> None:
            if inline:
                conv = Converter()
                md = conv.finish("".join(conv._node(x) for x in inline))
                first = next((x.sourceline for x in inline if isinstance(x, Tag)), None)
                self.add(md, first, first)
                inline.clear()

        for child in list(node.children):
            if isinstance(child, NavigableString) or not isinstance(child, Tag):
                inline.append(child)
                continue
            name = child.name.lower()
            if name in DROP:
                continue
            if _HEADING.match(name):
                flush()
                title = Converter().render(child).replace("\n", " ")
                if title:
                    self.blocks.append(
                        Block(level=int(name[1]), title=title, line=child.sourceline)
                    )
                continue
            qa = self._qa_widget(child)
            if qa is not None:
                flush()
                self.add(qa, child.sourceline, _last_line(child))
                continue
            if (
                child.find(_HEADING) is not None
                or child.find(["details", "dl"]) is not None
                or child.find(_is_microdata_question) is not None
            ):
                flush()
                self.walk(child)
                continue
            if name in _CONTAINERS and child.find(_BLOCKISH, recursive=False) is not None:
                # A wrapper of paragraphs: walked, so each keeps its own source line.
                flush()
                self.walk(child)
                continue
            if name in _BLOCKISH:
                flush()
                self.add(Converter().render(_Holder(child)), child.sourceline, _last_line(child))
            else:
                inline.append(child)
        flush()

    def _qa_widget(self, tag: Any) -> str | None:
        """Markdown ``<details>`` blocks for Q/A widgets, or None if ``tag`` is not one."""
        name = tag.name.lower()
        items: list[tuple[str, str]] = []
        if _is_microdata_question(tag):
            found = _microdata_item(tag)
            if found is None:
                return None
            items.append(found)
        elif name == "details":
            summary = tag.find("summary")
            if summary is None:
                return None
            q = Converter().render(summary).replace("\n", " ")
            summary.extract()
            items.append((q, Converter().render(tag)))
        elif name == "dl":
            for dt in tag.find_all("dt"):
                parts = []
                for sib in dt.find_next_siblings():
                    if sib.name == "dt":
                        break
                    if sib.name == "dd":
                        parts.append(Converter().render(sib))
                items.append((Converter().render(dt).replace("\n", " "), "\n\n".join(parts)))
        elif name in ("ul", "ol"):
            lis = tag.find_all("li", recursive=False)
            split = [_split_li(li) for li in lis]
            if not lis or sum(s is not None for s in split) * 2 < len(lis):
                return None
            items = [s for s in split if s is not None]
        elif QUESTION_CLASS.search(" ".join(tag.get("class") or [])) or name == "button":
            q = Converter().render(tag).replace("\n", " ").strip("* ")
            if not cleanup.is_question(q):
                return None
            return f"**{q}**" if q.endswith("?") else f"**Q: {q}**"
        else:
            return None
        marked = _is_microdata_question(tag)  # the page itself says it is a question
        if not items or not (
            marked or self.faq_page or any(cleanup.is_question(q) for q, _ in items)
        ):
            return None
        return "\n\n".join(
            f"<details><summary>{q}</summary>\n\n{a}\n\n</details>" for q, a in items
        )


class _Holder:
    """Lets ``Converter.render`` (which renders children) render one element itself."""

    def __init__(self, tag: Any) -> None:
        self.children = [tag]


_CONTAINERS = {"div", "section", "article", "main", "center"}
_BLOCKISH = {
    "p", "div", "section", "article", "main", "ul", "ol", "pre", "blockquote", "table",
    "figure", "hr", "center", "address", "fieldset", "details", "dl",
}  # fmt: skip


def _itemprops(tag: Any) -> set[str]:
    return {x.lower() for x in str(tag.get("itemprop") or "").split()}


def _is_microdata_question(tag: Any) -> bool:
    """A schema.org Question in microdata (``itemprop="mainEntity"`` on an FAQPage, or an
    ``itemtype`` of Question): the page marks its own Q/A, more reliably than any layout."""
    if not hasattr(tag, "get"):
        return False
    itemtype = str(tag.get("itemtype") or "").rstrip("/").lower()
    return itemtype.endswith("schema.org/question") or (
        "mainentity" in _itemprops(tag) and tag.has_attr("itemscope")
    )


def _microdata_item(tag: Any) -> tuple[str, str] | None:
    name = tag.find(lambda t: "name" in _itemprops(t))
    answer = tag.find(lambda t: _itemprops(t) & {"acceptedanswer", "suggestedanswer"})
    if name is None or answer is None:
        return None
    text = answer.find(lambda t: "text" in _itemprops(t)) or answer
    q = Converter().render(_Holder(name)).replace("\n", " ").strip("* ")
    a = Converter().render(text)
    return (q, a) if q and a else None


def _split_li(li: Any) -> tuple[str, str] | None:
    """A list item that opens with a question (bold, heading or first line) and continues."""
    first = next((c for c in li.children if str(c).strip()), None)
    if first is None or getattr(first, "name", None) not in (
        "strong",
        "b",
        "h3",
        "h4",
        "h5",
        "p",
        "span",
        "a",
        "em",
    ):
        return None
    q = Converter().render(_Holder(first)).replace("\n", " ").strip("* ")
    if not cleanup.is_question(q):
        return None
    rest = [c for c in li.children if c is not first]
    conv = Converter()
    answer = conv.finish("".join(conv._node(c) for c in rest))
    return (q, answer) if answer else None


def _last_line(tag: Any) -> int | None:
    last = tag.sourceline
    for d in tag.find_all(True):
        if d.sourceline is not None and (last is None or d.sourceline > last):
            last = d.sourceline
    return last
