"""reStructuredText (plain docutils and Sphinx FAQs) to heading blocks with Markdown bodies.

No docutils dependency: a Sphinx FAQ uses roles and directives that plain docutils rejects,
and what is needed is readable Markdown, not a document tree. Headings are text lines with a
punctuation underline (optionally an overline); levels follow the order styles first appear,
as in docutils. Bodies: roles become readable text, ``code-block`` and ``::`` literal blocks
become fenced code, admonitions become "**Note:** ...", TOC/index/label markup is dropped.
"""

from __future__ import annotations

import re

from . import cleanup
from .structure import Block, Line, build
from .types import ParseResult

_ADORN = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}\s*$")
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:.-]+)::\s*(.*)$")
_EXPLICIT = re.compile(r"^(\s*)\.\.(?:\s|$)")
_CODE_DIRECTIVES = {"code-block", "code", "sourcecode", "ipython", "doctest", "testcode"}
_DROP_DIRECTIVES = {
    "toctree", "contents", "index", "highlight", "module", "currentmodule", "meta", "raw",
    "include", "sectnum", "tabularcolumns", "autosummary", "automodule", "autoclass",
    "autofunction", "image", "figure", "literalinclude", "only-toc", "role", "default-role",
    "title", "header", "footer", "target-notes", "moduleauthor", "sectionauthor", "codeauthor",
    "program", "py:module", "py:currentmodule", "glossary-toc", "spelling:word-list",
}  # fmt: skip
_ADMONITIONS = {
    "note": "Note", "warning": "Warning", "tip": "Tip", "important": "Important",
    "hint": "Hint", "caution": "Caution", "attention": "Attention", "danger": "Danger",
    "error": "Error", "seealso": "See also", "versionadded": "New in version",
    "versionchanged": "Changed in version", "deprecated": "Deprecated since version",
    "admonition": "", "todo": "To do",
}  # fmt: skip
_CODE_ROLES = {
    "func", "meth", "class", "attr", "mod", "obj", "data", "const", "exc", "command",
    "program", "option", "envvar", "file", "samp", "kbd", "code", "makevar", "keyword",
    "token", "literal", "type", "member", "macro", "var", "enum", "struct", "function",
    "method", "property", "opcode", "cmake", "setting", "confval", "dfn-code",
}  # fmt: skip
_ROLE = re.compile(r":(?:[\w-]+:)?([\w-]+):`((?:[^`\\]|\\.)+)`")


def parse_rst(text: str, source: str, faq_hint: bool = False) -> ParseResult:
    lines = [ln.expandtabs(8).rstrip() for ln in text.split("\n")]
    blocks = to_blocks(lines)
    built = build(blocks, source=source, fmt="rst", faq_hint=faq_hint)
    return ParseResult(
        format="rst", pairs=built.pairs, sections=built.sections, skipped=built.skipped
    )


def find_headings(lines: list[str]) -> dict[int, tuple[str, int, str]]:
    """{title line index: (style, lines used above title, title text)}."""
    found: dict[int, tuple[str, int, str]] = {}
    i = 0
    while i < len(lines) - 1:
        title, under = lines[i], lines[i + 1]
        mu = _ADORN.match(under)
        if (
            mu
            and title.strip()
            and not title.startswith(" ")
            and not _ADORN.match(title)
            and not _EXPLICIT.match(title)
            and len(under.strip()) >= min(len(title.strip()), 4)
            and (i == 0 or not lines[i - 1].strip() or _ADORN.match(lines[i - 1]))
        ):
            over = i > 0 and lines[i - 1].strip() == under.strip()
            found[i] = (under[0] + ("o" if over else ""), 1 if over else 0, title.strip())
            i += 2
            continue
        i += 1
    return found


def to_blocks(lines: list[str]) -> list[Block]:
    heads = find_headings(lines)
    styles: list[str] = []
    blocks = [Block(level=0, title="", line=None)]
    raw: list[list[Line]] = [[]]
    skip: set[int] = set()
    for idx, (_style, over, _) in heads.items():
        skip.add(idx + 1)
        if over:
            skip.add(idx - 1)
    for i, line in enumerate(lines):
        if i in heads:
            style, _, title = heads[i]
            if style not in styles:
                styles.append(style)
            blocks.append(Block(level=styles.index(style) + 1, title=inline(title), line=i + 1))
            raw.append([])
        elif i not in skip:
            raw[-1].append((i + 1, line))
    # Docinfo fields (":tocdepth: 2", ":orphan:") before the first heading are metadata.
    raw[0] = [(n, t) for n, t in raw[0] if not re.match(r"^:[\w -]+:(?:\s.*)?$", t)]
    for b, body in zip(blocks, raw, strict=False):
        b.body = convert(body)
    return [b for b in blocks if b.level > 0 or any(t.strip() for _, t in b.body)]


