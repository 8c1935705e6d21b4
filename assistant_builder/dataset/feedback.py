"""Closing the loop: ratings become training data.

- ``dataset/feedback.jsonl``: corrected dataset rows. A "both bad" rating whose note holds the
  right answer (the rating loop asks for exactly that) becomes (question, note); a preferred
  answer the rater also scored ``min_score`` or better becomes (question, that answer). An
  unscored win says "better than the other", not "good enough to teach", so it only feeds the
  preference pairs. ``build_dataset`` reads this file through :func:`merge_feedback`.
- ``dataset/preferences.jsonl``: preference pairs in the conversational format TRL's
  ``DPOTrainer`` reads, ``{"prompt": [messages], "chosen": [assistant], "rejected": [assistant]}``.
  A win gives (winner, loser); a "both bad" with a correction gives (correction, each answer).
  Served replies with a thumbs-down and a correction add (correction, reply) after them, with
  the served conversation so far as the prompt.
  Each pair's ``meta`` names the two models that answered and their base model, so preference
  training (train/preferences.py) can refuse pairs answered on another base model.

Both files are derived from ``ratings.db`` and ``conversations.db`` (the records of the human
work) and rewritten whole
each time, so running the export twice gives the same file and an undone rating disappears.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace, atomic_write_jsonl, read_jsonl

FEEDBACK_FILE = "feedback.jsonl"
PREFERENCES_FILE = "preferences.jsonl"
# Rows a reviewer promoted (compare/promote.py); kept apart because feedback.jsonl is rebuilt.
PROMOTED_FILE = "promoted.jsonl"


def _answers(r: dict[str, Any]) -> tuple[str | None, str | None]:
    """(preferred, other) answer texts of a decisive rating, else (None, None)."""
    if r["verdict"] == "A":
        return r["answer_a"], r["answer_b"]
    if r["verdict"] == "B":
        return r["answer_b"], r["answer_a"]
    return None, None


def _preferred_score(r: dict[str, Any]) -> int | None:
    score = {"A": r["score_a"], "B": r["score_b"]}.get(r["verdict"])
    return int(score) if score is not None else None


def feedback_rows(ratings: list[dict[str, Any]], min_score: int = 4) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for r in ratings:
        note = (r["note"] or "").strip()
        if r["verdict"] == "both_bad" and note:
            answer, how = note, "rated-correction"
        else:
            preferred, _ = _answers(r)
            score = _preferred_score(r)
            if preferred is None or score is None or score < min_score:
                continue
            answer, how = preferred, "rated-preferred"
        key = (r["question"], answer)
        if key in seen:  # two raters agreeing add weight to the verdict, not a duplicate row
            continue
        seen.add(key)
        out.append(
            {
                "question": r["question"],
                "answer": answer,
                "how": how,
                "source": r["source"],
                "rating_id": r["rating_id"],
                "rater": r["rater"],
            }
        )
    return out


def preference_pairs(
    ratings: list[dict[str, Any]],
    system_prompt: str | None,
    base_of: Callable[[str], str | None] | None = None,
) -> list[dict[str, Any]]:
    """``base_of``: the base model of a side name (``tuned:<run>``; None when unknown)."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for r in ratings:
        preferred, other = _answers(r)
        note = (r["note"] or "").strip()
        if preferred is not None and other is not None:
            pairs = [(preferred, other)]
        elif r["verdict"] == "both_bad" and note:
            pairs = [(note, r["answer_a"]), (note, r["answer_b"])]
        else:
            continue
        prompt = [{"role": "system", "content": system_prompt}] if system_prompt else []
        prompt.append({"role": "user", "content": r["question"]})
        meta = _pair_meta(r, base_of)
        for chosen, rejected in pairs:
            key = (r["question"], chosen, rejected)
            if chosen == rejected or key in seen:
                continue
            seen.add(key)
            out.append(
                {
                    "prompt": prompt,
                    "chosen": [{"role": "assistant", "content": chosen}],
                    "rejected": [{"role": "assistant", "content": rejected}],
                    "meta": meta,
                }
            )
    return out


