"""Support transcripts: ticket and chat exports to multi-turn conversations.

Shapes read (JSON, JSON Lines or CSV/TSV):

- generic, one message per row: a conversation key (``conversation_id``, ``ticket_id``,
  ``thread_id``, ``chat_id``, ``session_id``...), a role key (``role``, ``author_type``,
  ``sender_type``, ``from``, ``speaker``...) and a text key (``text``, ``message``, ``body``...);
- generic, one conversation per record: ``{"id": ..., "turns"|"messages"|"transcript": [...]}``
  whose roles name a support side (agent, customer...); plain OpenAI ``messages`` files with only
  user/assistant roles stay with the Q/A reader;
- Zendesk: tickets with their comments as the Ticket Comments API returns them (``author_id``,
  ``body``/``html_body``, ``public``, ``attachments``, ``via``), roles from sideloaded ``users``
  (``end-user``/``agent``/``admin``) or else from the ticket's ``requester_id``; see
  ``helpdesk.py``;
- Intercom: conversation objects (``source`` + ``conversation_parts``, ``part_type``,
  ``author.type`` user/lead/admin/bot/team); see ``helpdesk.py``.

Customers become ``user`` turns, agents ``assistant`` turns; internal notes (``public: false``,
Intercom notes) and bot or automation messages are left out on purpose and counted. An unknown
role, an empty turn or an attachment without text is a per-file notice with its line, and the
rest of the conversation is kept.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .types import Conversation, Skipped

CONV_KEYS = ("conversation_id", "conversationid", "ticket_id", "ticketid", "thread_id",
             "threadid", "chat_id", "chatid", "session_id", "sessionid", "case_id", "caseid",
             "conversation", "ticket", "thread", "dialog_id", "dialogue_id")  # fmt: skip
ROLE_KEYS = ("role", "author_type", "authortype", "sender_type", "sendertype", "author_role",
             "authorrole", "speaker", "from", "sender", "author", "participant", "user_type",
             "direction")  # fmt: skip
TEXT_KEYS = ("text", "message", "body", "content", "plain_body", "html_body", "value",
             "comment", "message_text", "msg")  # fmt: skip
LIST_KEYS = ("turns", "messages", "transcript", "conversation", "parts", "utterances")
USER_ROLES = {
    "user",
    "customer",
    "end-user",
    "end_user",
    "enduser",
    "requester",
    "visitor",
    "contact",
    "lead",
    "client",
    "human",
    "guest",
    "inbound",
    "member",
    "buyer",
}
AGENT_ROLES = {
    "agent",
    "admin",
    "support",
    "operator",
    "staff",
    "assistant",
    "rep",
    "representative",
    "team",
    "csr",
    "outbound",
    "advisor",
    "specialist",
    "employee",
    "helpdesk",
}
BOT_ROLES = {
    "bot",
    "chatbot",
    "system",
    "automation",
    "trigger",
    "workflow",
    "ai",
    "auto",
    "autoresponder",
    "macro-bot",
    "virtual agent",
    "virtual_agent",
}
NOTE_ROLES = {"note", "internal", "internal_note", "private", "whisper"}
_MOJIBAKE = re.compile(
    "[ÃÂâ][\u0080-\u00bf\u20ac\u2122\u0153\u0161\u017e\u201a-\u201e\u2018-\u201d]"
)


@dataclass
class Turn:
    """One message before assembly: its raw role ('user', 'assistant', 'bot', 'note' or an
    unknown word), text (maybe HTML) and where it is."""

    role: str
    text: str
    line: int | None = None
    attachments: int = 0


@dataclass
class Notices:
    """Per-file notices, aggregated per reason so a 10,000-ticket export gives a few lines."""

    source: str
    by_reason: dict[str, list[int | None]] = field(default_factory=lambda: defaultdict(list))
    left_out: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fixed_encoding: int = 0

    def add(self, reason: str, line: int | None) -> None:
        self.by_reason[reason].append(line)

    def skipped(self) -> list[Skipped]:
        out = []
        for reason, lines in self.by_reason.items():
            known = sorted({x for x in lines if x is not None})
            where = f" (lines {', '.join(map(str, known[:8]))}{', ...' if len(known) > 8 else ''})"
            text = f"{reason}: {len(lines)} time{'s' if len(lines) != 1 else ''}"
            out.append(
                Skipped(self.source, text + (where if known else ""), known[0] if known else None)
            )
        if self.left_out:
            what = ", ".join(f"{n} {k}" for k, n in sorted(self.left_out.items()))
            out.append(
                Skipped(self.source, f"left out on purpose (not customer/agent turns): {what}")
            )
        if self.fixed_encoding:
            out.append(
                Skipped(
                    self.source,
                    f"{self.fixed_encoding} turns had UTF-8 text mis-decoded as Latin-1/CP1252 "
                    "(mojibake such as 'Ã©'): repaired and kept",
                )
            )
        return out


def role_of(raw: Any) -> str:
    """'user', 'assistant', 'bot', 'note' or the unknown role itself (lower case)."""
    if isinstance(raw, dict):
        raw = raw.get("type") or raw.get("role") or raw.get("kind") or ""
    r = str(raw or "").strip().lower()
    if r in USER_ROLES:
        return "user"
    if r in AGENT_ROLES:
        return "assistant"
    if r in BOT_ROLES:
        return "bot"
    if r in NOTE_ROLES:
        return "note"
    return r or "(none)"


def fix_mojibake(text: str) -> tuple[str, bool]:
    if not _MOJIBAKE.search(text):
        return text, False
    for enc in ("cp1252", "latin-1"):
        try:
            return text.encode(enc).decode("utf-8"), True
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return text, False


def attachment_count(value: Any) -> int:
    """How many attachments a field describes: a list, a count, one object or file name."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    return 1 if value and not isinstance(value, (bool, float)) else 0


