"""JSON and JSON Lines: Q/A records from chatbot exports and fine-tuning datasets.

Recognised shapes (by their keys, wherever the list of records sits in the document):
AWS QnABot (``{"qna": [{"q": [...], "a": ...}]}``), QnA Maker (``questions``/``answer``),
OpenAI chat (``messages``), ShareGPT (``conversations``), Alpaca (``instruction``/``output``),
schema.org FAQPage JSON-LD, plain ``{"question": ..., "answer": ...}`` records and a flat
``{"question?": "answer"}`` mapping. Record problems are Skipped with a line number; only an
undecodable document is a whole-file error.
"""

from __future__ import annotations

import json
import re
from typing import Any

from assistant_builder.errors import IngestError

from . import cleanup
from .articles import ARTICLE_TYPES, add_article_faq, is_draft
from .textio import TooDeep, json_loads, line_of
from .types import Pair, ParseResult, Section, Skipped

_Q_KEYS = (
    "question",
    "q",
    "prompt",
    "query",
    "questions",
    "utterance",
    "title",
    "name",
    "ask",
    "faqquestion",
    "questiontext",
    "input",
    "frage",
    "pregunta",
)
_A_KEYS = ("answer", "a", "response", "reply", "completion", "output", "answers",
           "acceptedanswer", "text", "body", "content", "solution", "faqanswer",
           "answertext", "antwort", "respuesta")  # fmt: skip

_LIST_KEYS = ("qna", "qnadocuments", "qnalist", "faqs", "faq", "items", "data", "questions",
              "entries", "records", "pairs", "examples", "rows", "mainentity", "results",
              "knowledgebase", "documents")  # fmt: skip
_USER_ROLES = {"user", "human", "prompter", "customer", "question"}
_BOT_ROLES = {"assistant", "gpt", "bot", "chatgpt", "model", "ai", "agent", "answer", "gemini"}
_MAX_DEPTH = 6


class _Locator:
    """Finds the line of a record in the raw JSON text by searching for its question string,
    moving forward through the file (records appear in document order)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def find(self, needle: str) -> int | None:
        if not needle:
            return None
        for enc in (json.dumps(needle, ensure_ascii=False), json.dumps(needle)):
            at = self.text.find(enc, self.pos)
            if at >= 0:
                self.pos = at + 1
                return line_of(self.text, at)
        return None


def parse_json(text: str, source: str, fmt: str) -> ParseResult:
    if fmt == "jsonl":
        return _parse_jsonl(text, source)
    try:
        doc = json_loads(text)
    except TooDeep as exc:
        if text.strip().count("\n"):  # several lines: read them one by one, keep the good ones
            return _parse_jsonl(text, source)
        raise IngestError(source, f"JSON {exc}: not a question/answer file") from exc
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several documents, one per line: JSON Lines
            return _parse_jsonl(text, source)
        reason = f"invalid JSON: {exc.msg} (column {exc.colno})"
        raise IngestError(source, reason, exc.lineno) from exc
    result = ParseResult(format="json")
    records = find_records(doc)
    if records is None:
        result.skipped.append(Skipped(source, "no question/answer records found in this JSON"))
        return result
    loc = _Locator(text)
    for rec in records:
        _add(result, rec, source, "json", None, loc)
    return result


def _parse_jsonl(text: str, source: str) -> ParseResult:
    result = ParseResult(format="jsonl")
    for no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json_loads(line)
        except TooDeep as exc:
            result.skipped.append(Skipped(source, f"JSON line {exc}", no))
            continue
        except json.JSONDecodeError as exc:
            result.skipped.append(Skipped(source, f"invalid JSON line: {exc.msg}", no))
            continue
        inner = find_records(rec) if isinstance(rec, dict) and not _is_record(rec) else None
        for r in inner if inner else [rec]:
            _add(result, r, source, "jsonl", no, None)
    return result


# --- locating records ----------------------------------------------------------------------


def _lower_keys(d: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower().replace("_", "").replace("@", ""): v for k, v in d.items()}


def _is_record(d: dict[str, Any]) -> bool:
    k = _lower_keys(d)
    if "messages" in k or "conversations" in k or "instruction" in k:
        return True
    if str(k.get("type", "")).lower() in ("question", "text"):
        return True
    if "title" in k and "description" in k and ("descriptiontext" in k or "folderid" in k):
        return True  # a Freshdesk solution article
    return any(q in k for q in _Q_KEYS) and any(a in k for a in _A_KEYS if a != "text")


def find_records(doc: Any, depth: int = 0) -> list[Any] | None:
    """The list of records in ``doc``: known container keys first, then the largest list of
    record-like objects anywhere (shallow first)."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(doc, list):
        return _records_in_list(doc, depth)
    if not isinstance(doc, dict):
        return None
    return _records_in_dict(doc, depth)