def _pair_meta(r: dict[str, Any], base_of: Callable[[str], str | None] | None) -> dict[str, Any]:
    """Where a pair came from. A "base" side has no run of its own: the tuned side's run says
    which base model it was (compare only pits models on one base against each other)."""
    models = [r["model_a"], r["model_b"]]
    bases = {b for m in models if base_of and (b := base_of(m))}
    return {
        "how": "rating",
        "rating_id": r["rating_id"],
        "models": models,
        "base_model": bases.pop() if len(bases) == 1 else None,
    }


# The writers take the ratings (``RatingStore.ratings()``) rather than open ratings.db: the
# dataset stage sits below compare/ and must not import it.
def write_feedback(
    ws: Workspace, ratings: list[dict[str, Any]], min_score: int = 4
) -> dict[str, Any]:
    rows = feedback_rows(ratings, min_score)
    path = ws.dataset_dir / FEEDBACK_FILE
    atomic_write_jsonl(path, rows)
    return {"path": str(path), "rows": len(rows)}


def write_preferences(
    ws: Workspace, ratings: list[dict[str, Any]], served: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The ratings' pairs, then ``served``: pairs already made from served thumbs-down
    corrections (``serve.served.served_preference_pairs``, redacted there)."""
    rated = preference_pairs(ratings, ws.load_settings().system_prompt, run_base_model(ws))
    pairs = rated + list(served or [])
    path = ws.dataset_dir / PREFERENCES_FILE
    atomic_write_jsonl(path, pairs)
    return {"path": str(path), "pairs": len(pairs), "rated": len(rated),
            "served": len(pairs) - len(rated)}  # fmt: skip


def run_base_model(ws: Workspace) -> Callable[[str], str | None]:
    """The base model of a side name as ratings.db stores it (``tuned:<run>``), read from the
    run's run.json; None for ``base``, a deleted run or any other name."""
    from assistant_builder.runs import Run, is_run_id, run_of

    def base_of(side: str) -> str | None:
        # "tuned:<run>+retrieval": the same run's adapter, answering with retrieved passages.
        run = run_of(side.split("+", 1)[0])
        if run is None or not is_run_id(run) or not (ws.runs_dir / run / "run.json").is_file():
            return None
        try:
            return Run(ws.runs_dir / run).base_model()
        except UserError:
            return None

    return base_of


def merge_feedback(ws: Workspace, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Candidate rows (see ``dataset.candidate_rows``) with the feedback rows put FIRST, so
    the build's duplicate check keeps a person's correction and drops the original phrasing
    of the same question. A correction joins the answer group of the question it corrects,
    so it stays on the same side of the train/eval split (no eval answer leaks into training).
    """
    from assistant_builder.dataset.build import normalize_question

    # A reviewer's promoted rows first: the latest, deliberate word on a question.
    paths = [ws.dataset_dir / name for name in (PROMOTED_FILE, FEEDBACK_FILE)]
    found = [fb for path in paths if path.is_file() for fb in read_jsonl(path)]
    if not found:
        return rows
    groups = {normalize_question(r["q"]): r for r in rows}
    extra = []
    for fb in found:
        original = groups.get(normalize_question(fb["question"]), {})
        group = original.get("group") or hashlib.sha256(fb["answer"].encode()).hexdigest()[:12]
        extra.append(
            {
                "q": fb["question"],
                "a": fb["answer"],
                "how": fb.get("how", "rated"),
                "group": group,
                "source": fb.get("source") or original.get("source"),
                "format": original.get("format"),
                "line_start": original.get("line_start"),
                "line_end": original.get("line_end"),
                "page": original.get("page"),
                # No content hash: the row comes from a person, not from a source file version.
                "sha256": None,
            }
        )
    return extra + rows
