"""The Dataset stage: ingested pairs and sections → chat conversations, dedup, train/eval split.

One conversation per line (``messages`` format, what TRL and chat platforms read) with a
``meta`` object carrying provenance. The split is by *answer group*: every phrasing of a
question that shares one answer lands on the same side, so no paraphrase of an eval answer is
trained on. Human edits live in ``dataset/edits.jsonl`` (append-only) and are applied on every
build, so rebuilding never loses a person's review.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.sources import load_items
from assistant_builder.workspace import (
    Workspace,
    atomic_write_json,
    atomic_write_jsonl,
    read_jsonl,
)

REVIEW_STATES = ("new", "approved", "rejected", "edited", "stale")


@dataclass
class BuildOptions:
    eval_fraction: float = 0.15
    min_eval: int = 1
    seed: int = 0
    include_sections: bool = True
    question_strategy: str = "template"


@dataclass
class DatasetReport:
    train: int = 0
    eval: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    groups: int = 0
    sources: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "train": self.train,
            "eval": self.eval,
            "dropped": self.dropped,
            "groups": self.groups,
            "sources": self.sources,
        }


def normalize_question(q: str) -> str:
    """Key for duplicate detection: case, punctuation and spacing do not make a new question."""
    q = q.lower().replace("’", "'")
    q = re.sub(r"[`*_\"'“”]", "", q)
    q = re.sub(r"[^\w\s]", " ", q)
    return " ".join(q.split())


def _token_set(q: str) -> frozenset[str]:
    return frozenset(normalize_question(q).split())


def _near_duplicate(a: frozenset[str], b: frozenset[str], threshold: float = 0.9) -> bool:
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= threshold


def example_id(source: str, question: str) -> str:
    """Stable across re-ingests of a changed file, so a person's review follows the example."""
    return hashlib.sha256(f"{source}\0{normalize_question(question)}".encode()).hexdigest()[:16]


