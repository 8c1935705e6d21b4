"""Which parser a file gets: its extension first, then a look at its content.

Extensions lie (a ``.txt`` that is reStructuredText, a ``.csv`` with tabs, a ``.json`` that is
JSON Lines, a PDF without extension), so content sniffing corrects them.
"""

from __future__ import annotations

import re
from pathlib import Path

from .textio import json_loads

EXTENSIONS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".mkd": "markdown",
    ".mdx": "markdown",
    ".rst": "rst",
    ".rest": "rst",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

SUPPORTED_EXTENSIONS: set[str] = set(EXTENSIONS)

_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}\s*$")
_RST_DIRECTIVE = re.compile(r"^\.\. (?:[\w:-]+::|_[\w -]+:|\|[^|]+\|)", re.MULTILINE)
_RST_ROLE = re.compile(r":(?:ref|doc|func|class|meth|mod|term|envvar|option):`")
_MD_ATX = re.compile(r"^#{1,6} \S", re.MULTILINE)
_MD_FENCE = re.compile(r"^```", re.MULTILINE)
_HTML_START = re.compile(r"^\s*(?:<!doctype html|<html\b|<head\b|<body\b)", re.IGNORECASE)
_HTML_TAG = re.compile(r"<(?:p|div|h[1-6]|ul|li|dl|dt|dd|details|section|article)\b", re.I)


def detect_format(path: Path, text_head: str) -> str:
    """Format name for ``path`` given the first few KB of its (decoded) content."""
    ext = path.suffix.lower()
    by_ext = EXTENSIONS.get(ext, "")
    head = text_head.lstrip("\ufeff")
    if head.startswith("%PDF-"):
        return "pdf"
    if by_ext in ("csv", "tsv"):
        return _delimited_kind(head, by_ext)
    if by_ext in ("json", "jsonl"):
        return _json_kind(head, by_ext)
    if by_ext in ("markdown", "rst", "html"):
        return by_ext
    # .txt, no extension or unknown: decide by content
    stripped = head.lstrip()
    if _HTML_START.match(head) or len(_HTML_TAG.findall(head)) >= 3:
        return "html"
    if stripped.startswith(("{", "[")):
        kind = _json_kind(head, "")
        if kind:
            return kind
    if rst_score(head) >= 2 and rst_score(head) > md_score(head):
        return "rst"
    if md_score(head) >= 2:
        return "markdown"
    return "text"


def rst_score(text: str) -> int:
    """How much ``text`` looks like reStructuredText (underlined titles, directives, roles)."""
    lines = text.split("\n")
    score = 0
    for i in range(1, len(lines)):
        m = _RST_UNDERLINE.match(lines[i])
        prev = lines[i - 1].strip()
        if m and prev and not _RST_UNDERLINE.match(prev) and len(lines[i].strip()) >= len(prev):
            score += 1
    score += len(_RST_DIRECTIVE.findall(text)) + len(_RST_ROLE.findall(text))
    return score


def md_score(text: str) -> int:
    return len(_MD_ATX.findall(text)) + len(_MD_FENCE.findall(text)) // 2


def _delimited_kind(head: str, by_ext: str) -> str:
    lines = [x for x in head.split("\n")[:20] if x.strip()]
    tabs = sum(x.count("\t") for x in lines)
    commas = sum(x.count(",") for x in lines)
    if tabs and tabs >= len(lines) and (by_ext == "tsv" or tabs * 2 >= commas):
        return "tsv"
    return "csv" if by_ext == "csv" or commas else by_ext


def _json_kind(head: str, by_ext: str) -> str:
    """ "jsonl" when the first lines are each a complete JSON value; otherwise "json"."""
    lines = [x.strip() for x in head.split("\n") if x.strip()]
    complete = 0
    for line in lines[:5]:
        try:
            json_loads(line)
        except ValueError:
            break
        complete += 1
    if complete >= 2 or (complete == 1 and len(lines) == 1 and by_ext == "jsonl"):
        return "jsonl"
    if complete == 1 and lines[0].startswith("{") and by_ext == "jsonl":
        return "jsonl"
    if lines and lines[0][:1] in "{[":
        return "json"
    return by_ext or ""
