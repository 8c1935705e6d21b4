"""The release check: may this run replace the one users have now?

Three questions, each with a threshold, asked of the candidate run (and of the last exported
run, the one in users' hands, when there is one):

- golden set: does any question get clearly worse than with the last exported run
  (ROUGE-L against the reference drops by more than ``max_drop``)?
- out-of-scope probes (compare/probes.py): does the run give the workspace's hand-off message
  on at least ``min_out_of_scope`` of off-domain questions? Gated only when the run learnt the
  hand-off (its data has out-of-scope rows) or the team wrote its own probes; otherwise the rate
  is reported, with the reason it does not count.
- false refusals: does it hand off on at most ``max_false_refusals`` of the in-domain golden
  questions?

The verdict and every answer are saved in ``runs/<id>/checks/<time>.json``. ``export`` runs
this check first and refuses a failing run unless forced.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant_builder.compare.answers import Question, load_questions_file
from assistant_builder.compare.probes import (
    GOLDEN_FILE,
    PROBE_FILE,
    is_refusal,
    load_probes,
    trained_out_of_scope,
)
from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.metrics import rouge_l
from assistant_builder.runs import Run
from assistant_builder.workspace import Workspace, atomic_write_json

if TYPE_CHECKING:
    from assistant_builder.models.engine import Engine, GenSettings

CANDIDATE, PREVIOUS = "candidate", "previous"
MAX_DATA_QUESTIONS = 20  # golden questions taken from the run's data when no golden file exists


@dataclass(frozen=True)
class Thresholds:
    min_out_of_scope: float = 0.9
    max_false_refusals: float = 0.05
    max_drop: float = 0.1


def last_exported_run(ws: Workspace, exclude: str | None = None) -> str | None:
    """The run of the newest export manifest (other than ``exclude``) whose run still exists."""
    best: tuple[str, str] | None = None
    for manifest in ws.exports_dir.glob("*/*/manifest.json"):
        try:
            info = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged manifest is the export's problem, not a reason to fail here
        run, created = info.get("run"), str(info.get("created", ""))
        if not isinstance(run, str) or run == exclude:
            continue
        if not (ws.runs_dir / run / "adapter").is_dir():
            continue
        if best is None or created > best[0]:
            best = (created, run)
    return best[1] if best else None


def _data_questions(run_dir: Path) -> list[Question]:
    """In-domain questions with their trained answers, eval split first (not memorised)."""
    out: list[Question] = []
    seen: set[str] = set()
    for split in ("eval", "train"):
        path = run_dir / "data" / f"{split}.jsonl"
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if (row.get("meta") or {}).get("how") == "out-of-scope":
                continue
            msgs = row["messages"]
            q = next((m["content"] for m in msgs if m["role"] == "user"), None)
            a = next((m["content"] for m in msgs if m["role"] == "assistant"), None)
            if q and a and q not in seen:
                seen.add(q)
                out.append(Question(q, a, f"{split}.jsonl"))
    return out[:MAX_DATA_QUESTIONS]


def load_golden(ws: Workspace, run_dir: Path, golden: Path | None) -> tuple[list[Question], str]:
    """The in-domain questions: the file given, else checks/golden.jsonl, else the run's data."""
    path = golden or (ws.root / GOLDEN_FILE)
    if golden is not None or path.is_file():
        questions = load_questions_file(path)
        missing = [i for i, q in enumerate(questions, 1) if not q.reference]
        if missing:
            raise UserError(f"{path}: question {missing[0]} has no 'reference'")
        return questions, str(path)
    questions = _data_questions(run_dir)
    if not questions:
        raise UserError(
            f"run {run_dir.name} has no training data to check with; pass --golden FILE"
        )
    return questions, f"run data (no {GOLDEN_FILE})"


def verdict(
    golden: list[dict[str, Any]],
    probes: list[dict[str, Any]],
    gate_out_of_scope: tuple[bool, str],
    limits: Thresholds,
) -> dict[str, Any]:
    """Pass/fail and reasons from scored rows (pure: the tests feed it answers directly).

    ``golden`` rows: question, candidate {rouge_l, refusal}, optional previous {rouge_l}.
    ``probes`` rows: question, candidate {refusal}."""
    reasons: list[str] = []
    regressions = [
        {
            "question": r["question"],
            "rouge_l": r[CANDIDATE]["rouge_l"],
            "previous_rouge_l": r[PREVIOUS]["rouge_l"],
        }
        for r in golden
        if PREVIOUS in r and r[PREVIOUS]["rouge_l"] - r[CANDIDATE]["rouge_l"] > limits.max_drop
    ]
    if regressions:
        reasons.append(
            f"{len(regressions)} golden question(s) got worse than the last export "
            f"(ROUGE-L down by more than {limits.max_drop}): {regressions[0]['question']!r}"
            + (" ..." if len(regressions) > 1 else "")
        )
    false_refusals = [r["question"] for r in golden if r[CANDIDATE]["refusal"]]
    fr_rate = len(false_refusals) / len(golden) if golden else 0.0
    if fr_rate > limits.max_false_refusals:
        reasons.append(
            f"false refusals on {fr_rate:.0%} of in-domain questions "
            f"(at most {limits.max_false_refusals:.0%} allowed)"
        )
    handed_off = sum(1 for r in probes if r[CANDIDATE]["refusal"])
    oos_rate = handed_off / len(probes) if probes else None
    gated, why = gate_out_of_scope
    if gated and oos_rate is not None and oos_rate < limits.min_out_of_scope:
        reasons.append(
            f"out-of-scope reply on {oos_rate:.0%} of off-domain probes "
            f"(at least {limits.min_out_of_scope:.0%} needed)"
        )
    n = len(golden)
    return {
        "passed": not reasons,
        "reasons": reasons,
        "regressions": regressions,
        "golden_rouge_l": sum(r[CANDIDATE]["rouge_l"] for r in golden) / n if n else None,
        "previous_rouge_l": (
            sum(r[PREVIOUS]["rouge_l"] for r in golden) / n
            if n and all(PREVIOUS in r for r in golden)
            else None
        ),
        "false_refusals": {"rate": fr_rate, "n": n, "questions": false_refusals},
        "out_of_scope": {"rate": oos_rate, "n": len(probes), "gated": gated, "why": why},
    }