def _records_in_list(doc: list[Any], depth: int) -> list[Any] | None:
    if any(isinstance(x, dict) and _is_record(x) for x in doc[:50]):
        return doc
    if doc and all(isinstance(x, list) and len(x) == 2 for x in doc[:50]):
        return doc  # [["question", "answer"], ...]
    # A list of groups (``[{"name": "Billing", "questions": [...]}, ...]``): the records of
    # every group, each tagged with its group's name, never only the first group's.
    if not any(find_records(x, depth + 1) for x in doc[:50]):
        return None
    out: list[Any] = []
    for x in doc:
        found = find_records(x, depth + 1)
        if found:
            name = _group_name(x)
            out.extend(_tagged(r, name) for r in found)
    return out or None


def _group_name(group: Any) -> str:
    if not isinstance(group, dict):
        return ""
    low = _lower_keys(group)
    for key in ("name", "title", "category", "section", "topic", "label"):
        if isinstance(low.get(key), str) and low[key].strip():
            return str(low[key]).strip()
    return ""


def _tagged(rec: Any, group: str) -> Any:
    if not group or not isinstance(rec, dict):
        return rec
    if any(k in _lower_keys(rec) for k in ("category", "topic", "section")):
        return rec
    return {**rec, "category": group}


def _records_in_dict(doc: dict[str, Any], depth: int) -> list[Any] | None:
    low = _lower_keys(doc)
    if str(low.get("type", "")).lower() == "faqpage" and "mainentity" in low:
        me = low["mainentity"]
        return me if isinstance(me, list) else [me]
    if _is_record(doc):
        return [doc]
    for key in _LIST_KEYS:
        val = low.get(key)
        if isinstance(val, list) and val:
            found = find_records(val, depth + 1)
            if found:
                return found
    best: list[Any] | None = None
    for val in doc.values():
        if isinstance(val, (list, dict)):
            found = find_records(val, depth + 1)
            if found and (best is None or len(found) > len(best)):
                best = found
    flat = best is None and doc and all(isinstance(v, str) for v in doc.values())
    if flat and sum(cleanup.is_question(str(k)) for k in doc) * 2 >= len(doc):
        return [[k, v] for k, v in doc.items()]  # {"question?": "answer", ...}
    return best


# --- one record ----------------------------------------------------------------------------


