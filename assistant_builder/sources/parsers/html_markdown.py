"""HTML elements to light Markdown: paragraphs, lists, code, links, emphasis, simple tables.

Used for answers found in HTML pages and for HTML inside JSON/CSV answers. bs4 is imported
by the callers' entry points only, so importing this module is cheap.
"""

from __future__ import annotations

import re
from typing import Any

from . import cleanup

BLOCK = {
    "p", "div", "section", "article", "main", "ul", "ol", "li", "pre", "blockquote", "table",
    "dl", "dt", "dd", "details", "summary", "figure", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "footer", "form", "fieldset", "address", "center", "tr", "thead", "tbody",
}  # fmt: skip
DROP = {"script", "style", "noscript", "template", "svg", "iframe", "object", "embed", "img",
        "picture", "video", "audio", "canvas", "map", "select", "input", "textarea", "link",
        "meta", "head", "title", "source", "track"}  # fmt: skip
_PH = "\x00{}\x00"
QUESTION_CLASS = re.compile(
    r"(?:^|[-_ ])(?:question|faq-?q|accordion-?(?:title|header|button|toggle|trigger))(?:$|[-_ ])",
    re.IGNORECASE,
)  # placeholder for finished code blocks, safe from whitespace folding


def _lang(tag: Any) -> str:
    classes = list(tag.get("class") or [])
    code = tag.find("code")
    if code is not None:
        classes += list(code.get("class") or [])
    for c in classes:
        m = re.match(r"(?:language|lang|highlight|brush:?)-?(\w[\w+#-]*)$", str(c))
        if m:
            return m.group(1)
    return ""


class Converter:
    """Renders one element tree; code blocks are kept aside so whitespace folding and
    entity handling never touch them."""

    def __init__(self) -> None:
        self.code: list[str] = []

    def render(self, node: Any) -> str:
        raw = self._children(node)
        return self.finish(raw)

    def finish(self, raw: str) -> str:
        raw = re.sub(r"[ \t]*\n[ \t]*\n\s*", "\n\n", raw)
        raw = re.sub(r"\n{3,}", "\n\n", raw)
        lines = [ln.rstrip() for ln in raw.split("\n")]
        text = "\n".join(lines).strip()
        text = re.sub("\x00(\\d+)\x00", lambda m: self.code[int(m.group(1))], text)
        return cleanup.tidy(text)

    def _children(self, node: Any) -> str:
        return "".join(self._node(c) for c in getattr(node, "children", []))

    def _node(self, node: Any) -> str:  # noqa: C901 - one branch per HTML element kind
        from bs4 import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction

        if isinstance(node, (Comment, Doctype, Declaration, ProcessingInstruction)):
            return ""
        if isinstance(node, NavigableString):
            return re.sub(r"\s+", " ", str(node))
        name = (node.name or "").lower()
        if name in DROP:
            return ""
        if name == "br":
            return "\n"
        if name == "hr":
            return "\n\n"
        if name == "pre":
            body = node.get_text().strip("\n")
            self.code.append(f"```{_lang(node)}\n{body}\n```")
            return "\n\n" + _PH.format(len(self.code) - 1) + "\n\n"
        question_class = QUESTION_CLASS.search(" ".join(node.get("class") or []))
        # Lists and tables render their own children: rendering them here too would double
        # the work at every nesting level (2^depth on nested lists).
        if name in ("ul", "ol") and not question_class:
            return "\n\n" + self._list(node, ordered=name == "ol") + "\n\n"
        if name == "table" and not question_class:
            return "\n\n" + self._table(node) + "\n\n"
        inner = self._children(node)
        if name == "button" or question_class:
            # accordion FAQs: the question sits in a button or a "faq-question" element
            q = inner.strip().strip("*").strip()
            if q and cleanup.is_question(q):
                return f"\n\n**{q}**\n\n"
        if name in ("code", "kbd", "samp", "tt"):
            t = node.get_text()
            return f"`{t.strip()}`" if t.strip() else ""
        if name in ("strong", "b"):
            return _wrap(inner, "**")
        if name in ("em", "i", "cite"):
            return _wrap(inner, "*")
        if name == "a":
            href = str(node.get("href") or "")
            text = inner.strip()
            if text and re.match(r"(?:https?|mailto):", href) and text != href:
                return f"[{text}]({href})"
            return inner
        if re.fullmatch(r"h[1-6]", name) or name in ("dt", "summary"):
            return f"\n\n**{inner.strip()}**\n\n" if inner.strip() else ""
        if name in ("ul", "ol"):
            return "\n\n" + self._list(node, ordered=name == "ol") + "\n\n"
        if name == "blockquote":
            body = self.finish(inner)
            return "\n\n" + "\n".join("> " + ln if ln else ">" for ln in body.split("\n")) + "\n\n"
        if name == "table":
            return "\n\n" + self._table(node) + "\n\n"
        if name in BLOCK:
            return "\n\n" + inner + "\n\n"
        return inner

    def _list(self, node: Any, ordered: bool) -> str:
        items: list[str] = []
        for n, li in enumerate(node.find_all("li", recursive=False), start=1):
            marker = f"{n}. " if ordered else "- "
            body = self.finish(self._children(li))
            lines = body.split("\n") if body else [""]
            pad = " " * len(marker)
            items.append(
                marker + lines[0] + "".join("\n" + (pad + x if x else "") for x in lines[1:])
            )
        return "\n".join(items)

    def _table(self, node: Any) -> str:
        rows = []
        # Only this table's own rows and cells: a nested table renders inside its cell.
        for tr in (r for r in node.find_all("tr") if r.find_parent("table") is node):
            cells = [
                self.finish(self._children(c)).replace("\n", " ")
                for c in tr.find_all(["td", "th"], recursive=False)
            ]
            if any(cells):
                rows.append("| " + " | ".join(cells) + " |")
        if len(rows) > 1:
            width = rows[0].count(" | ") + 1
            rows.insert(1, "|" + " --- |" * width)
        return "\n".join(rows)


def _wrap(inner: str, mark: str) -> str:
    s = inner.strip()
    if not s:
        return inner
    lead = " " if inner[:1].isspace() else ""
    trail = " " if inner[-1:].isspace() else ""
    return f"{lead}{mark}{s}{mark}{trail}"


def element_to_markdown(node: Any) -> str:
    return Converter().render(node)


def make_soup(html_text: str) -> Any:
    """bs4 with the stdlib parser (no lxml needed); its "looks like a filename" warning is
    noise for short snippets, which are normal input here."""
    import warnings

    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        return BeautifulSoup(html_text, "html.parser")


def fragment_to_markdown(html_text: str) -> str:
    """An HTML snippet (an answer cell, a JSON-LD answer) to Markdown."""
    return element_to_markdown(make_soup(html_text))
