"""Promotion: a reviewer turns a rated pair, or a question with a corrected answer, into a
training row (``dataset/promoted.jsonl``, read by the dataset build next to the ratings'
feedback) or a golden question (``checks/golden.jsonl``, read by ``eval`` and ``check``).

A promoted row keeps where it came from: ``source`` says ``promoted:pair:<id>``,
``promoted:conversation:<id>`` (a served reply, through ``serve.served.served_reply``) or
``promoted:question`` and ``promoted`` holds the reviewer, the time, the pair, the rating and
the models (or the conversation, its turn and the run that answered). Unlike
``feedback.jsonl`` (rewritten from ratings.db each time) this file is the only record of the
promotion, so it is added to, never rebuilt; promoting the same question again replaces its
earlier row (the newer correction wins).
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

from assistant_builder.compare.probes import GOLDEN_FILE
from assistant_builder.compare.ratings import RatingStore
from assistant_builder.dataset.build import normalize_question
from assistant_builder.dataset.feedback import PROMOTED_FILE
from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace, atomic_write_jsonl, read_jsonl

TARGETS = ("dataset", "golden")


def rated_answer(r: dict[str, Any]) -> tuple[str, str]:
    """(answer, kind) a rating gives a promotion: the correction in its note when it rated both
    answers bad, else the answer it preferred; a tie or an uncorrected "both bad" gives none."""
    note = (r["note"] or "").strip()
    if r["verdict"] == "both_bad" and note:
        return note, "correction"
    if r["verdict"] in ("A", "B"):
        return r["answer_a" if r["verdict"] == "A" else "answer_b"], "preferred"
    raise UserError(
        f"pair {r['pair_id']} was rated {r['verdict']} without a correction; pass --answer TEXT"
    )


def _pair_answer(ws: Workspace, pair_id: int) -> tuple[str, str, dict[str, Any]]:
    """(question, answer, provenance) of a rated pair: the correction in the newest rating's
    note when it rated both answers bad, else the answer it preferred."""
    with RatingStore(ws.ratings_db) as store:
        store.pair(pair_id)  # a clear error for an unknown id
        rated = [r for r in store.ratings() if r["pair_id"] == pair_id]
    if not rated:
        raise UserError(f"pair {pair_id} has no rating yet; rate it, or pass --answer TEXT")
    r = rated[-1]
    answer, kind = rated_answer(r)
    prov = {
        "pair": pair_id,
        "rating": r["rating_id"],
        "rater": r["rater"],
        "answer": kind,
        "models": [r["model_a"], r["model_b"]],
    }
    return r["question"], answer, prov


def promote(
    ws: Workspace,
    *,
    pair_id: int | None = None,
    question: str | None = None,
    answer: str | None = None,
    to: str = "dataset",
    reviewer: str | None = None,
    source: str | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Promote a pair (its rated answer, or ``answer`` as the correction) or a free question
    with ``answer``; returns the row written and the file. ``provenance`` (with a question)
    says where it came from, its ``source`` key or ``source`` naming the row's origin, as
    ``serve.served.served_reply`` returns them for a served conversation."""
    ws.require()
    if to not in TARGETS:
        raise UserError(f"--to takes {' or '.join(TARGETS)}, not {to!r}")
    if (pair_id is None) == (question is None):
        raise UserError("promote a --pair ID or a --question TEXT (one of them)")
    if answer is not None and not answer.strip():
        raise UserError("--answer must not be empty")
    prov: dict[str, Any] = dict(provenance or {})
    source = source or prov.pop("source", None)
    prov.pop("source", None)
    if pair_id is not None:
        if answer is None:
            question, answer, prov = _pair_answer(ws, pair_id)
        else:
            with RatingStore(ws.ratings_db) as store:
                question = store.pair(pair_id).question
            prov = {"pair": pair_id, "answer": "written by the reviewer"}
        source = f"promoted:pair:{pair_id}"
    else:
        source = source or "promoted:question"
    question = (question or "").strip()
    if not question:
        raise UserError("--question must not be empty")
    if not answer:
        raise UserError("a free question needs its corrected answer: pass --answer TEXT")
    prov.update(
        reviewer=reviewer or getpass.getuser(),
        at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if to == "dataset":
        path = ws.dataset_dir / PROMOTED_FILE
        row: dict[str, Any] = {
            "question": question,
            "answer": answer.strip(),
            "how": "promoted",
            "source": source,
            "promoted": prov,
        }
    else:
        path = ws.root / GOLDEN_FILE
        row = {"question": question, "reference": answer.strip(), "paraphrase": False}
        row.update(source=source, promoted=prov)
    key = normalize_question(question)
    rows = list(read_jsonl(path)) if path.is_file() else []
    replaced = sum(1 for r in rows if normalize_question(r.get("question", "")) == key)
    rows = [r for r in rows if normalize_question(r.get("question", "")) != key] + [row]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(path, rows)
    return {"to": to, "path": str(path), "row": row, "replaced": replaced, "rows": len(rows)}
