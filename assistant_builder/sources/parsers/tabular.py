"""CSV/TSV question/answer tables (spreadsheet exports, QnA Maker knowledge bases).

What real exports do that a naive reader trips over: a BOM, tabs in a ``.csv``, header rows
repeated mid-file (merged knowledge bases), line breaks written as a literal ``\\n``, quoted
cells spanning lines, a stray quote that would swallow the rest of the file, and many
question phrasings sharing one answer (they become one Pair with ``variants``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from assistant_builder.errors import IngestError

from . import cleanup
from .types import Pair, ParseResult, Skipped

_Q_NAMES = {
    "question", "questions", "q", "prompt", "query", "queries", "ask", "faq", "utterance",
    "utterances", "user", "input", "title", "frage", "pregunta", "question text",
    "faq question", "instruction", "subject", "topic question",
}  # fmt: skip
_A_NAMES = {
    "answer", "answers", "a", "response", "responses", "reply", "replies", "completion",
    "output", "assistant", "solution", "antwort", "respuesta", "answer text", "body",
    "faq answer", "content", "description",
}  # fmt: skip
# Columns with more phrasings of the row's question (chatbot knowledge-base exports), several
# to a cell separated by ";", "|" or line breaks.
_ALT_NAMES = {
    "alternate questions", "alternative questions", "alternates", "alternatives", "variants",
    "variations", "paraphrases", "other questions", "similar questions", "alt questions",
    "synonyms", "question variants", "alternate question", "utterance variants",
}  # fmt: skip
_ID_NAMES = {"qnaid", "qna_id", "id", "qid", "answer id", "answerid"}
_MAX_ROW_LINES = 200  # a "cell" longer than this is a stray quote eating the file


@dataclass
class _Row:
    line_start: int
    line_end: int
    cells: list[str]


@dataclass
class _Group:
    questions: list[str] = field(default_factory=list)
    answer: str = ""
    lines: list[int] = field(default_factory=list)
    line_end: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def _norm_header(cell: str) -> str:
    return re.sub(r"[\s_-]+", " ", cell.strip().strip("\ufeff").lower()).strip()


def sniff_delimiter(text: str, fmt: str) -> str:
    sample = "\n".join(text.split("\n")[:50])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;|")
        delim = str(dialect.delimiter)
    except csv.Error:
        delim = "\t" if fmt == "tsv" else ","
    # The sniffer can pick a delimiter that only occurs inside prose; a tab beats it.
    if fmt == "tsv" and "\t" in sample:
        return "\t"
    if delim != "\t" and sample.count("\t") >= sample.count("\n") and "\t" in sample:
        return "\t"
    return delim


def read_rows(text: str, delim: str, source: str) -> tuple[list[_Row], list[Skipped]]:
    """All rows with their physical line spans; unparseable rows become Skipped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    rows: list[_Row] = []
    skipped: list[Skipped] = []
    start = 0
    while start < len(lines):
        chunk = "\n".join(lines[start:]) + "\n"
        reader = csv.reader(io.StringIO(chunk, newline=""), delimiter=delim)
        prev = 0
        restart: int | None = None
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                skipped.append(Skipped(source, f"unreadable row: {exc}", start + prev + 1))
                prev = reader.line_num
                continue
            first, last = start + prev + 1, start + reader.line_num
            prev = reader.line_num
            if last - first + 1 > _MAX_ROW_LINES or (
                # At the end of the file even a two-line "cell" is a quote never closed.
                last >= len(lines) and last > first and _stray_quote(lines, first - 1)
            ):
                skipped.append(
                    Skipped(source, "unbalanced quote: row skipped, rest of file read again", first)
                )
                restart = first  # 0-based index of the line after the bad one
                break
            rows.append(_Row(first, last, cells))
        if restart is None:
            break
        start = restart
    return rows, skipped


def _stray_quote(lines: list[str], idx: int) -> bool:
    # An opening quote whose line has an odd number of quotes and no closing quote follows.
    return lines[idx].count('"') % 2 == 1 and sum(x.count('"') for x in lines[idx:]) % 2 == 1


