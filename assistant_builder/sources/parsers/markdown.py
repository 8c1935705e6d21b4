"""Markdown (CommonMark/GFM, kramdown and Jekyll flavours) to heading blocks.

A line scanner rather than a full Markdown parser: what matters here is where headings are
(never inside fenced code), the source line of everything, and leaving the body as Markdown.
Indented code blocks become fenced ones so answers render the same everywhere.
"""

from __future__ import annotations

import re

from . import cleanup
from .structure import Block, Line, build
from .types import ParseResult

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HTML_H = re.compile(r"^\s*<h([1-6])\b[^>]*>(.*?)</h\1\s*>\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[*+-]|\d{1,9}[.)])(?:[ \t]+|$)")
_HR = re.compile(r"^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")


def front_matter(lines: list[str]) -> tuple[int, str]:
    """Length in lines of a YAML (``---``) or TOML (``+++``) front matter block, and its title."""
    if not lines or lines[0].strip() not in ("---", "+++"):
        return 0, ""
    mark = lines[0].strip()
    for i in range(1, min(len(lines), 300)):
        if lines[i].strip() == mark or (mark == "---" and lines[i].strip() == "..."):
            title = ""
            for raw in lines[1:i]:
                m = re.match(r"^title\s*[:=]\s*(.+?)\s*$", raw)
                if m:
                    title = m.group(1).strip().strip("\"'")
            return i + 1, title
    return 0, ""


def _blank_comments(text: str) -> str:
    # Keep the line count so that line numbers still match the file.
    return re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.DOTALL)


def parse_markdown(text: str, source: str, faq_hint: bool = False) -> ParseResult:
    lines = text.split("\n")
    fm_len, title = front_matter(lines)
    lines = [""] * fm_len + lines[fm_len:]
    lines = _blank_comments("\n".join(lines)).split("\n")
    lines = cleanup.strip_site_markers(lines)
    blocks = to_blocks(lines)
    built = build(blocks, source=source, fmt="markdown", page_title=title, faq_hint=faq_hint)
    return ParseResult(
        format="markdown", pairs=built.pairs, sections=built.sections, skipped=built.skipped
    )


def to_blocks(lines: list[str], first_line: int = 1) -> list[Block]:
    """Split Markdown lines into heading blocks; line numbers start at ``first_line``."""
    blocks = [Block(level=0, title="", line=None)]
    fence: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        no = i + first_line
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
        else:
            heading = _heading_at(lines, i)
            if heading is not None:
                level, title, used = heading
                if used == 2:
                    # the setext title line was already added to the previous body
                    blocks[-1].body.pop()
                blocks.append(Block(level=level, title=title, line=no - (used - 1)))
                i += 1
                continue
        blocks[-1].body.append((no, line))
        i += 1
    for b in blocks:
        b.body = fence_indented(b.body)
    return [b for b in blocks if b.level > 0 or any(t.strip() for _, t in b.body)]


def _heading_at(lines: list[str], i: int) -> tuple[int, str, int] | None:
    """(level, title, lines used: 1 for ATX/HTML, 2 when line i underlines line i-1)."""
    line = lines[i]
    m = _ATX.match(line)
    if m and not line.lstrip().startswith("#!"):
        return len(m.group(1)), (m.group(2) or "").strip(), 1
    m = _HTML_H.match(line)
    if m:
        return int(m.group(1)), m.group(2).strip(), 1
    m = _SETEXT.match(line)
    if m and i > 0:
        prev = lines[i - 1]
        before = lines[i - 2] if i > 1 else ""
        if (
            prev.strip()
            and not before.strip()
            and not _LIST_ITEM.match(prev)
            and not prev.startswith(("    ", "\t", ">", "|"))
            and not _HR.match(prev)
            and not _FENCE.match(prev)
        ):
            return (1 if m.group(1)[0] == "=" else 2), prev.strip(), 2
    return None


def fence_indented(body: list[Line]) -> list[Line]:
    """Turn indented code blocks into fenced blocks; list continuations stay as they are.

    Horizontal rules are dropped: in a chat answer they are noise.
    """
    out: list[Line] = []
    in_list = False
    fence: str | None = None
    prev_blank = True
    k = 0
    while k < len(body):
        no, line = body[k]
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            out.append((no, line))
            k += 1
            continue
        indented = line.startswith(("    ", "\t"))
        if fence is None and indented and prev_blank and not in_list and line.strip():
            code: list[Line] = []
            while k < len(body):
                cno, cline = body[k]
                if cline.startswith(("    ", "\t")):
                    code.append((cno, cline[4:] if cline.startswith("    ") else cline[1:]))
                elif not cline.strip():
                    code.append((cno, ""))
                else:
                    break
                k += 1
            while code and not code[-1][1].strip():
                code.pop()
            lang = _guess_lang([t for _, t in code])
            out.append((code[0][0], "```" + lang))
            out.extend(code)
            out.append((code[-1][0], "```"))
            out.append((None, ""))
            prev_blank = True
            continue
        if fence is None and _HR.match(line) and prev_blank:
            k += 1
            continue
        if _LIST_ITEM.match(line):
            in_list = True
        elif line.strip() and not line.startswith((" ", "\t")):
            in_list = False
        out.append((no, line))
        prev_blank = not line.strip()
        k += 1
    return out


def _guess_lang(code: list[str]) -> str:
    # Indented blocks carry no language; shell commands are by far the most common in FAQs.
    first = next((c.strip() for c in code if c.strip()), "")
    if re.match(r"^(?:\$ |sudo |brew |pip |npm |git |export |cd |apt(?:-get)? |curl )", first):
        return "sh"
    return ""