def _gate(ws: Workspace, run_dir: Path, probe_source: str) -> tuple[bool, str]:
    if probe_source != "builtin":
        return True, f"the workspace's own probes ({PROBE_FILE})"
    if trained_out_of_scope(run_dir):
        return True, "the run trained on out-of-scope rows"
    return False, (
        "not gated: the run never learnt the hand-off (build the dataset with "
        "--out-of-scope N) and the workspace has no probes of its own"
    )


def check_settings(
    engine: Engine, run_dir: Path, questions: list[Question], max_new_tokens: int = 0
) -> GenSettings:
    """Greedy answers with ``max_new_tokens``, or (0) the answer budget compare and eval use
    (compare/budget.py)."""
    from assistant_builder.compare.budget import answer_budget, trained_answers
    from assistant_builder.models.engine import GenSettings

    if max_new_tokens > 0:
        return replace(GenSettings(), max_new_tokens=max_new_tokens)
    trained = trained_answers(run_dir, run_dir / "data" / "train.jsonl")
    refs = [q.reference or "" for q in questions]
    budget, _ = answer_budget(engine.token_lengths(refs), engine.token_lengths(trained))
    return replace(GenSettings(), max_new_tokens=budget)


def release_check(
    ws: Workspace,
    run_id: str,
    golden: Path | None = None,
    against: str | None = None,
    limits: Thresholds = Thresholds(),
    on_event: OnEvent = ignore,
    max_new_tokens: int = 0,
) -> dict[str, Any]:
    """Answer the golden questions and probes as the run (and ``against``, by default the last
    exported run), score, decide, save. Returns the verdict with every answer."""
    from assistant_builder.models.answer_cache import AnswerCache
    from assistant_builder.models.engine import Engine

    ws.require()
    run_dir = ws.run_dir(run_id)
    against = against or last_exported_run(ws, exclude=run_id)
    adapters = {CANDIDATE: run_dir / "adapter"}
    base_model = Run(run_dir).base_model()
    if against:
        other = ws.run_dir(against)
        if Run(other).base_model() != base_model:
            raise UserError(f"run {against} has another base model than {run_id}; pass --against")
        adapters[PREVIOUS] = other / "adapter"
    questions, golden_source = load_golden(ws, run_dir, golden)
    probes, probe_source, leaked = load_probes(ws, run_dir)
    settings = ws.load_settings()
    on_event(Progress("check", "loading model"))
    engine = Engine(
        base_model, adapters=adapters, cache=AnswerCache(ws.cache_dir / "answers.sqlite")
    )
    gen = check_settings(engine, run_dir, questions, max_new_tokens)

    def ask(texts: list[str], side: str) -> list[Any]:
        on_event(Progress("check", f"answering as {side}", done=0, total=len(texts)))
        return engine.answer(
            texts,
            system_prompt=settings.system_prompt,
            adapter=side,
            settings=gen,
            on_event=on_event,
        )

    golden_rows: list[dict[str, Any]] = []
    sides = {side: ask([q.question for q in questions], side) for side in adapters}
    for i, q in enumerate(questions):
        row: dict[str, Any] = {"question": q.question, "reference": q.reference}
        for side, answers in sides.items():
            text = answers[i].text
            row[side] = {
                "text": text,
                "rouge_l": rouge_l(text, q.reference or ""),
                "refusal": is_refusal(text, settings.out_of_scope_message),
            }
        golden_rows.append(row)
    probe_rows = [
        {
            "question": p,
            CANDIDATE: {
                "text": a.text,
                "refusal": is_refusal(a.text, settings.out_of_scope_message),
            },
        }
        for p, a in zip(probes, ask(probes, CANDIDATE) if probes else [], strict=True)
    ]
    result = verdict(golden_rows, probe_rows, _gate(ws, run_dir, probe_source), limits)
    result["out_of_scope"].update(source=probe_source, left_out_trained=leaked)
    result.update(
        run=run_id,
        against=against,
        golden_source=golden_source,
        thresholds=asdict(limits),
        golden=golden_rows,
        probes=probe_rows,
    )
    out = run_dir / "checks" / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    atomic_write_json(out, result)
    result["path"] = str(out)
    return result


def last_check(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    """The newest saved release check of a run (with ``path``), or None when it has none."""
    saved = sorted((ws.runs_dir / run_id / "checks").glob("*.json"))
    for path in reversed(saved):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged file: the one before it is still a real check
        if isinstance(result, dict) and "passed" in result:
            return {**result, "path": str(path)}
    return None