def as_text(value: Any) -> str | None:
    """A turn's text from what exports put there: a string, a number, OpenAI-style content
    parts or a list of strings, an object holding the text; None when it holds no text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        parts = [as_text(v) if isinstance(v, (str, dict)) else None for v in value]
        return None if None in parts else "\n\n".join(p for p in parts if p)
    if isinstance(value, dict):
        low = _low(value)
        found = _first(low, (*TEXT_KEYS, "html", "plain", "markdown"))
        return found if isinstance(found, str) else None
    return None


def clean_text(text: Any, notices: Notices) -> str:
    from . import cleanup

    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text, fixed = fix_mojibake(text)
    notices.fixed_encoding += fixed
    if re.search(
        r"<(?:p|br|div|ul|ol|li|a|strong|em|b|i|code|pre|span|h[1-6]|table)\b", text, re.I
    ):
        from .html_markdown import fragment_to_markdown

        return fragment_to_markdown(text).strip()
    return cleanup.tidy(cleanup.unescape_literal_newlines(text)).strip()


def assemble(
    turns: list[Turn], conv_id: str, source: str, fmt: str, notices: Notices
) -> Conversation | None:
    """Customer/agent turns in order: notes and bots left out (counted), consecutive turns of
    one side joined, an agent's opening message and a customer's last unanswered message
    trimmed (a training conversation starts with the user and ends with the assistant)."""
    kept: list[dict[str, str]] = []
    lines = [t.line for t in turns if t.line is not None]
    for t in turns:
        if t.role in ("bot", "note"):
            notices.left_out["bot messages" if t.role == "bot" else "internal notes"] += 1
            continue
        if t.role not in ("user", "assistant"):
            notices.add(
                f"unknown author role {t.role!r} (customer: customer/end-user/user..., agent: "
                "agent/admin/support...); the turn was left out",
                t.line,
            )
            continue
        raw = as_text(t.text)
        if raw is None:
            kind = type(t.text).__name__.replace("dict", "object").replace("list", "array")
            notices.add(f"turn text is a JSON {kind}, not text; left out", t.line)
            continue
        text = clean_text(raw, notices)
        if not text:
            reason = "turn with only attachments, no text" if t.attachments else "empty turn"
            notices.add(f"{reason}; left out", t.line)
            continue
        if kept and kept[-1]["role"] == t.role:
            kept[-1]["content"] += "\n\n" + text
        else:
            kept.append({"role": t.role, "content": text})
    while kept and kept[0]["role"] == "assistant":
        kept.pop(0)
    while kept and kept[-1]["role"] == "user":
        kept.pop()
    if not kept:
        notices.add("conversation without a customer message answered by an agent; skipped",
                    lines[0] if lines else None)  # fmt: skip
        return None
    extra = (
        {"attachments": sum(t.attachments for t in turns)}
        if any(t.attachments for t in turns)
        else {}
    )
    return Conversation(
        kept, str(conv_id), source, fmt, min(lines) if lines else None,
        max(lines) if lines else None, extra,
    )  # fmt: skip


# --- recognising a transcript ----------------------------------------------------------------


def _low(d: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower().replace("-", "_").strip(): v for k, v in d.items()}


def _first(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((d[k] for k in keys if k in d and d[k] not in (None, "")), None)


def is_message_row(d: dict[str, Any]) -> bool:
    low = _low(d)
    return (
        any(k in low for k in CONV_KEYS)
        and any(k in low for k in ROLE_KEYS)
        and any(k in low for k in TEXT_KEYS)
    )


def is_conversation_record(d: dict[str, Any]) -> bool:
    low = _low(d)
    turns = next((low[k] for k in LIST_KEYS if isinstance(low.get(k), list)), None)
    if not turns:
        return False
    roles = set()
    for t in turns[:20]:
        if isinstance(t, dict):
            tl = _low(t)
            roles.add(role_of(_first(tl, ROLE_KEYS)))
            roles.add(str(_first(tl, ROLE_KEYS) or "").lower())
    support_words = (USER_ROLES | AGENT_ROLES) - {"user", "assistant", "human"}
    return bool(roles & support_words)