def _indent(s: str) -> int:
    return len(s) - len(s.lstrip(" "))


def _take_indented(body: list[Line], k: int, base: int) -> tuple[list[Line], int]:
    """Lines after ``k`` indented deeper than ``base`` (blank lines included), dedented."""
    out: list[Line] = []
    while k < len(body):
        no, t = body[k]
        if t.strip() and _indent(t) <= base:
            break
        out.append((no, t))
        k += 1
    while out and not out[-1][1].strip():
        out.pop()
    widths = [_indent(t) for _, t in out if t.strip()]
    cut = min(widths) if widths else 0
    return [(n, t[cut:] if t.strip() else "") for n, t in out], k


def convert(body: list[Line]) -> list[Line]:  # noqa: C901, PLR0915 - one pass of the reST line grammar
    """RST body lines to Markdown lines, keeping source line numbers."""
    out: list[Line] = []
    k = 0
    literal_next = False
    while k < len(body):
        no, line = body[k]
        m = _DIRECTIVE.match(line)
        if m:
            base, name, arg = len(m.group(1)), m.group(2).lower(), m.group(3).strip()
            content, k = _take_indented(body, k + 1, base)
            while content and re.match(r"^:[\w-]+:", content[0][1]):
                content.pop(0)  # directive options
            short = name.split(":")[-1]
            if short in _QA_DIRECTIVES or (short == "admonition" and cleanup.is_question(arg)):
                out += _qa_item(no, inline(arg), convert(content))
            elif short in _CODE_DIRECTIVES:
                out += [(no, "```" + arg.split()[0] if arg else "```")]
                out += [(n, t) for n, t in _trim(content)] + [(no, "```"), (None, "")]
            elif short in _ADMONITIONS:
                label = _ADMONITIONS[short]
                head = f"**{label}:** " if label else ""
                inner = convert(content)
                first = inline(arg)
                if short == "admonition":
                    head, first = f"**{inline(arg)}:** ", ""
                inner = _trim(inner)
                if not first and inner:  # "**Note:** first line of the content"
                    first = inner[0][1]
                    inner = inner[1:]
                out.append((no, (head + first).strip()))
                if inner:
                    out += inner
                out.append((None, ""))
            elif short == "rubric":
                out += [(no, f"**{inline(arg)}**"), (None, "")]
            elif name in _DROP_DIRECTIVES or short in _DROP_DIRECTIVES:
                pass
            else:  # unknown directive (only, container, class, ...): keep its content
                out += [*convert(content), (None, "")]
            literal_next = False
            continue
        if _EXPLICIT.match(line):  # comment, target, footnote, substitution definition
            _, k = _take_indented(body, k + 1, _indent(line))
            continue
        if literal_next and line.strip() and _indent(line) > 0:
            code, k = _take_indented(body, k, 0)
            out += [(no, "```"), *code, (code[-1][0] if code else no, "```"), (None, "")]
            literal_next = False
            continue
        if _is_term(body, k):
            content, k = _take_indented(body, k + 1, _indent(line))
            out += _qa_item(no, inline(line.strip()), convert(content))
            literal_next = False
            continue
        if line.strip():
            literal_next = False
        if line.rstrip().endswith("::"):
            literal_next = True
            stripped = line.rstrip()
            if stripped.strip() == "::":
                line = ""
            elif stripped.endswith(" ::"):
                line = stripped[:-3]
            else:
                line = stripped[:-1]
        out.append((no, _list_marker(inline(line))))
        k += 1
    return _dedent_quotes(out)


# Directives whose title is a question and whose content answers it: ``topic``, and the
# collapsible blocks of sphinx-design (``dropdown``) and sphinx-togglebutton (``toggle``).
_QA_DIRECTIVES = {"topic", "dropdown", "toggle", "collapse", "details"}


def _qa_item(no: int | None, title: str, content: list[Line]) -> list[Line]:
    """A titled block as a ``<details>`` item (the shared Q/A widget the structure step
    splits into a pair) when its title asks something; otherwise a bold title and its text."""
    content = _trim(content)
    if not title:
        return [*content, (None, "")]
    if cleanup.is_question(title):
        last = content[-1][0] if content else no
        return [(no, f"<details><summary>{title}</summary>"), (None, ""), *content,
                (None, ""), (last, "</details>"), (None, "")]  # fmt: skip
    return [(no, f"**{title}**"), (None, ""), *content, (None, "")]


