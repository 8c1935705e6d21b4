"""Text helpers shared by all parsers: what counts as a question, and removing markup debris.

Answers are Markdown. Code (fenced blocks and inline backticks) is never touched by the
cleanups here: ``<formula>`` or ``&amp;`` inside code is content, not markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

# Words that open a question in English FAQs. "My ..." and "I ..." open symptom questions
# ("My light won't turn on") which FAQ pages use as question headings.
_INTERROGATIVES = {
    "how", "what", "why", "can", "could", "do", "does", "did", "is", "are", "was", "were",
    "where", "when", "which", "who", "whom", "whose", "should", "will", "would", "may",
    "might", "must", "shall", "has", "have", "had", "am", "my", "isn't", "aren't", "doesn't",
    "don't", "can't", "won't", "wasn't", "what's", "where's", "who's", "how's", "why's",
}  # fmt: skip

_Q_PREFIX = re.compile(
    r"^\s*(?:\*\*|__)?\s*(?:Q(?:uestion)?\s*\d*\s*[:.)]|FAQ\s*\d*\s*[:.)])\s*(?:\*\*|__)?\s*",
    re.IGNORECASE,
)
_NUMBER_PREFIX = re.compile(r"^\s*(?:\(?\d+(?:\.\d+)*[.)]?|\(?[a-z][.)])\s+(?=\S)", re.IGNORECASE)


def strip_question_prefix(text: str) -> str:
    """Remove "Q:", "Question 3:", "1.2" style prefixes from a question."""
    text = _Q_PREFIX.sub("", text, count=1)
    return _NUMBER_PREFIX.sub("", text, count=1).strip()


def is_question(text: str) -> bool:
    """True when a heading or line reads as a question."""
    t = strip_question_prefix(plain_inline(text)).strip().strip("*_").strip()
    if not t or len(t) > 300:
        return False
    if t.rstrip(" \u00a0").endswith(("?", "？")):
        return True
    first = re.split(r"[\s,]+", t, maxsplit=1)[0].lower().replace("\u2019", "'")
    return first in _INTERROGATIVES


def plain_inline(text: str) -> str:
    """Inline Markdown to plain text, for comparisons (not for output)."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[`*_]", "", text).strip()


def norm_key(text: str) -> str:
    """A key for "is this the same question/answer": case, spacing, punctuation folded."""
    t = strip_question_prefix(plain_inline(text)).lower().replace("\u2019", "'")
    return re.sub(r"[\W_]+", " ", t).strip()


# --- code-aware substitution -------------------------------------------------------------

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")


def map_outside_code(text: str, fn: Callable[[str], str], spans: bool = True) -> str:
    """Apply ``fn`` to the parts of Markdown ``text`` outside fenced blocks and, unless
    ``spans`` is false, outside inline code."""
    out: list[str] = []
    buf: list[str] = []
    fence: str | None = None

    def flush() -> None:
        if buf:
            chunk = "\n".join(buf)
            out.append(_map_outside_spans(chunk, fn) if spans else fn(chunk))
            buf.clear()

    for line in text.split("\n"):
        m = _FENCE.match(line)
        if fence is None and m:
            flush()
            fence = m.group(2)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
                fence = None
        else:
            buf.append(line)
    flush()
    return "\n".join(out)


def _map_outside_spans(text: str, fn: Callable[[str], str]) -> str:
    parts = re.split(r"(`+[^`\n]*?`+)", text)
    return "".join(p if i % 2 else fn(p) for i, p in enumerate(parts))


# --- HTML debris inside Markdown -----------------------------------------------------------

