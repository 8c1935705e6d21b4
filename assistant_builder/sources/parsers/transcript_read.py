"""Reading transcript exports (JSON, JSON Lines, CSV/TSV) into conversations; the shapes are
described in ``transcripts.py`` and ``helpdesk.py``."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from .helpdesk import intercom_conversations, looks_like_helpdesk, zendesk_tickets
from .textio import json_loads
from .transcripts import (
    CONV_KEYS,
    LIST_KEYS,
    ROLE_KEYS,
    TEXT_KEYS,
    Notices,
    Turn,
    _first,
    _low,
    assemble,
    attachment_count,
    is_conversation_record,
    is_message_row,
    role_of,
)
from .types import ParseResult, Skipped

Groups = list[tuple[str, list[Turn], str]]  # (conversation id, turns, provenance format)


def looks_like_transcript(text: str, fmt: str) -> bool:
    """Is this file a ticket/chat export rather than Q/A records?"""
    if fmt in ("csv", "tsv"):
        from .tabular import sniff_delimiter

        head = text[:16384].lstrip("\ufeff")
        header = next(csv.reader(io.StringIO(head), delimiter=sniff_delimiter(head, fmt)), [])
        return is_message_row({h.strip(): "x" for h in header})
    if fmt == "jsonl":
        recs = []
        for line in text[:65536].split("\n")[:5]:
            try:
                recs.append(json_loads(line))
            except ValueError:
                continue
        return any(_record_kind(r) for r in recs)
    if looks_like_helpdesk(text[:16384]):
        return True
    try:
        doc = json_loads(text)  # a depth limit, not a RecursionError, on hostile nesting
    except ValueError:
        return False
    return bool(_records(doc))


def _record_kind(rec: Any) -> str:
    if not isinstance(rec, dict):
        return ""
    if "conversation_parts" in rec:
        return "intercom"
    comments = rec.get("comments")
    if isinstance(comments, list) and any(
        isinstance(c, dict) and "author_id" in c for c in comments
    ):
        return "zendesk"
    if is_message_row(rec):
        return "message"
    if is_conversation_record(rec):
        return "conversation"
    return ""


def _records(doc: Any) -> list[dict[str, Any]]:
    """The message rows or conversation records of a JSON document (top level or one key)."""
    if isinstance(doc, dict):
        if _record_kind(doc):
            return [doc]
        for v in doc.values():
            if isinstance(v, list) and any(_record_kind(x) for x in v[:20]):
                return [x for x in v if isinstance(x, dict)]
        return []
    if isinstance(doc, list) and any(_record_kind(x) for x in doc[:20]):
        return [x for x in doc if isinstance(x, dict)]
    return []


def parse_transcripts(text: str, source: str, fmt: str) -> ParseResult:
    notices = Notices(source)
    result = ParseResult(format="transcript")
    if fmt in ("csv", "tsv"):
        groups = _from_rows(_csv_rows(text, fmt, notices), fmt, notices)
    elif fmt == "jsonl":
        groups = _from_jsonl(text, notices)
    else:
        groups = _from_json(text, notices)
    for conv_id, turns, kind in groups:
        conv = assemble(turns, conv_id, source, kind, notices)
        if conv is not None:
            result.conversations.append(conv)
    result.skipped = notices.skipped()
    if not groups:
        result.skipped.append(Skipped(source, "no conversations found in this transcript export"))
    return result


def _from_json(text: str, notices: Notices) -> Groups:
    try:
        doc = json_loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one document per line after all
            return _from_jsonl(text, notices)
        from assistant_builder.errors import IngestError

        raise IngestError(
            notices.source, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno
        ) from exc
    if looks_like_helpdesk(text[:16384]):
        z = [(c, t, "zendesk") for c, t in zendesk_tickets(doc)]
        i = [(c, t, "intercom") for c, t in intercom_conversations(doc)]
        if z or i:
            return _with_lines(z + i, text)
    rows: list[tuple[int | None, dict[str, Any]]] = [(None, r) for r in _records(doc)]
    return _with_lines(_from_rows(rows, "json", notices), text)


def _from_jsonl(text: str, notices: Notices) -> Groups:
    rows: list[tuple[int | None, dict[str, Any]]] = []
    groups: Groups = []
    for no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json_loads(line)
        except ValueError as exc:  # invalid, or nested deeper than the limit
            notices.add(f"invalid JSON line ({getattr(exc, 'msg', exc)}); left out", no)
            continue
        kind = _record_kind(rec)
        if kind in ("zendesk", "intercom"):
            read = zendesk_tickets if kind == "zendesk" else intercom_conversations
            for conv_id, turns in read(rec):
                groups.append((conv_id, [_at(t, no) for t in turns], kind))
        elif kind:
            rows.append((no, rec))
        else:
            notices.add("line is neither a message nor a conversation; left out", no)
    return groups + _from_rows(rows, "jsonl", notices)


def _at(t: Turn, line: int | None) -> Turn:
    t.line = line
    return t


def _from_rows(rows: list[tuple[int | None, dict[str, Any]]], fmt: str, notices: Notices) -> Groups:
    """Message rows grouped by their conversation key (in order of first appearance), and
    conversation records with their own list of turns."""
    by_conv: dict[str, list[Turn]] = {}
    groups: Groups = []
    for line, rec in rows:
        low = _low(rec)
        if is_message_row(rec):
            conv = str(_first(low, CONV_KEYS) or "")
            if not conv:
                notices.add("message without a conversation id; left out", line)
                continue
            by_conv.setdefault(conv, []).append(_turn(low, line))
        elif is_conversation_record(rec):
            turns = next(low[k] for k in LIST_KEYS if isinstance(low.get(k), list))
            conv = str(_first(low, ("id", "conversation_id", "ticket_id", "thread_id")) or "")
            conv = conv or f"{fmt}-{line or len(groups) + 1}"
            groups.append((conv, [_turn(_low(t), line) for t in turns if isinstance(t, dict)], fmt))
    return groups + [(c, t, fmt) for c, t in by_conv.items()]


def _turn(low: dict[str, Any], line: int | None) -> Turn:
    role = role_of(_first(low, ROLE_KEYS))
    internal = low.get("public") is False or any(
        low.get(k) in (True, "true", "1", 1, "yes")
        for k in ("internal", "is_internal", "private", "is_private")
    )
    if internal or str(low.get("visibility", "")).lower() == "internal":
        role = "note"
    n_att = attachment_count(low.get("attachments"))
    return Turn(role, _first(low, TEXT_KEYS) or "", line, n_att)


def _with_lines(groups: Groups, text: str) -> Groups:
    """Line numbers for a JSON document: where each turn's text first appears, moving on."""
    pos = 0
    for _c, turns, _k in groups:
        for t in turns:
            needle = json.dumps(str(t.text), ensure_ascii=False)[1:41] if t.text else ""
            at = text.find(needle, pos) if needle else -1
            if at >= 0:
                t.line = text.count("\n", 0, at) + 1
                pos = at
    return groups


def _csv_rows(text: str, fmt: str, notices: Notices) -> list[tuple[int | None, dict[str, Any]]]:
    from .tabular import sniff_delimiter

    delim = sniff_delimiter(text, fmt)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delim)
    rows: list[tuple[int | None, dict[str, Any]]] = []
    try:
        for rec in reader:
            clean = {k.strip(): v for k, v in rec.items() if isinstance(k, str)}
            extra = [c for c in rec.get(None) or [] if c.strip()]  # type: ignore[call-overload]
            last = (reader.fieldnames or [""])[-1].strip()
            if extra and last.lower() in TEXT_KEYS and isinstance(clean.get(last), str):
                # An unquoted delimiter in the text (the last column) split it: join it back.
                clean[last] = delim.join([clean[last], *extra])
                notices.add(
                    "row has more cells than the header: the extra cells were joined back "
                    "into the message text (quote cells that hold the delimiter)",
                    reader.line_num,
                )
            rows.append((reader.line_num, clean))
    except csv.Error as exc:  # what was read before is kept
        notices.add(
            f"unreadable CSV from here on ({exc}); the rows before it are kept", reader.line_num
        )
    return rows
