"""The Compare stage: answers from two sides for a question set, metrics against references, and
blind pairs in the ratings database for people to judge later.

Sides: a training run's adapter (the candidate, ``tuned``) against the bare base model, or
against another run's adapter on the same base (both adapters in one model, switched by name).
Question sets: :mod:`assistant_builder.compare.questions`. ``compare()`` reads as its steps:
resolve the sides, open the engine, fill in the answer budget, answer all, score into rows,
write. The app's blind pairs (:mod:`assistant_builder.compare.pair`) use the same steps.
Results go to ``runs/<id>/compare/<time>.jsonl`` (one row per question, both answers and their
metrics) and ``<time>.summary.json``; answers are cached in ``cache/answers.sqlite``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant_builder.compare.budget import answer_budget, trained_answers
from assistant_builder.compare.questions import (  # re-exported: the stage's question API
    Question,
    eval_questions,
    load_questions_file,
    typed_questions,
)
from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.models.engine import Answer, Engine, GenSettings
from assistant_builder.runs import BASE, Run, check_run_id, open_run, require_adapter, side_name
from assistant_builder.workspace import Workspace, atomic_write_json, atomic_write_jsonl

OnPiece = Callable[[str, str], None]  # (side, text piece) while streaming

__all__ = ["Question", "compare", "eval_questions", "load_questions_file", "typed_questions"]


@dataclass(frozen=True)
class Sides:
    """Who answers: the candidate run and its baseline (``base`` or another run on the same
    base model), with the adapter folders to load into one engine."""

    run_id: str
    baseline: str
    base_model: str
    adapters: dict[str, Path]

    @property
    def order(self) -> tuple[str, str]:
        return self.baseline, self.run_id


def _adapter_of(ws: Workspace, run_id: str) -> Path:
    return require_adapter(open_run(ws.runs_dir, run_id).dir)


def resolve_sides(ws: Workspace, run_id: str | None, against: str | None = None) -> Sides:
    """The run (default: the latest with an adapter) and its baseline, checked: both exist,
    have adapters, differ, and share a base model."""
    ws.require()
    run_id = run_id or ws.latest_run()
    if run_id is None:
        raise UserError("no trained run yet (run `assistant-builder train` first)")
    adapters = {run_id: _adapter_of(ws, run_id)}
    base_model = Run(ws.runs_dir / run_id).base_model()
    baseline = BASE if against in (None, BASE) else str(against)
    if baseline == run_id:
        raise UserError(f"cannot compare run {run_id} with itself")
    if baseline != BASE:
        adapters[baseline] = _adapter_of(ws, baseline)
        other_base = Run(ws.runs_dir / baseline).base_model()
        if other_base != base_model:
            raise UserError(
                f"runs {run_id} and {baseline} have different base models "
                f"({base_model} vs {other_base}); compare each with its base instead"
            )
    return Sides(run_id, baseline, base_model, adapters)


def open_engine(ws: Workspace, sides: Sides) -> Engine:
    """One copy of the base weights with the sides' adapters, answering through the
    workspace's answer cache (so the CLI and the app give each other's answers back)."""
    from assistant_builder.models.answer_cache import AnswerCache

    cache = AnswerCache(ws.cache_dir / "answers.sqlite")
    return Engine(sides.base_model, adapters=sides.adapters, cache=cache)


def with_budget(
    engine: Engine, ws: Workspace, sides: Sides, qs: list[Question], settings: GenSettings
) -> tuple[GenSettings, str]:
    """``settings`` with the answer budget filled in when it is unset (<= 0), by the one rule
    of :mod:`assistant_builder.compare.budget`; and where the budget came from."""
    if settings.max_new_tokens > 0:
        return settings, "option"
    trained = trained_answers(ws.runs_dir / sides.run_id, ws.dataset_dir / "train.jsonl")
    refs = [q.reference for q in qs if q.reference]
    budget, source = answer_budget(engine.token_lengths(refs), engine.token_lengths(trained))
    return replace(settings, max_new_tokens=budget), source


def stream_answer(
    engine: Engine,
    question: str,
    side: str,
    settings: GenSettings,
    system_prompt: str,
    on_piece: Callable[[str], None],
) -> Answer:
    """Answer ``question`` as ``side`` (a run id or ``base``), handing each text piece to
    ``on_piece`` as it is generated; the finished answer (text and stopped flag) comes back
    from the cache the stream filled, so it is exactly what a batched compare stores."""
    kw: dict[str, Any] = {"system_prompt": system_prompt, "adapter": side, "settings": settings}
    for piece in engine.stream(question, **kw):
        on_piece(piece)
    answers: list[Answer] = engine.answer([question], **kw)
    return answers[0]


def _answer_all(
    engine: Engine,
    qs: list[Question],
    sides: Sides,
    settings: GenSettings,
    system_prompt: str,
    on_event: OnEvent,
    on_piece: OnPiece | None,
) -> dict[str, list[Answer]]:
    answers: dict[str, list[Answer]] = {}
    for side in sides.order:
        on_event(Progress("compare", f"answering as {side}", done=0, total=len(qs)))
        if on_piece is None:
            answers[side] = engine.answer(
                [q.question for q in qs],
                system_prompt=system_prompt,
                adapter=side,
                settings=settings,
                on_event=on_event,
            )
            continue
        name = side_name(side)
        answers[side] = []
        for q in qs:
            piece = functools.partial(on_piece, name)
            answers[side].append(
                stream_answer(engine, q.question, side, settings, system_prompt, piece)
            )
            on_piece(name, "\n")
    return answers


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


def _rows(
    qs: list[Question], answers: dict[str, list[Answer]], sides: Sides
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The summary's metrics per side and one row per question with both answers."""
    summary: dict[str, Any] = {
        "run": sides.run_id,
        "against": sides.baseline,
        "models": {"base": side_name(sides.baseline), "tuned": side_name(sides.run_id)},
        "questions": len(qs),
    }
    scores = {}
    for key, side in (("base", sides.baseline), ("tuned", sides.run_id)):
        summary[key], scores[key] = _side_metrics(qs, answers[side])
    rows = [
        {
            "question": q.question,
            "reference": q.reference,
            "source": q.source,
            "paraphrase": q.paraphrase,
            "base": asdict_answer(answers[sides.baseline][i]) | {"metrics": scores["base"][i]},
            "tuned": asdict_answer(answers[sides.run_id][i]) | {"metrics": scores["tuned"][i]},
        }
        for i, q in enumerate(qs)
    ]
    return summary, rows