_HTML_TAGS = (
    "a|abbr|b|big|br|center|cite|code|del|dfn|div|em|font|i|img|ins|kbd|mark|p|q|s|samp|small|"
    "span|strike|strong|sub|sup|tt|u|var|wbr|hr|section|article|figure|figcaption|picture|"
    "source|video|audio|iframe|object|embed|table|thead|tbody|tr|td|th|ul|ol|li|dl|dt|dd|"
    "details|summary|blockquote|pre|h[1-6]|header|footer|nav|aside|main|label|input|button"
)
_TAG = re.compile(rf"</?(?:{_HTML_TAGS})\b[^<>]*?/?>", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def strip_html_comments(text: str) -> str:
    return _COMMENT.sub("", text)


def clean_inline_html(text: str) -> str:
    """Known HTML tags inside Markdown become Markdown or vanish; entities are decoded.

    Only a fixed list of real HTML tag names is touched, so ``<formula>`` placeholders in
    prose survive.
    """

    def fix(part: str) -> str:
        part = re.sub(r"<br\s*/?>[ \t]*\n?", "\n", part, flags=re.IGNORECASE)
        part = re.sub(r"</?(?:strong|b)\s*>", "**", part, flags=re.IGNORECASE)
        part = re.sub(r"</?(?:em|i)\s*>", "*", part, flags=re.IGNORECASE)
        part = re.sub(r"</?(?:code|kbd|tt|samp)\s*>", "`", part, flags=re.IGNORECASE)
        part = re.sub(
            r"<a\s[^>]*href=[\"']?(https?://[^\"' >]+)[\"']?[^>]*>(.*?)</a>",
            r"[\2](\1)",
            part,
            flags=re.IGNORECASE | re.DOTALL,
        )
        part = _TAG.sub("", part)
        return _unescape(part)

    return map_outside_code(text, fix)


def _unescape(part: str) -> str:
    # Keep "&lt;formula&gt;" readable but do not turn "<" into something that looks like a tag
    # start for later passes: those passes ran already.
    return html.unescape(part) if "&" in part else part


# --- kramdown / Jekyll / Liquid markers ----------------------------------------------------

_KRAMDOWN_LINE = re.compile(r"^\s*\{:[^}]*\}\s*$|^\s*\{::[^}]*/?\}\s*$")
_KRAMDOWN_INLINE = re.compile(r"\s*\{:\s*[.#][^}]*\}|\s*\{#[\w-]+\}")
_LIQUID = re.compile(r"\{%-?.*?-?%\}", re.DOTALL)
_TOC_LIST = re.compile(r"^\s*[*+-]\s+(?:TOC|Table of Contents|Contents)\s*$", re.IGNORECASE)
_TOC_MARKERS = re.compile(r"^\s*(?:\[TOC\]|\[\[_TOC_\]\]|\[\[TOC\]\]|<!--\s*toc\s*-->)\s*$", re.I)


def strip_site_markers(lines: list[str]) -> list[str]:
    """Drop kramdown IALs and TOC markers, Liquid tags and TOC placeholder lines.

    A ``* Table of Contents`` list item is only a marker when ``{:toc}`` follows it.
    """
    out: list[str] = []
    for i, line in enumerate(lines):
        if _KRAMDOWN_LINE.match(line) or _TOC_MARKERS.match(line):
            out.append("")
            continue
        if _TOC_LIST.match(line):
            nxt = next((x for x in lines[i + 1 : i + 3] if x.strip()), "")
            if "{:toc}" in nxt.replace(" ", "") or "{:.toc}" in nxt.replace(" ", ""):
                out.append("")
                continue
        line = _KRAMDOWN_INLINE.sub("", line)
        line = _LIQUID.sub("", line)
        out.append(line)
    return out


# --- Markdown links ------------------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[([^\]\n]+)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")


def simplify_links(text: str) -> str:
    """Relative links and anchors mean nothing in a chat answer: keep only their text.

    Absolute http(s)/mailto links stay as Markdown links; images are dropped.
    """

    def link(m: re.Match[str]) -> str:
        label, target = m.group(1), m.group(2)
        if re.match(r"(?:https?|mailto|ftp):", target, re.IGNORECASE):
            return m.group(0)
        return label

    def fix(part: str) -> str:
        return _LINK.sub(link, _IMAGE.sub("", part))

    # Link labels may contain inline code, so only fenced blocks are protected here.
    return map_outside_code(text, fix, spans=False)


# --- whitespace ----------------------------------------------------------------------------


def tidy(text: str) -> str:
    """Trim trailing spaces, collapse runs of blank lines, strip outer blank lines.

    Blank lines inside fenced code are kept as they are.
    """
    out: list[str] = []
    blank = 0
    fence: str | None = None
    for line in text.split("\n"):
        line = line.replace("\u00a0", " ").rstrip()
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(2)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
            blank = 0
            out.append(line)
            continue
        if fence is None and not line.strip():
            blank += 1
            if blank > 1:
                continue
        else:
            blank = 0
        out.append(line)
    return "\n".join(out).strip("\n")


def dedent_lines(lines: list[str]) -> list[str]:
    """Remove the common leading indentation of the non-blank lines."""
    widths = [len(x) - len(x.lstrip(" ")) for x in lines if x.strip()]
    cut = min(widths) if widths else 0
    return [x[cut:] if x.strip() else "" for x in lines]


# --- templates -----------------------------------------------------------------------------

_HANDLEBARS = re.compile(r"\{\{[^{}]*\}\}")


def has_template(text: str) -> bool:
    """Handlebars/Mustache expressions: the text is filled in at run time, not a fixed answer."""
    return bool(_HANDLEBARS.search(text))


def unescape_literal_newlines(text: str) -> str:
    """Spreadsheet exports write line breaks as the two characters ``\\n``."""
    text = text.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\\t", "\t")
    return "\n".join(line.rstrip() for line in text.split("\n"))


def clean_markdown(text: str) -> str:
    """The full cleanup an extracted Markdown answer gets before it is stored."""
    text = strip_html_comments(text)
    text = "\n".join(strip_site_markers(text.split("\n")))
    text = clean_inline_html(text)
    text = simplify_links(text)
    return tidy(text)


# --- soft-wrapped paragraphs ---------------------------------------------------------------

_BLOCK_START = re.compile(
    r"^\s*(?:#{1,6}\s|[*+-]\s|\d{1,9}[.)]\s|>|\||<[A-Za-z!/]|(?:[-*_]\s*){3,}$|=+\s*$|\[\^?[^\]]+\]:)"
)
_NO_JOIN_AFTER = re.compile(r"^\s*(?:#{1,6}\s|\||<[A-Za-z!/]|(?:[-*_]\s*){3,}$|=+\s*$)")
_LIST_ITEM = re.compile(r"^\s*(?:[*+-]|\d{1,9}[.)])\s")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)+\|?\s*$")