def _is_term(body: list[Line], k: int) -> bool:
    """A definition-list term: one unindented line right above more deeply indented lines
    (reST has no other construct shaped like that), not a list item or a literal intro."""
    line = body[k][1]
    if not line.strip() or k + 1 >= len(body) or line.rstrip().endswith("::"):
        return False
    if k > 0 and body[k - 1][1].strip():
        return False
    nxt = body[k + 1][1]
    if not nxt.strip() or _indent(nxt) <= _indent(line):
        return False
    return not re.match(r"^\s*(?:[-*+•]|\d+[.)]|#\.|\(?[a-z\d]+\))\s", line)


def _trim(lines: list[Line]) -> list[Line]:
    while lines and not lines[0][1].strip():
        lines = lines[1:]
    return lines


def _list_marker(line: str) -> str:
    return re.sub(r"^(\s*)#\.(\s)", r"\g<1>1.\2", line)


def _dedent_quotes(lines: list[Line]) -> list[Line]:
    """Indented paragraphs outside lists and code (block quotes, definitions) are dedented,
    so Markdown does not read them as code."""
    out: list[Line] = []
    in_code = False
    in_list = False
    for no, t in lines:
        if t.startswith("```"):
            in_code = not in_code
        elif not in_code:
            if re.match(r"^\s*(?:[-*+]|\d+\.)\s", t) and not t.startswith("    "):
                in_list = True
            elif t.strip() and not t.startswith(" "):
                in_list = False
            if t.startswith(" ") and not in_list:
                t = t.lstrip()
        out.append((no, t))
    return out


def inline(text: str) -> str:
    """RST inline markup to Markdown: roles, literals, references, substitutions."""
    parts = re.split(r"(``.+?``)", text)
    out = []
    for i, p in enumerate(parts):
        if i % 2:
            inner = p[2:-2]
            out.append(f"`` {inner} ``" if "`" in inner else f"`{inner}`")
        else:
            out.append(_inline_plain(p))
    return "".join(out)


def _role(m: re.Match[str]) -> str:
    role, body = m.group(1).lower(), m.group(2).replace("\\`", "`")
    target = re.match(r"^(.*?)\s*<([^<>]+)>$", body, re.DOTALL)
    if target and target.group(1).strip():
        label = target.group(1).strip()
    elif target:
        label = target.group(2).strip()
    else:
        label = body.strip()
        if label.startswith("~"):
            label = label[1:].split(".")[-1]
        label = label.lstrip("!")
        if role == "ref":
            label = re.sub(r"[-_]+", " ", label)
        elif role == "doc":
            label = label.rstrip("/").split("/")[-1]
    if role == "pep":
        return f"PEP {label}"
    if role == "rfc":
        return f"RFC {label}"
    if role == "menuselection":
        return label.replace("-->", "→")
    if role == "guilabel":
        return label.replace("&", "")
    if role == "abbr":
        return re.sub(r"\s*\(.*\)$", "", label)
    if role in _CODE_ROLES:
        return f"`{label}`"
    return label


def _inline_plain(text: str) -> str:
    # Roles first, parked in placeholders so the rules for plain backticks below cannot
    # touch the code spans they produce.
    done: list[str] = []

    def park(m: re.Match[str]) -> str:
        done.append(_role(m))
        return f"\x01{len(done) - 1}\x01"

    text = _ROLE.sub(park, text)
    text = _inline_refs(text)
    return re.sub("\x01(\\d+)\x01", lambda m: done[int(m.group(1))], text)


def _inline_refs(text: str) -> str:
    # `text <url>`_ / `text <url>`__ hyperlinks; `text`_ references
    def link(m: re.Match[str]) -> str:
        label, url = m.group(1).strip(), m.group(2).strip()
        if re.match(r"(?:https?|mailto|ftp):", url):
            return f"[{label}]({url})" if label else url
        return label or url

    text = re.sub(r"`([^`<]*?)\s*<([^<>`]+)>`__?", link, text)
    text = re.sub(r"`([^`]+)`__?", r"\1", text)
    text = re.sub(r"`([^`]+)`", r"*\1*", text)  # default role: usually a title or term
    text = re.sub(r"\s*\[(?:#[\w-]*|\*|\d+)\]_", "", text)  # footnote references
    text = re.sub(r"\b([A-Za-z][\w-]*)__?(?=[\s.,;:!?)]|$)", r"\1", text)
    text = re.sub(r"\|([^|\s][^|]*)\|_{0,2}", r"\1", text)  # substitutions
    return re.sub(r"\\([*`_|\\])", r"\1", text)