def _judge(
    judge: Any,
    qs: list[Question],
    answers: dict[str, list[Answer]],
    sides: Sides,
    rows: list[dict[str, Any]],
    on_event: OnEvent,
) -> dict[str, Any]:
    from assistant_builder.compare.judge import judge_pairs

    on_event(Progress("compare", "asking the LLM judge"))
    verdict: dict[str, Any] = judge_pairs(
        judge,
        [
            (q.question, q.reference or "", a.text, b.text)
            for q, a, b in zip(qs, answers[sides.run_id], answers[sides.baseline], strict=True)
        ],
        on_event=on_event,
    )
    for row, vote in zip(rows, verdict.pop("items"), strict=True):
        row["judge"] = vote
    return verdict


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
            items.append(
                (q.question, q.reference or "", q.source, left[0], la.text, right[0], ra.text)
            )
        if items:
            store.add_pairs(items)
    return len(items)


def _write(
    ws: Workspace,
    qs: list[Question],
    answers: dict[str, list[Answer]],
    sides: Sides,
    summary: dict[str, Any],
    rows: list[dict[str, Any]],
    add_pairs: bool,
) -> None:
    """The answers file, the blind pairs and the summary file (the summary last: it names the
    answers file and is what later commands read)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    out_dir = ws.runs_dir / sides.run_id / "compare"
    atomic_write_jsonl(out_dir / f"{stamp}.jsonl", rows)
    base, tuned = answers[sides.baseline], answers[sides.run_id]
    summary["pairs_added"] = (
        store_pairs(ws, qs, (side_name(sides.baseline), base), (side_name(sides.run_id), tuned))
        if add_pairs
        else 0
    )
    # Identical answers get no blind pair (there is nothing to choose); say how many.
    summary["identical"] = sum(a.text == b.text for a, b in zip(base, tuned, strict=True))
    summary["answers"] = str(out_dir / f"{stamp}.jsonl")
    atomic_write_json(out_dir / f"{stamp}.summary.json", summary)


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

    ``settings.max_new_tokens <= 0`` (or no settings) takes the budget from
    :mod:`assistant_builder.compare.budget`.
    ``judge``: a :class:`assistant_builder.compare.judge.JudgeConfig` to add an LLM judge's verdict.
    ``on_piece``: stream each answer (one question at a time) instead of batching.
    """
    sides = resolve_sides(ws, run_id, against)
    qs = questions if questions is not None else eval_questions(ws)
    system_prompt = ws.load_settings().system_prompt
    on_event(Progress("compare", "loading model"))
    engine = open_engine(ws, sides)
    settings, budget_from = with_budget(engine, ws, sides, qs, settings or GenSettings(0))
    answers = _answer_all(engine, qs, sides, settings, system_prompt, on_event, on_piece)
    summary, rows = _rows(qs, answers, sides)
    if judge is not None:
        summary["judge"] = _judge(judge, qs, answers, sides, rows, on_event)
    summary["settings"] = json.loads(settings.key())
    summary["max_new_tokens_from"] = budget_from
    cache = engine.cache
    if cache is not None:
        summary["cache"] = {"hits": cache.hits, "misses": cache.misses}
        cache.close()
    _write(ws, qs, answers, sides, summary, rows, add_pairs)
    return summary


def latest_summary(ws: Workspace, run_id: str, against: str = BASE) -> dict[str, Any] | None:
    """The newest compare summary of ``run_id`` against ``against`` (for the verdict)."""
    folder = ws.runs_dir / check_run_id(run_id) / "compare"
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.summary.json"), reverse=True):
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.get("against", BASE) == against:
            return data
    return None


def asdict_answer(a: Any) -> dict[str, Any]:
    return {"text": a.text, "stopped": a.stopped, "new_tokens": a.new_tokens}
