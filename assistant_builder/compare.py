"""The Compare stage: answers from base and tuned for a question set, metrics against references.

Question sets: the dataset's eval split (with references), a user file (JSONL or CSV with
``question`` and optional ``reference``), or questions typed on the spot. Results are written
to ``runs/<id>/compare/<time>.jsonl`` (one row per question, both answers) and a summary JSON.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.generate import Engine, GenSettings
from assistant_builder.workspace import Workspace, atomic_write_json, atomic_write_jsonl, read_jsonl


@dataclass
class Question:
    question: str
    reference: str | None = None
    source: str | None = None
    paraphrase: bool = False


def load_questions_file(path: Path) -> list[Question]:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    out: list[Question] = []
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            for lineno, row in enumerate(csv.DictReader(f), 2):
                q = (row.get("question") or "").strip()
                if not q:
                    raise UserError(f"{path}:{lineno}: missing 'question'")
                out.append(Question(q, (row.get("reference") or "").strip() or None))
    else:
        for lineno, row in enumerate(read_jsonl(path), 1):
            q = row.get("question")
            if not isinstance(q, str) or not q.strip():
                raise UserError(f"{path}:{lineno}: missing 'question'")
            ref = row.get("reference")
            out.append(
                Question(
                    q.strip(),
                    ref if isinstance(ref, str) else None,
                    row.get("source"),
                    bool(row.get("paraphrase", False)),
                )
            )
    if not out:
        raise UserError(f"{path}: no questions in the file")
    return out


def eval_questions(ws: Workspace) -> list[Question]:
    path = ws.dataset_dir / "eval.jsonl"
    if not path.is_file():
        raise UserError("no eval split (run `assistant-builder dataset`, or pass --questions FILE)")
    out = []
    for row in read_jsonl(path):
        msgs = row["messages"]
        q = next(m["content"] for m in msgs if m["role"] == "user")
        a = next(m["content"] for m in reversed(msgs) if m["role"] == "assistant")
        out.append(Question(q, a, row.get("meta", {}).get("source")))
    if not out:
        raise UserError("the eval split is empty")
    return out


def run_base_model(run_dir: Path) -> str:
    data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    base: str = data["base_model"]
    return base


def compare(
    ws: Workspace,
    run_id: str | None = None,
    questions: list[Question] | None = None,
    settings: GenSettings | None = None,
    on_event: OnEvent = ignore,
) -> dict[str, Any]:
    from assistant_builder.metrics import score_answers

    ws.require()
    run_id = run_id or ws.latest_run()
    if run_id is None:
        raise UserError("no trained run yet (run `assistant-builder train` first)")
    run_dir = ws.run_dir(run_id)
    adapter = run_dir / "adapter"
    if not adapter.is_dir():
        raise UserError(f"run {run_id} has no adapter (did it finish?)")
    qs = questions if questions is not None else eval_questions(ws)
    settings = settings or GenSettings()
    system_prompt = ws.load_settings().system_prompt
    on_event(Progress("compare", "loading model"))
    engine = Engine(run_base_model(run_dir), adapter)
    texts = [q.question for q in qs]
    answers = {}
    for side, tuned in (("base", False), ("tuned", True)):
        on_event(Progress("compare", f"answering as {side}", done=0, total=len(qs)))
        answers[side] = engine.answer(
            texts, system_prompt=system_prompt, tuned=tuned, settings=settings, on_event=on_event
        )
    refs = [q.reference or "" for q in qs]
    have_refs = all(q.reference for q in qs)
    summary: dict[str, Any] = {"run": run_id, "questions": len(qs)}
    for side in ("base", "tuned"):
        ans = answers[side]
        if have_refs:
            summary[side] = score_answers(
                [a.text for a in ans], refs, [a.stopped for a in ans]
            )
        else:
            summary[side] = {"stopped_share": sum(a.stopped for a in ans) / len(ans)}
    rows = [
        {
            "question": q.question,
            "reference": q.reference,
            "source": q.source,
            "paraphrase": q.paraphrase,
            "base": asdict_answer(answers["base"][i]),
            "tuned": asdict_answer(answers["tuned"][i]),
        }
        for i, q in enumerate(qs)
    ]
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = run_dir / "compare"
    atomic_write_jsonl(out_dir / f"{stamp}.jsonl", rows)
    summary["settings"] = json.loads(settings.key())
    summary["answers"] = str(out_dir / f"{stamp}.jsonl")
    atomic_write_json(out_dir / f"{stamp}.summary.json", summary)
    return summary


def asdict_answer(a: Any) -> dict[str, Any]:
    return {"text": a.text, "stopped": a.stopped, "new_tokens": a.new_tokens}