def make_conversation(
    question: str, answer: str, system_prompt: str | None, meta: dict[str, Any]
) -> dict[str, Any]:
    messages: list[dict[str, str]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": question})
    messages.append({"role": "assistant", "content": answer})
    return {"messages": messages, "meta": meta}


def _provenance(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": item.get("source"),
        "format": item.get("format"),
        "line_start": item.get("line_start"),
        "line_end": item.get("line_end"),
        "page": item.get("page"),
        "sha256": item.get("sha256"),
    }


def candidate_rows(items: list[dict[str, Any]], opts: BuildOptions) -> list[dict[str, Any]]:
    """(question, answer, meta) rows before dedup: pairs, their variants, generated questions."""
    from assistant_builder.questions import questions_for_section

    rows: list[dict[str, Any]] = []
    for item in items:
        prov = _provenance(item)
        if item.get("kind") == "pair":
            group = hashlib.sha256(item["answer"].strip().encode()).hexdigest()[:12]
            for j, q in enumerate([item["question"], *item.get("variants", [])]):
                how = item.get("how", "extracted") if j == 0 else "variant"
                rows.append({"q": q, "a": item["answer"], "how": how, "group": group, **prov})
        elif item.get("kind") == "section" and opts.include_sections:
            group = hashlib.sha256(item["text"].strip().encode()).hexdigest()[:12]
            for q, a in questions_for_section(item, strategy=opts.question_strategy):
                rows.append({"q": q, "a": a, "how": "generated", "group": group, **prov})
    return rows


def load_edits(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Latest edit per example id (edits.jsonl is append-only; later lines win)."""
    path = ws.dataset_dir / "edits.jsonl"
    edits: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for row in read_jsonl(path):
            edits[row["id"]] = row
    return edits


def record_edit(
    ws: Workspace,
    ex_id: str,
    *,
    review: str,
    question: str | None = None,
    answer: str | None = None,
    sha256: str | None = None,
) -> None:
    """Append a person's review of one example (approve/reject/edit). Never rewrites history."""
    import json

    if review not in REVIEW_STATES:
        raise UserError(f"review state must be one of {', '.join(REVIEW_STATES)}")
    row: dict[str, Any] = {
        "id": ex_id,
        "review": review,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if question is not None:
        row["question"] = question
    if answer is not None:
        row["answer"] = answer
    if sha256 is not None:
        row["sha256"] = sha256
    path = ws.dataset_dir / "edits.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _is_eval_group(group: str, seed: int, fraction: float) -> bool:
    h = int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()[:8], 16)
    return (h / 0xFFFFFFFF) < fraction


def build_dataset(
    ws: Workspace, opts: BuildOptions | None = None, on_event: OnEvent = ignore
) -> DatasetReport:
    opts = opts or BuildOptions()
    ws.require()
    settings = ws.load_settings()
    items = load_items(ws)
    if not items:
        raise UserError("no sources ingested yet (run `assistant-builder ingest PATH` first)")
    on_event(Progress("dataset", f"{len(items)} items from sources"))
    rows = candidate_rows(items, opts)
    # Issue 5 (closing the loop): rows corrected by raters (dataset/feedback.jsonl, written by
    # `assistant-builder rate --to-dataset`) go first, so they win the duplicate check below.
    from assistant_builder.feedback import merge_feedback

    rows = merge_feedback(ws, rows)
    edits = load_edits(ws)
    report = DatasetReport(sources=len({r["source"] for r in rows}))
    dropped: dict[str, int] = {}
    seen_exact: dict[str, str] = {}
    seen_sets: list[frozenset[str]] = []
    conversations: list[dict[str, Any]] = []
    for r in rows:
        ex_id = example_id(r["source"] or "", r["q"])
        q, a, review = r["q"].strip(), r["a"].strip(), "new"
        edit = edits.get(ex_id)
        if edit:
            q = edit.get("question", q)
            a = edit.get("answer", a)
            review = edit["review"]
            # The person reviewed an earlier version of the source: ask them to look again.
            if edit.get("sha256") and edit["sha256"] != r["sha256"] and review != "rejected":
                review = "stale"
        if not q or not a:
            dropped["empty"] = dropped.get("empty", 0) + 1
            continue
        if review == "rejected":
            dropped["rejected"] = dropped.get("rejected", 0) + 1
            continue
        key = normalize_question(q)
        if key in seen_exact:
            dropped["duplicate"] = dropped.get("duplicate", 0) + 1
            continue
        toks = _token_set(q)
        if any(_near_duplicate(toks, s) for s in seen_sets):
            dropped["near_duplicate"] = dropped.get("near_duplicate", 0) + 1
            continue
        seen_exact[key] = ex_id
        seen_sets.append(toks)
        meta = {
            "id": ex_id,
            "group": r["group"],
            "how": "edited" if edit and ("question" in edit or "answer" in edit) else r["how"],
            "review": review,
            **{k: r[k] for k in ("source", "format", "line_start", "line_end", "page", "sha256")},
        }
        conversations.append(make_conversation(q, a, settings.system_prompt, meta))
    if not conversations:
        raise UserError("every example was dropped; nothing to train on")
    groups = sorted({c["meta"]["group"] for c in conversations})
    eval_groups = {g for g in groups if _is_eval_group(g, opts.seed, opts.eval_fraction)}
    # Small datasets: make sure there is something to evaluate on, but keep most for training.
    if len(eval_groups) < opts.min_eval and len(groups) > 1:
        ranked = sorted(groups, key=lambda g: hashlib.sha256(f"{opts.seed}:{g}".encode()).digest())
        eval_groups = set(ranked[: opts.min_eval])
    train = [c for c in conversations if c["meta"]["group"] not in eval_groups]
    evals = [c for c in conversations if c["meta"]["group"] in eval_groups]
    for c in train:
        c["meta"]["split"] = "train"
    for c in evals:
        c["meta"]["split"] = "eval"
    d = ws.dataset_dir
    atomic_write_jsonl(d / "conversations.jsonl", train + evals)
    atomic_write_jsonl(d / "train.jsonl", train)
    atomic_write_jsonl(d / "eval.jsonl", evals)
    report.train, report.eval, report.dropped, report.groups = (
        len(train),
        len(evals),
        dropped,
        len(groups),
    )
    atomic_write_json(d / "report.json", report.to_json())
    on_event(Progress("dataset", f"{report.train} train, {report.eval} eval"))
    return report


def load_split(ws: Workspace, split: str) -> list[dict[str, Any]]:
    path = ws.dataset_dir / f"{split}.jsonl"
    if not path.is_file():
        raise UserError(f"no {split} split yet (run `assistant-builder dataset` first)")
    return list(read_jsonl(path))


def dataset_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
