"""The Compare stage: answers from two sides for a question set, metrics against references, and
blind pairs in the ratings database for people to judge later.

Sides: a training run's adapter (the candidate, ``tuned``) against the bare base model, or
against another run's adapter on the same base (both adapters in one model, switched by name).
Question sets: the dataset's eval split (with references), a user file (JSONL or CSV with
``question`` and optional ``reference``, ``source``, ``paraphrase``), or questions typed on the
spot. Results go to ``runs/<id>/compare/<time>.jsonl`` (one row per question, both answers and
their metrics) and ``<time>.summary.json``; answers are cached in ``cache/answers.sqlite``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant_builder.compare.budget import answer_budget, trained_answers
from assistant_builder.dataset.conversations import read_turns
from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.models.engine import Answer, Engine, GenSettings
from assistant_builder.runs import BASE, Run, side_name
from assistant_builder.workspace import Workspace, atomic_write_json, atomic_write_jsonl, read_jsonl

OnPiece = Callable[[str, str], None]  # (side, text piece) while streaming


@dataclass
class Question:
    question: str
    reference: str | None = None
    source: str | None = None
    paraphrase: bool = False


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y")
    return bool(value)


def load_questions_file(path: Path) -> list[Question]:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    out: list[Question] = []
    if path.suffix.lower() in (".csv", ".tsv"):
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            if "question" not in (reader.fieldnames or []):
                raise UserError(f"{path}:1: no 'question' column in the header")
            for lineno, row in enumerate(reader, 2):
                q = (row.get("question") or "").strip()
                if not q:
                    raise UserError(f"{path}:{lineno}: missing 'question'")
                ref = (row.get("reference") or "").strip() or None
                src = (row.get("source") or "").strip() or None
                out.append(Question(q, ref, src, _truthy(row.get("paraphrase") or "")))
    else:
        for lineno, row in enumerate(read_jsonl(path), 1):
            q = row.get("question")
            if not isinstance(q, str) or not q.strip():
                raise UserError(f"{path}:{lineno}: missing 'question'")
            ref = row.get("reference")
            if ref is not None and not isinstance(ref, str):
                raise UserError(f"{path}:{lineno}: 'reference' must be text")
            src = row.get("source")
            out.append(
                Question(
                    q.strip(),
                    ref.strip() or None if isinstance(ref, str) else None,
                    src if isinstance(src, str) else None,
                    _truthy(row.get("paraphrase", False)),
                )
            )
    if not out:
        raise UserError(f"{path}: no questions in the file")
    return out


def typed_questions(texts: list[str]) -> list[Question]:
    """Questions typed on the spot (``compare --ask``): no reference, no source."""
    qs = [Question(t.strip()) for t in texts if t.strip()]
    if not qs:
        raise UserError("--ask needs a non-empty question")
    return qs


def eval_questions(ws: Workspace) -> list[Question]:
    path = ws.dataset_dir / "eval.jsonl"
    if not path.is_file():
        raise UserError("no eval split (run `assistant-builder dataset`, or pass --questions FILE)")
    out = [
        Question(t.question, t.answer, t.meta.get("source"), t.meta.get("how") == "variant")
        for t in read_turns(path)
    ]
    if not out:
        raise UserError("the eval split is empty")
    return out


def _adapter_of(ws: Workspace, run_id: str) -> Path:
    adapter = ws.run_dir(run_id) / "adapter"
    if not adapter.is_dir():
        raise UserError(f"run {run_id} has no adapter (did it finish?)")
    return adapter


def _side_metrics(qs: list[Question], answers: list[Answer]) -> tuple[dict[str, Any], list[Any]]:
    """Aggregate metrics over the questions that have a reference; length and stopped share
    over all (they need no reference). Per-item scores (None without a reference)."""
    from assistant_builder.metrics import score_answer, score_answers

    idx = [i for i, q in enumerate(qs) if q.reference]
    out: dict[str, Any] = {}
    if idx:
        out = score_answers(
            [answers[i].text for i in idx],
            [qs[i].reference or "" for i in idx],
            [answers[i].stopped for i in idx],
        )
    out["with_reference"] = len(idx)
    out["stopped_share"] = sum(a.stopped for a in answers) / len(answers)
    out["new_tokens"] = sum(a.new_tokens for a in answers) / len(answers)
    items = [
        score_answer(a.text, q.reference, a.stopped).as_dict() if q.reference else None
        for q, a in zip(qs, answers, strict=True)
    ]
    return out, items


def store_pairs(
    ws: Workspace,
    qs: list[Question],
    left: tuple[str, list[Answer]],
    right: tuple[str, list[Answer]],
) -> int:
    """Add blind pairs (left = the baseline, right = the candidate: the order :mod:`verdict`
    reads back from the recorded shuffle). Identical answers are skipped: no choice to make."""
    from assistant_builder.compare.ratings import RatingStore

    with RatingStore(ws.ratings_db) as store:
        seen = store.pairs_by_content()
        items = []
        for q, la, ra in zip(qs, left[1], right[1], strict=True):
            if la.text == ra.text or (q.question, la.text, ra.text) in seen:
                continue
            seen.add((q.question, la.text, ra.text))
            items.append((q.question, q.reference or "", q.source, left[0], la.text, right[0],
                          ra.text))  # fmt: skip
        if items:
            store.add_pairs(items)
    return len(items)


def compare(
    ws: Workspace,
    run_id: str | None = None,
    questions: list[Question] | None = None,
    settings: GenSettings | None = None,
    on_event: OnEvent = ignore,
    *,
    against: str | None = None,
    add_pairs: bool = True,
    judge: Any = None,
    on_piece: OnPiece | None = None,
) -> dict[str, Any]:
    """Answer ``questions`` (default: the eval split) as run ``run_id`` (default: the latest)
    and as ``against`` (``None``/"base": the base model; else another run on the same base).

    ``settings.max_new_tokens <= 0`` (or no settings) derives the budget from the references.
    ``judge``: a :class:`assistant_builder.compare.judge.JudgeConfig` to add an LLM judge's verdict.
    ``on_piece``: stream each answer (one question at a time) instead of batching.
    """
    from assistant_builder.models.answer_cache import AnswerCache

    ws.require()
    run_id = run_id or ws.latest_run()
    if run_id is None:
        raise UserError("no trained run yet (run `assistant-builder train` first)")
    run_dir = ws.run_dir(run_id)
    adapters = {run_id: _adapter_of(ws, run_id)}
    base_model = Run(run_dir).base_model()
    baseline = BASE if against in (None, BASE) else str(against)
    if baseline == run_id:
        raise UserError(f"cannot compare run {run_id} with itself")
    if baseline != BASE:
        adapters[baseline] = _adapter_of(ws, baseline)
        other_base = Run(ws.run_dir(baseline)).base_model()
        if other_base != base_model:
            raise UserError(
                f"runs {run_id} and {baseline} have different base models "
                f"({base_model} vs {other_base}); compare each with its base instead"
            )
    qs = questions if questions is not None else eval_questions(ws)
    system_prompt = ws.load_settings().system_prompt
    on_event(Progress("compare", "loading model"))
    cache = AnswerCache(ws.cache_dir / "answers.sqlite")
    engine = Engine(base_model, adapters=adapters, cache=cache)
    settings = settings or GenSettings(max_new_tokens=0)
    budget_from = "option"
    if settings.max_new_tokens <= 0:
        trained = trained_answers(run_dir, ws.dataset_dir / "train.jsonl")
        refs = [q.reference for q in qs]
        budget, budget_from = answer_budget(engine.token_lengths, refs, trained)
        settings = replace(settings, max_new_tokens=budget)
    answers: dict[str, list[Answer]] = {}
    for side in (baseline, run_id):
        on_event(Progress("compare", f"answering as {side}", done=0, total=len(qs)))
        if on_piece is None:
            answers[side] = engine.answer(
                [q.question for q in qs], system_prompt=system_prompt, adapter=side,
                settings=settings, on_event=on_event,
            )  # fmt: skip
            continue
        answers[side] = []
        for q in qs:
            for piece in engine.stream(q.question, system_prompt=system_prompt, adapter=side,
                                       settings=settings):  # fmt: skip
                on_piece(side_name(side), piece)
            # The finished answer is in the cache now; fetch it with its stopped flag.
            answers[side] += engine.answer([q.question], system_prompt=system_prompt,
                                           adapter=side, settings=settings)  # fmt: skip
            on_piece(side_name(side), "\n")
    summary: dict[str, Any] = {
        "run": run_id,
        "against": baseline,
        "models": {"base": side_name(baseline), "tuned": side_name(run_id)},
        "questions": len(qs),
    }
    scores = {}
    for key, side in (("base", baseline), ("tuned", run_id)):
        summary[key], scores[key] = _side_metrics(qs, answers[side])
    rows = [
        {
            "question": q.question,
            "reference": q.reference,
            "source": q.source,
            "paraphrase": q.paraphrase,
            "base": asdict_answer(answers[baseline][i]) | {"metrics": scores["base"][i]},
            "tuned": asdict_answer(answers[run_id][i]) | {"metrics": scores["tuned"][i]},
        }
        for i, q in enumerate(qs)
    ]
    if judge is not None:
        from assistant_builder.compare.judge import judge_pairs

        on_event(Progress("compare", "asking the LLM judge"))
        summary["judge"] = judge_pairs(
            judge,
            [(q.question, q.reference or "", a.text, b.text)
             for q, a, b in zip(qs, answers[run_id], answers[baseline], strict=True)],
            on_event=on_event,
        )  # fmt: skip
        for row, vote in zip(rows, summary["judge"].pop("items"), strict=True):
            row["judge"] = vote
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    out_dir = run_dir / "compare"
    atomic_write_jsonl(out_dir / f"{stamp}.jsonl", rows)
    summary["pairs_added"] = (
        store_pairs(
            ws,
            qs,
            (side_name(baseline), answers[baseline]),
            (side_name(run_id), answers[run_id]),
        )
        if add_pairs
        else 0
    )
    # Identical answers get no blind pair (there is nothing to choose); say how many.
    summary["identical"] = sum(
        a.text == b.text for a, b in zip(answers[baseline], answers[run_id], strict=True)
    )
    summary["settings"] = json.loads(settings.key())
    summary["max_new_tokens_from"] = budget_from
    summary["cache"] = {"hits": cache.hits, "misses": cache.misses}
    summary["answers"] = str(out_dir / f"{stamp}.jsonl")
    cache.close()
    atomic_write_json(out_dir / f"{stamp}.summary.json", summary)
    return summary


def latest_summary(ws: Workspace, run_id: str, against: str = BASE) -> dict[str, Any] | None:
    """The newest compare summary of ``run_id`` against ``against`` (for the verdict)."""
    folder = ws.runs_dir / run_id / "compare"
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.summary.json"), reverse=True):
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.get("against", BASE) == against:
            return data
    return None


def asdict_answer(a: Any) -> dict[str, Any]:
    return {"text": a.text, "stopped": a.stopped, "new_tokens": a.new_tokens}
