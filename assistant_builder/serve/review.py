"""What a reviewer can promote from the served log: every served turn with its feedback, the run
that answered and the answer a promotion would take, redacted as everything that leaves the log
is (``serve.served``). The app's review view lists these next to the rated pairs; the promotion
itself is :func:`promote_served`, which the ``promote --conversation`` command calls too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant_builder.compare.review import promoted_to
from assistant_builder.serve.conversations import DB_NAME, open_log
from assistant_builder.serve.served import _reply_answer, redacted_listing, served_reply
from assistant_builder.workspace import Workspace


@dataclass(frozen=True)
class ServedTurn:
    conversation: str  # the conversation's id
    turn: int  # 1-based, as `promote --turn` takes it
    turns: int  # how many the conversation has
    created: str
    run: str  # the run that answered
    question: str  # redacted, like everything below
    reply: str  # what the model answered
    feedback: tuple[tuple[str, str], ...]  # (rating "up"/"down", correction), oldest first
    sources: tuple[str, ...]  # where the passages it was given came from (serve --retrieval)
    answer: str  # what a promotion takes when the reviewer writes none ("": one must be written)
    answer_kind: str  # "correction", "served reply (thumbs-up)", or why there is none
    promoted: tuple[str, ...]  # "dataset" and/or "golden"

    @property
    def source(self) -> str:
        return f"promoted:conversation:{self.conversation}"

    @property
    def verdict(self) -> str:
        """The newest feedback (thumbs up or down, with a correction or not), for a table."""
        if not self.feedback:
            return ""
        rating, correction = self.feedback[-1]
        if rating == "up":
            return "up"
        return "down, corrected" if correction else "down"


def _where(source: dict[str, Any]) -> str:
    lines = source.get("lines")
    return str(source.get("url") or ":".join(str(x) for x in (source.get("file"), lines) if x))


def served_turns(ws: Workspace, limit: int = 200) -> list[ServedTurn]:
    """Every turn of the ``limit`` newest served conversations (newest conversation first, its
    turns in order), redacted; none when nothing was logged."""
    if not (ws.root / DB_NAME).is_file():
        return []
    log = open_log(ws.root)
    try:
        convs = redacted_listing(ws, log.conversations(limit=limit))
    finally:
        log.close()
    promoted = promoted_to(ws)
    out = []
    for conv in convs:
        n = len(conv["exchanges"])
        for i, ex in enumerate(conv["exchanges"], 1):
            answer, kind = _reply_answer(ex)
            out.append(
                ServedTurn(
                    conversation=conv["id"],
                    turn=i,
                    turns=n,
                    created=ex["created"],
                    run=ex["run"],
                    question=ex["question"],
                    reply=ex["answer"],
                    feedback=tuple((fb["rating"], fb["correction"]) for fb in ex["feedback"]),
                    sources=tuple(_where(s) for s in ex.get("sources") or ()),
                    answer=answer or "",
                    answer_kind=kind,
                    promoted=promoted.get(f"promoted:conversation:{conv['id']}:turn:{i}", ()),
                )
            )
    return out


def promote_served(
    ws: Workspace,
    conversation_id: str,
    turn: int | None = None,
    answer: str | None = None,
    *,
    to: str = "dataset",
    reviewer: str | None = None,
) -> dict[str, Any]:
    """Promote one served turn (``serve.served.served_reply`` picks it and its answer, redacted)
    into a training row or a golden question; ``compare.promote.promote``'s result with the
    ``provenance`` it was given."""
    from assistant_builder.compare.promote import promote

    question, chosen, provenance = served_reply(ws, conversation_id, turn, answer)
    result = promote(
        ws, question=question, answer=chosen, to=to, reviewer=reviewer, provenance=provenance
    )
    return {**result, "provenance": provenance}
