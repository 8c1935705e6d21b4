"""Golden-set evaluation: does the tuned model know the domain, verbatim and reworded?

A golden file is JSONL (or CSV) with ``question``, ``reference`` and an optional
``paraphrase`` flag (true for questions reworded the way a user might type them). The result
is a per-question table of base and tuned answers with ROUGE-L, token F1 and whether each
answer stopped on its own, and a summary split into verbatim and reworded questions.
``--against RUN`` adds a second tuned run and per-question differences, so a regression shows.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant_builder.compare.answers import Question, load_questions_file
from assistant_builder.compare.budget import answer_budget, trained_answers
from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.models.answer_cache import AnswerCache
from assistant_builder.models.engine import Answer, Engine, GenSettings
from assistant_builder.runs import Run, require_adapter
from assistant_builder.workspace import Workspace, atomic_write_json

SPLITS = ("verbatim", "reworded", "all")
RETRIEVAL_SUFFIX = "+retrieval"
SYSTEMS = ("base", "tuned", "base+retrieval", "tuned+retrieval")
DEFAULT_SYSTEMS = ("base", "tuned")


def parse_systems(text: str | None) -> list[str]:
    """``--systems a,b,...``: known names, each once, in the order given."""
    if not text:
        return list(DEFAULT_SYSTEMS)
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown or not names:
        raise UserError(
            f"--systems: unknown system {', '.join(unknown) or '(none)'} "
            f"(choose from {', '.join(SYSTEMS)})"
        )
    return list(dict.fromkeys(names))


def _summarise(rows: list[dict[str, Any]], side: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for split in SPLITS:
        sel = [
            r
            for r in rows
            if split == "all" or (r["paraphrase"] if split == "reworded" else not r["paraphrase"])
        ]
        if not sel:
            continue
        n = len(sel)
        out[split] = {
            "n": n,
            "rouge_l": sum(r[side]["rouge_l"] for r in sel) / n,
            "token_f1": sum(r[side]["token_f1"] for r in sel) / n,
            "stopped": sum(r[side]["stopped"] for r in sel) / n,
        }
    return out


def _score(answer: Answer, reference: str) -> dict[str, Any]:
    from assistant_builder.metrics import rouge_l, token_f1

    return {
        "text": answer.text,
        "stopped": answer.stopped,
        "tokens": answer.new_tokens,
        "rouge_l": rouge_l(answer.text, reference),
        "token_f1": token_f1(answer.text, reference),
    }


def _answers(
    engine: Engine,
    questions: list[str],
    tuned: bool,
    system_prompt: str,
    settings: GenSettings,
    label: str,
    on_event: OnEvent,
) -> list[Answer]:
    on_event(Progress("eval", f"answering as {label}", done=0, total=len(questions)))
    return engine.answer(
        questions,
        system_prompt=system_prompt,
        tuned=tuned,
        settings=settings,
        on_event=on_event,
    )


def training_figures(run_dir: Path) -> dict[str, Any]:
    """How the run trained (metrics.json), to print next to the scores."""
    m = Run(run_dir).metrics() or {}
    keys = ("steps", "epochs", "tokens", "train_seconds", "tokens_per_second", "last_loss")
    return {k: m.get(k) for k in keys}


def evaluate(
    ws: Workspace,
    golden: Path,
    run_id: str | None = None,
    against: str | None = None,
    settings: GenSettings | None = None,
    on_event: OnEvent = ignore,
    systems: list[str] | None = None,
) -> dict[str, Any]:
    """Answer every golden question as each system (default base and tuned; ``against``
    adds another run), score, and save."""
    ws.require()
    questions = load_questions_file(golden)
    if not all(q.reference for q in questions):
        raise UserError(f"{golden}: every golden question needs a 'reference'")
    return evaluate_questions(
        ws, questions, str(golden), run_id, against, settings, on_event, systems
    )


def evaluate_questions(
    ws: Workspace,
    questions: list[Question],
    label: str,
    run_id: str | None = None,
    against: str | None = None,
    settings: GenSettings | None = None,
    on_event: OnEvent = ignore,
    systems: list[str] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate` on questions that all have a reference; ``label`` names the set."""
    systems = systems or list(DEFAULT_SYSTEMS)
    if against and "tuned" not in systems:
        raise UserError("--against compares with the tuned system: include 'tuned' in --systems")
    run_id = run_id or ws.latest_run()
    if run_id is None and not all(s.startswith("base") for s in systems):
        raise UserError("no trained run yet (run `assistant-builder train` first)")
    # Only base systems and no run yet: the base model alone (retrieval before any training).
    run_dir = ws.run_dir(run_id) if run_id else None
    settings = settings or GenSettings(max_new_tokens=0)
    system_prompt = ws.load_settings().system_prompt
    base_model = Run(run_dir).base_model() if run_dir else ws.load_settings().base_model
    on_event(Progress("eval", "loading model"))
    # The cache makes re-evaluating (another run, --against) skip the base answers.
    cache = AnswerCache(ws.cache_dir / "answers.sqlite")
    engine = Engine(base_model, require_adapter(run_dir) if run_dir else None, cache=cache)
    budget_from = "option"
    if settings.max_new_tokens <= 0:
        trained = trained_answers(run_dir, ws.dataset_dir / "train.jsonl")
        refs = [q.reference or "" for q in questions]
        lengths = engine.token_lengths(refs), engine.token_lengths(trained)
        budget, budget_from = answer_budget(*lengths)
        settings = replace(settings, max_new_tokens=budget)
    retrieval = None
    prompts = {s: [q.question for q in questions] for s in systems}
    with_retrieval = [s for s in systems if s.endswith(RETRIEVAL_SUFFIX)]
    if with_retrieval:
        from assistant_builder.compare.golden_retrieval import retrieval_prompts

        on_event(Progress("eval", "retrieving passages"))
        grounded, retrieval = retrieval_prompts(
            ws, run_dir, engine, questions, settings, with_retrieval
        )
        prompts.update({s: [g.prompt for g in gs] for s, gs in grounded.items()})
    sides: dict[str, list[Answer]] = {}
    for system in systems:
        tuned = system.startswith("tuned")
        sides[system] = _answers(
            engine, prompts[system], tuned, system_prompt, settings, system, on_event
        )
    if against:
        other_dir = ws.run_dir(against)
        if Run(other_dir).base_model() != base_model:
            raise UserError(f"run {against} has a different base model than {run_id}")
        other = Engine(base_model, require_adapter(other_dir), cache=cache)
        sides["against"] = _answers(
            other, [q.question for q in questions], True, system_prompt, settings, against, on_event
        )
    rows = _rows(questions, sides, retrieval, against)
    summary: dict[str, Any] = {
        "run": run_id,
        "golden": label,
        "questions": len(rows),
        "systems": systems,
        "settings": json.loads(settings.key()),
        "max_new_tokens_from": budget_from,
        "system_prompt": system_prompt,
        "training": training_figures(run_dir) if run_dir else {},
    }
    _add_scores(summary, rows, list(sides), retrieval, against)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = (run_dir or ws.root) / "eval" / f"{stamp}.json"
    atomic_write_json(out, {"summary": summary, "rows": rows})
    summary["path"] = str(out)
    summary["rows"] = rows
    return summary