# Without a column named like "question", at least this share of the rows must hold a question
# in one column; otherwise the table is not a Q/A table (a contact list, a price list).
_MIN_QUESTION_SHARE = 1 / 3


def _find_columns(rows: list[_Row], source: str) -> tuple[int, int, int | None, bool]:
    """(question col, answer col, id col, first row is a header); IngestError when no column
    holds questions."""
    header = [_norm_header(c) for c in rows[0].cells]
    q = next((i for i, h in enumerate(header) if h in _Q_NAMES), None)
    a = next((i for i, h in enumerate(header) if h in _A_NAMES and i != q), None)
    if q is not None and a is not None:
        ident = next((i for i, h in enumerate(header) if h in _ID_NAMES), None)
        return q, a, ident, True
    # No header names: choose by content. The question column is the one whose cells most
    # often end with "?"; the answer column the longest other one.
    data = rows[:200]
    width = max(len(r.cells) for r in data)
    if width < 2:
        raise IngestError(source, "only one column: a Q/A table needs a question and an answer")
    qscore = [0.0] * width
    length = [0.0] * width
    for r in data:
        for i, c in enumerate(r.cells):
            qscore[i] += c.strip().endswith("?") or cleanup.is_question(c)
            length[i] += len(c)
    named = next((i for i, h in enumerate(header) if h in _Q_NAMES), None)
    q = named if named is not None else max(range(width), key=lambda i: (qscore[i], -i))
    if named is None and qscore[q] < _MIN_QUESTION_SHARE * len(data):
        cols = ", ".join(repr(c.strip()[:30]) for c in rows[0].cells[:6])
        raise IngestError(
            source,
            f"no question column: no header names one (first row: {cols}) and few cells read "
            "as questions; name the columns 'question' and 'answer'",
            rows[0].line_start,
        )
    a = max((i for i in range(width) if i != q), key=lambda i: length[i])
    # A first row whose question cell is no question, above rows that hold questions, is a
    # header with unknown names: not a pair.
    first = rows[0].cells[q] if q < len(rows[0].cells) else ""
    header_row = named is not None or (len(rows) > 1 and not cleanup.is_question(first))
    return q, a, None, header_row


def parse_tabular(text: str, source: str, fmt: str) -> ParseResult:
    delim = sniff_delimiter(text, fmt)
    fmt = "tsv" if delim == "\t" else "csv"
    result = ParseResult(format=fmt)
    rows, result.skipped = read_rows(text, delim, source)
    rows = [r for r in rows if any(c.strip() for c in r.cells)]
    if not rows:
        result.skipped.append(Skipped(source, "no rows found"))
        return result
    qcol, acol, idcol, has_header = _find_columns(rows, source)
    header = [c.strip().strip("\ufeff") for c in rows[0].cells] if has_header else []
    alt_cols = {i for i, h in enumerate(header) if _norm_header(h) in _ALT_NAMES} - {qcol, acol}
    header_key = (
        (_norm_header(header[qcol]), _norm_header(header[acol]))
        if len(header) > max(qcol, acol)  # a short first row names no column
        else None
    )
    groups: dict[str, _Group] = {}
    joined: list[int] = []  # rows with more cells than the header, the extra ones kept
    for r in rows[1:] if has_header else rows:
        cells = r.cells
        # Merged exports repeat the header mid-file: not data, not an error.
        if (
            header_key
            and len(cells) > max(qcol, acol)
            and (_norm_header(cells[qcol]), _norm_header(cells[acol])) == header_key
        ):
            continue
        if len(cells) <= max(qcol, acol):
            result.skipped.append(
                Skipped(
                    source,
                    f"row has {len(cells)} column(s); question/answer need {max(qcol, acol) + 1}",
                    r.line_start,
                )
            )
            continue
        cells = _rejoined(cells, header, acol, delim)
        if cells is not r.cells:
            joined.append(r.line_start)
        question = _cell(cells[qcol])
        answer = _cell(cells[acol])
        if not question:
            result.skipped.append(Skipped(source, "row has an empty question", r.line_start))
            continue
        if not answer:
            result.skipped.append(
                Skipped(source, f"row has an empty answer: {question[:60]!r}", r.line_start)
            )
            continue
        ident = cells[idcol].strip() if idcol is not None and idcol < len(cells) else ""
        key = f"id:{ident}" if ident else "a:" + cleanup.norm_key(answer)
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(answer=answer)
            g.extra = _extras(header, cells, {qcol, acol, *alt_cols})
        for q in [question, *_alternates(cells, alt_cols)]:
            if cleanup.norm_key(q) not in {cleanup.norm_key(x) for x in g.questions}:
                g.questions.append(q)
        g.lines.append(r.line_start)
        g.line_end = max(g.line_end, r.line_end)
    result.notes.extend(_joined_note(source, joined, len(header)))
    for g in groups.values():
        # The first phrasing that reads as a question leads; "Contact customer support" is a
        # worse headline than "How do I contact support?" for the same answer.
        lead = next((q for q in g.questions if cleanup.is_question(q)), g.questions[0])
        g.questions.remove(lead)
        g.questions.insert(0, lead)
        extra: dict[str, object] = dict(g.extra)
        if len(g.lines) > 1:
            extra["lines"] = g.lines
        result.pairs.append(
            Pair(
                question=g.questions[0],
                answer=g.answer,
                source=source,
                format=fmt,
                line_start=g.lines[0],
                line_end=g.line_end,
                variants=g.questions[1:],
                extra=extra,
            )
        )
    return result


