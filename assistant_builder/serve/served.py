"""Served conversations leaving the log: into training rows, golden questions, preference pairs
and exports.

``conversations.db`` keeps what customers typed as they typed it, on this machine, for the team
to review. Everything that leaves it (a promoted row or golden question, a preference pair, the
``conversations --json`` listing) goes through the workspace's redaction first
(``dataset.redact``: the same detectors, placeholders and allow-list as the dataset), with one
placeholder mapping per conversation, so the same e-mail address is the same ``<EMAIL>`` in the
question, the served reply and the correction. A workspace that switched redaction off gets the
text as logged.
"""

from __future__ import annotations

from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.runs import side_name
from assistant_builder.serve.conversations import DB_NAME, ConversationLog, open_log
from assistant_builder.workspace import Workspace


def _open(ws: Workspace) -> ConversationLog:
    if not (ws.root / DB_NAME).is_file():
        raise UserError(
            f"no served conversations in {ws.root} (`assistant-builder serve` logs them)"
        )
    return open_log(ws.root)


def _redact(
    ws: Workspace, messages: list[dict[str, str]], redactor: Any = None
) -> tuple[list[dict[str, str]], dict[str, int]]:
    """``messages`` redacted as one conversation, and how many of each kind were replaced."""
    from assistant_builder.dataset.redact import redact_conversation, workspace_redactor

    redactor = redactor if redactor is not None else workspace_redactor(ws)
    if redactor is None:
        return [dict(m) for m in messages], {}
    out, findings = redact_conversation(messages, redactor)
    kinds: dict[str, int] = {}
    for f in findings:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    return out, kinds


def _reply_answer(ex: dict[str, Any]) -> tuple[str | None, str]:
    """The answer a served reply's feedback gives, and what it is. The newest feedback decides:
    a thumbs-down with a correction gives the correction, a thumbs-up the reply itself."""
    for fb in reversed(ex["feedback"]):
        if fb["rating"] == "down" and fb["correction"]:
            return fb["correction"], "correction"
        if fb["rating"] == "up":
            return ex["answer"], "served reply (thumbs-up)"
        return None, "thumbs-down without a correction"
    return None, "no feedback"


def _pick_turn(conv: dict[str, Any], turn: int | None) -> int:
    """1-based turn: the one asked for, else the last one with feedback, else the last."""
    n = len(conv["exchanges"])
    if turn is None:
        rated = [i for i, ex in enumerate(conv["exchanges"], 1) if ex["feedback"]]
        return rated[-1] if rated else n
    if not 1 <= turn <= n:
        raise UserError(f"conversation {conv['id']} has {n} turn(s); --turn takes 1 to {n}")
    return turn


def served_reply(
    ws: Workspace, conversation_id: str, turn: int | None = None, answer: str | None = None
) -> tuple[str, str, dict[str, Any]]:
    """(question, answer, provenance) of one served turn, redacted, ready for
    ``compare.promote.promote(ws, question=..., answer=..., provenance=...)``.

    ``turn`` (1-based) defaults to the conversation's last turn with feedback, else its last.
    The answer is ``answer`` when given, else the correction of a thumbs-down, else the reply
    itself after a thumbs-up; anything else is refused, asking for the answer. The provenance
    names the conversation, the turn, the run that answered and what the answer is; its
    ``source`` (``promoted:conversation:<id>``) is the row's ``source``."""
    log = _open(ws)
    try:
        conv = log.conversation(conversation_id)
    finally:
        log.close()
    n = _pick_turn(conv, turn)
    ex = conv["exchanges"][n - 1]
    if answer is not None and answer.strip():
        chosen, kind = answer.strip(), "written by the reviewer"
    else:
        found, kind = _reply_answer(ex)
        if found is None:
            raise UserError(f"turn {n} of conversation {conv['id']} has {kind}; pass --answer TEXT")
        chosen = found
    thread = [*ex["messages"], {"role": "assistant", "content": chosen}]
    redacted, kinds = _redact(ws, thread)
    question, clean = redacted[-2]["content"], redacted[-1]["content"]
    prov: dict[str, Any] = {
        "source": f"promoted:conversation:{conv['id']}",
        "conversation": conv["id"],
        "turn": n,
        "completion_id": ex["completion_id"],
        "run": ex["run"],
        "served_at": ex["created"],
        "answer": kind,
        # A follow-up ("and on Linux?") leans on the turns before it, which the row leaves out.
        "earlier_turns": sum(1 for m in ex["messages"][:-1] if m["role"] == "user"),
    }
    if ex["feedback"]:
        last = ex["feedback"][-1]
        prov["feedback"] = {"rating": last["rating"], "created": last["created"]}
    if kinds:
        prov["redacted"] = kinds
    return question, clean, prov


def served_preference_pairs(ws: Workspace) -> list[dict[str, Any]]:
    """Preference pairs (TRL's conversational format, as ``dataset.feedback``) from served
    replies whose newest feedback is a thumbs-down with a correction: the prompt is the
    conversation up to that question (system prompt included, as served), chosen the
    correction, rejected the reply. Redacted; none when nothing was logged."""
    if not (ws.root / DB_NAME).is_file():
        return []
    log = open_log(ws.root)
    try:
        convs = log.conversations(limit=-1, messages=True)
    finally:
        log.close()
    from assistant_builder.dataset.redact import workspace_redactor

    redactor = workspace_redactor(ws)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for conv in reversed(convs):  # oldest first, like the ratings' pairs
        for ex in conv["exchanges"]:
            chosen, kind = _reply_answer(ex)
            if kind != "correction" or chosen is None or chosen == ex["answer"]:
                continue
            thread = [
                *ex["messages"],
                {"role": "assistant", "content": chosen},
                {"role": "assistant", "content": ex["answer"]},
            ]
            redacted, _ = _redact(ws, thread, redactor)
            pair: dict[str, Any] = {
                "prompt": redacted[:-2],
                "chosen": [redacted[-2]],
                "rejected": [redacted[-1]],
            }
            key = repr(pair)
            # The run that answered: preference training refuses pairs of another base model.
            run = ex.get("run")
            pair["meta"] = {"how": "served", "models": [side_name(run)] if run else []}
            if key not in seen:
                seen.add(key)
                out.append(pair)
    return out


def redacted_listing(ws: Workspace, convs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``conversations`` listing with questions, answers and corrections redacted (one
    placeholder mapping per conversation); ``messages`` are left out of it."""
    from assistant_builder.dataset.redact import workspace_redactor

    redactor = workspace_redactor(ws)
    if redactor is None:
        return convs
    out = []
    for conv in convs:
        thread: list[dict[str, str]] = []
        for ex in conv["exchanges"]:
            thread.append({"role": "user", "content": ex["question"]})
            thread.append({"role": "assistant", "content": ex["answer"]})
            thread += [{"role": "assistant", "content": fb["correction"]} for fb in ex["feedback"]]
        redacted, kinds = _redact(ws, thread, redactor)
        texts = iter(m["content"] for m in redacted)
        exchanges = []
        for ex in conv["exchanges"]:
            ex = {k: v for k, v in ex.items() if k not in ("messages",)}
            ex["question"], ex["answer"] = next(texts), next(texts)
            ex["feedback"] = [{**fb, "correction": next(texts)} for fb in ex["feedback"]]
            exchanges.append(ex)
        out.append({**conv, "exchanges": exchanges, "redacted": kinds})
    return out