def _rows(
    questions: list[Question],
    sides: dict[str, list[Answer]],
    retrieval: dict[str, Any] | None,
    against: str | None,
) -> list[dict[str, Any]]:
    """One row per question: each side's scored answer, what retrieval found."""
    rows = []
    for i, q in enumerate(questions):
        ref = q.reference or ""
        row: dict[str, Any] = {"question": q.question, "reference": ref, "paraphrase": q.paraphrase}
        for side, answers in sides.items():
            row[side] = _score(answers[i], ref)
        if retrieval is not None:
            row["retrieval"] = retrieval["rows"][i]
        if against:
            row["delta_rouge_l"] = row["tuned"]["rouge_l"] - row["against"]["rouge_l"]
        rows.append(row)
    return rows


def _add_scores(
    summary: dict[str, Any],
    rows: list[dict[str, Any]],
    sides: list[str],
    retrieval: dict[str, Any] | None,
    against: str | None,
) -> None:
    """Each side's split scores, the tuned-over-base gain, retrieval's hit rate, regressions."""
    for side in sides:
        summary[side] = _summarise(rows, side)
    if "tuned" in summary and "base" in summary:
        summary["gain"] = {
            split: {
                k: summary["tuned"][split][k] - summary["base"][split][k]
                for k in ("rouge_l", "token_f1", "stopped")
            }
            for split in summary["tuned"]
        }
    if retrieval is not None:
        summary["retrieval"] = {k: v for k, v in retrieval.items() if k != "rows"}
        summary["retrieval"]["hit_rate"] = _hit_rates(rows)
    if against:
        summary["against"] = {"run": against, **summary["against"]}
        summary["regressions"] = [r["question"] for r in rows if r["delta_rouge_l"] < -0.1]


def _hit_rates(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Share of questions whose gold passage was among the k retrieved, per split."""
    out: dict[str, float] = {}
    for split in SPLITS:
        sel = [
            r["retrieval"]["hit"]
            for r in rows
            if split == "all" or (r["paraphrase"] if split == "reworded" else not r["paraphrase"])
        ]
        if sel:
            out[split] = sum(sel) / len(sel)
    return out