def _table_rows(lines: list[str]) -> set[int]:
    """Indexes of the lines of pipe tables (the block around each ``|---|---|`` rule)."""
    rows: set[int] = set()
    for i, line in enumerate(lines):
        if not _TABLE_RULE.match(line):
            continue
        j = i
        while j > 0 and "|" in lines[j - 1] and lines[j - 1].strip():
            j -= 1
        k = i
        while k + 1 < len(lines) and "|" in lines[k + 1] and lines[k + 1].strip():
            k += 1
        rows.update(range(j, k + 1))
    return rows


def unwrap_paragraphs(text: str) -> str:  # noqa: PLR0915 - one pass of a line grammar
    """Join hard-wrapped paragraph lines, as Markdown renders them (a single newline inside a
    paragraph is a space). Fenced and indented code, lists (each item on its own line, its
    wrapped continuation joined), tables, headings, quotes, HTML blocks and blank-line
    paragraph breaks are kept. A line ending in a Markdown hard break (``\\``) stays a break.

    Why: sources wrapped at 80-100 columns would otherwise teach the model to emit newlines in
    the middle of sentences, and the wrap points are an accident of the editor, not content.
    """
    lines = text.split("\n")
    table = _table_rows(lines)
    out: list[str] = []
    fence: str | None = None
    joinable = False  # may the next line continue out[-1]?
    after_blank = True
    in_list = False
    indented_code = False
    for i, line in enumerate(lines):
        if fence is not None:
            out.append(line)
            if line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
                fence = None
            continue
        m = _FENCE.match(line)
        if m:
            fence = m.group(2)
            out.append(line)
            joinable = after_blank = False
            in_list = in_list and line[:1].isspace()
            continue
        if not line.strip():
            out.append("")
            joinable, after_blank, indented_code = False, True, False
            continue
        indent = len(line) - len(line.lstrip(" \t"))
        if indented_code or (after_blank and indent >= 4 and not in_list):
            # An indented code block runs until the next blank line.
            indented_code = True
            out.append(line)
            after_blank = False
            continue
        if i in table:
            out.append(line.rstrip())
            joinable = after_blank = in_list = False
            continue
        if _BLOCK_START.match(line):
            out.append(line.rstrip())
            joinable = not _NO_JOIN_AFTER.match(line)
            if _LIST_ITEM.match(line):
                in_list = True
            elif indent == 0:
                in_list = False
        elif joinable and out:
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line.rstrip())
            joinable = True
            if indent == 0 and after_blank:
                in_list = False
        if out[-1].endswith("\\") and not out[-1].endswith("\\\\"):
            joinable = False  # a Markdown hard line break
        after_blank = False
    return "\n".join(out)