def _text_of(value: Any) -> str:
    """Strings, lists of strings/parts, or {"text": ...} objects to one string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return "\n\n".join(t for t in (_text_of(v) for v in value) if t.strip())
    if isinstance(value, dict):
        low = _lower_keys(value)
        for key in ("text", "value", "content", "answer", "markdown"):
            if key in low:
                return _text_of(low[key])
    return ""


def _clean_answer(text: str) -> str:
    if re.search(r"<(?:p|br|div|ul|ol|li|a|strong|em|b|i|code|pre|h[1-6])\b", text, re.I):
        from .html_markdown import fragment_to_markdown

        return fragment_to_markdown(text)
    return cleanup.clean_markdown(cleanup.unescape_literal_newlines(text))


def _add(
    result: ParseResult,
    rec: Any,
    source: str,
    fmt: str,
    line: int | None,
    loc: _Locator | None,
) -> None:
    def skip(reason: str, at: int | None = line) -> None:
        result.skipped.append(Skipped(source, reason, at))

    if isinstance(rec, list) and len(rec) == 2 and all(isinstance(x, str) for x in rec):
        rec = {"question": rec[0], "answer": rec[1]}
    if not isinstance(rec, dict):
        skip(f"record is a JSON {type(rec).__name__}, not an object")
        return
    low = _lower_keys(rec)
    if "messages" in low or "conversations" in low:
        _add_chat(result, low, source, fmt, line, loc)
        return
    # Only a named type says what a record is; Freshdesk's numeric ``type`` is a subtype id.
    rtype = low["type"].lower() if isinstance(low.get("type"), str) else ""
    if rtype == "text" and "instruction" not in low and ("passage" in low or "text" in low):
        text = cleanup.clean_markdown(_text_of(low.get("passage") or low.get("text")))
        if text:
            path = [str(low["qid"])] if low.get("qid") else []
            result.sections.append(Section(path, text, source, fmt, line, line))
        return
    question, variants, answer_raw, extra = _fields(low)
    if rtype and rtype not in ("qna", "question", "faq", "text", *ARTICLE_TYPES):
        skip(f"record of type {rtype!r} is not a question/answer item")
        return
    at = line if line is not None else (loc.find(question) if loc else None)
    if is_draft(low):
        skip(f"unpublished (draft) article: {question[:60]!r}", at)
        return
    reason = _refusal(question, answer_raw, rec)
    if reason:
        skip(reason, at)
        return
    if add_article_faq(result, question, answer_raw, source, fmt, at, extra):
        return
    answer = _clean_answer(answer_raw)
    if not answer:
        skip(f"record has no answer: {question[:60]!r}", at)
        return
    result.pairs.append(
        Pair(
            question=cleanup.strip_question_prefix(_one_line(question)) or question,
            answer=answer,
            source=source,
            format=fmt,
            line_start=at,
            line_end=at,
            variants=[_one_line(v) for v in variants],
            extra=extra,
        )
    )


def _fields(low: dict[str, Any]) -> tuple[str, list[str], str, dict[str, Any]]:
    """(question, its variants, the raw answer, extra provenance) of a record: an
    instruction/output record (Alpaca) or one with question and answer keys."""
    if "instruction" in low:
        question = _text_of(low.get("instruction")).strip()
        extra_input = _text_of(low.get("input")).strip()
        if extra_input:
            question = f"{question}\n\n{extra_input}"
        return question, [], _text_of(low.get("output") or low.get("response")), {}
    qval = next((low[k] for k in _Q_KEYS if low.get(k)), None)
    aval = next((low[k] for k in _A_KEYS if low.get(k)), None)
    if aval is None and "title" in low:
        aval = low.get("description") or low.get("descriptiontext")
    variants: list[str] = []
    if isinstance(qval, list):
        qs = [s for s in (_text_of(x).strip() for x in qval) if s]
        question, variants = (qs[0], qs[1:]) if qs else ("", [])
    else:
        question = _text_of(qval).strip()
    extra = {
        key: low[key]
        for key in ("qid", "id", "t", "topic", "category", "htmlurl")
        if low.get(key) not in (None, "", [])
    }
    if isinstance(extra.get("category"), str):
        extra["heading_path"] = [extra["category"]]
    return question, variants, _text_of(aval), extra


def _refusal(question: str, answer_raw: str, rec: dict[str, Any]) -> str | None:
    """Why a record with these fields is not a fixed question/answer pair (None: it is)."""
    if not question:
        return "record has no question field (keys: " + ", ".join(list(rec)[:8]) + ")"
    if question.lower() == "no_hits":
        return "QnABot 'no_hits' fallback item: the reply for unknown questions, not a Q/A"
    if cleanup.has_template(answer_raw):
        return (
            f"answer of {question[:60]!r} is a Handlebars template ({{{{...}}}}) filled in "
            "at run time, not a fixed answer"
        )
    return None


def _one_line(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text).strip()


def _add_chat(
    result: ParseResult,
    low: dict[str, Any],
    source: str,
    fmt: str,
    line: int | None,
    loc: _Locator | None,
) -> None:
    """OpenAI ``messages`` / ShareGPT ``conversations``: each user turn followed by an
    assistant turn is one Pair; the system prompt and turn index go into ``extra``."""
    turns = low.get("messages") or low.get("conversations")
    if not isinstance(turns, list):
        result.skipped.append(Skipped(source, "'messages' is not a list", line))
        return
    system = ""
    pending: str | None = None
    turn_no = 0
    found = 0
    for t in turns:
        if not isinstance(t, dict):
            continue
        tl = _lower_keys(t)
        role = str(tl.get("role") or tl.get("from") or "").lower()
        content = _text_of(tl.get("content") if "content" in tl else tl.get("value")).strip()
        if role == "system":
            system = content
        elif role in _USER_ROLES:
            pending = content
        elif role in _BOT_ROLES and pending:
            at = line if line is not None else (loc.find(pending) if loc else None)
            extra: dict[str, Any] = {"turn": turn_no}
            if system:
                extra["system"] = system
            answer = cleanup.tidy(content)
            if answer:
                result.pairs.append(Pair(pending, answer, source, fmt, at, at, extra=extra))
                found += 1
            turn_no += 1
            pending = None
    if not found:
        result.skipped.append(
            Skipped(source, "conversation has no user turn followed by an assistant turn", line)
        )
