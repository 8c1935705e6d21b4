"""Help-desk exports as their public APIs return them: Zendesk tickets and Intercom conversations.

Zendesk (Ticket Comments API, ``GET /api/v2/tickets/{id}/comments``, or a ticket export with
``comments`` per ticket): each comment has ``author_id``, ``body`` (plain text) and
``html_body``, ``public`` (false: an internal note agents write to each other), ``attachments``
and ``via`` (``channel: "rule"`` is a trigger or automation, not a person). Who is the customer
comes from sideloaded ``users`` (``role``: ``end-user``, ``agent``, ``admin``) when the export
has them, else from the ticket's ``requester_id``.

Intercom (Conversations API, ``GET /conversations/{id}``): the opening message is ``source``
(``body`` in HTML, ``author.type``), the rest ``conversation_parts.conversation_parts`` with a
``part_type`` (``comment``; ``note`` is internal; ``assignment``/``open``/``close`` are state
changes, usually without a body) and ``author.type`` (``user``/``lead``/``contact`` customer,
``admin``/``team`` agent, ``bot`` or ``from_ai_agent`` automation).
"""

from __future__ import annotations

from typing import Any

from .transcripts import Turn, attachment_count, role_of

ZENDESK_ROLES = {"end-user": "user", "end_user": "user", "agent": "assistant", "admin": "assistant"}


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def looks_like_helpdesk(head: str) -> bool:
    return '"conversation_parts"' in head or ('"comments"' in head and '"author_id"' in head)


def _lists(doc: Any, key: str, marker: str) -> list[dict[str, Any]]:
    """Objects carrying ``marker`` found at the top of ``doc``, in ``doc[key]`` or in a list."""
    if isinstance(doc, dict) and marker in doc:
        return [doc]
    if isinstance(doc, dict) and isinstance(doc.get(key), list):
        return [x for x in doc[key] if isinstance(x, dict)]
    if isinstance(doc, list):
        return [x for x in doc if isinstance(x, dict) and marker in x]
    return []


def zendesk_tickets(doc: Any) -> list[tuple[str, list[Turn]]]:
    tickets = _lists(doc, "tickets", "comments")
    top_users = doc.get("users") if isinstance(doc, dict) else None
    out = []
    for i, t in enumerate(tickets):
        listed = t.get("users") or top_users or []
        listed = [listed] if isinstance(listed, dict) else listed
        # A user without a role says nothing about the side: the requester rule decides.
        users = {u.get("id"): u.get("role") for u in listed
                 if isinstance(u, dict) and u.get("role")}  # fmt: skip
        ticket = _dict(t.get("ticket")) or t
        requester = ticket.get("requester_id")
        conv_id = str(ticket.get("id") or t.get("ticket_id") or f"ticket-{i + 1}")
        turns = [
            _zendesk_turn(c, users, requester)
            for c in t.get("comments") or []
            if isinstance(c, dict)
        ]
        out.append((conv_id, turns))
    return out


def _zendesk_turn(c: dict[str, Any], users: dict[Any, Any], requester: Any) -> Turn:
    via = _dict(c.get("via"))
    channel = str(via.get("channel", "")).lower()
    author = c.get("author_id")
    if c.get("public") is False:
        role = "note"
    elif channel in ("rule", "automation") or "bot" in channel:
        role = "bot"
    elif author in users:
        role = ZENDESK_ROLES.get(str(users[author]).lower(), str(users[author]).lower())
    elif requester is not None and author is not None:
        role = "user" if author == requester else "assistant"
    else:
        role = "(author unknown: export has neither users nor requester_id)"
    body = c.get("body") or c.get("plain_body") or c.get("html_body") or ""
    return Turn(role, body, attachments=attachment_count(c.get("attachments")))


def intercom_conversations(doc: Any) -> list[tuple[str, list[Turn]]]:
    out = []
    for i, conv in enumerate(_lists(doc, "conversations", "conversation_parts")):
        turns: list[Turn] = []
        src = _dict(conv.get("source"))
        if src.get("body") or src.get("attachments"):
            turns.append(_intercom_turn(src, "comment"))
        parts: Any = conv.get("conversation_parts") or []
        if isinstance(parts, dict):
            parts = parts.get("conversation_parts") or []
        for p in parts:
            if not isinstance(p, dict):
                continue
            ptype = str(p.get("part_type") or "comment").lower()
            if ptype not in ("comment", "note", "note_and_reopen") and not p.get("body"):
                continue  # assignment, open, close, snoozed...: a state change, no message
            turns.append(_intercom_turn(p, ptype))
        out.append((str(conv.get("id") or f"conversation-{i + 1}"), turns))
    return out


def _intercom_turn(part: dict[str, Any], ptype: str) -> Turn:
    author = _dict(part.get("author"))
    if ptype.startswith("note"):
        role = "note"
    elif author.get("from_ai_agent") or author.get("is_ai_answer"):
        role = "bot"
    else:
        role = role_of(author.get("type"))
    return Turn(role, part.get("body") or "", attachments=attachment_count(part.get("attachments")))