def _joined_note(source: str, joined: list[int], width: int) -> list[Skipped]:
    if not joined:
        return []
    lines = ", ".join(map(str, joined[:8])) + (", ..." if len(joined) > 8 else "")
    reason = (
        f"{len(joined)} row(s) with more cells than the header's {width} (lines "
        f"{lines}): the extra cells were joined back into the answer; quote such cells"
    )
    return [Skipped(source, reason, joined[0])]


def _rejoined(cells: list[str], header: list[str], acol: int, delim: str) -> list[str]:
    """An unquoted delimiter in the answer (the last column) splits it into extra cells: put
    them back rather than cut the answer short. ``cells`` itself when nothing was joined."""
    extra = cells[len(header) :] if header else []
    if acol != len(header) - 1 or not any(c.strip() for c in extra):
        return cells
    return [*cells[:acol], delim.join(cells[acol:]).rstrip(delim)]


def _cell(value: str) -> str:
    value = cleanup.unescape_literal_newlines(value.strip().strip("\ufeff"))
    if _BLOCK_HTML.search(value):
        # An answer exported from a rich-text editor: its paragraphs and lists must survive.
        from .html_markdown import fragment_to_markdown

        return fragment_to_markdown(value)
    if "<" in value or "&" in value:
        value = cleanup.clean_inline_html(value)
    return cleanup.tidy(value)


_BLOCK_HTML = re.compile(r"<(?:p|div|ul|ol|li|br|pre|table|h[1-6])\b[^>]*>", re.IGNORECASE)


def _alternates(cells: list[str], cols: set[int]) -> list[str]:
    out: list[str] = []
    for i in sorted(cols):
        if i < len(cells):
            raw = cleanup.unescape_literal_newlines(cells[i])
            out += [_cell(x) for x in re.split(r"[;|\n]", raw) if x.strip()]
    return out


def _extras(header: list[str], cells: list[str], used: set[int]) -> dict[str, str]:
    """Other non-empty columns (Source, Metadata, Prompts...) kept for provenance."""
    out: dict[str, str] = {}
    for i, name in enumerate(header):
        if i in used or i >= len(cells) or not name:
            continue
        value = cells[i].strip()
        if value and value not in ("[]", "{}"):
            out[_norm_header(name).replace(" ", "_")] = value
    return out
