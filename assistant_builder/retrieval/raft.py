"""Retrieval-aware training rows (RAFT: retrieval-augmented fine-tuning).

A share of the training conversations gets a copy whose question comes with the top-k passages
that the index retrieves for it. In most copies the passage holding the answer is among them
(the model learns to find and quote it); in the rest only distractors are, and the answer is
the workspace's out-of-scope reply (the model learns not to answer from the wrong passage). The
closed-book rows all stay, so the adapter still answers without retrieval, as the GGUF and
Ollama exports must.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant_builder.retrieval.index import Index
from assistant_builder.retrieval.prompt import fit_passages, passage_budget, render


@dataclass
class RaftOptions:
    share: float = 0.0  # share of training conversations that get a retrieval copy
    k: int = 3
    gold_share: float = 0.8  # of those: the answer's passage is in the context
    layout: str = "passages-first"
    context_tokens: int = 768
    max_seq_length: int = 1024
    seed: int = 42


@dataclass
class RaftReport:
    rows: int = 0
    with_gold: int = 0
    distractors_only: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "with_gold": self.with_gold,
            "distractors_only": self.distractors_only,
            "skipped": self.skipped,
        }


def _draw(seed: int, key: str, salt: str) -> float:
    h = hashlib.sha256(f"{seed}:{salt}:{key}".encode()).hexdigest()[:8]
    return int(h, 16) / 0xFFFFFFFF


def _turns(row: dict[str, Any]) -> tuple[int, int] | None:
    """Indices of the (last) user message and the assistant answer after it."""
    msgs = row.get("messages") or []
    for i in range(len(msgs) - 1, 0, -1):
        if msgs[i]["role"] == "assistant" and msgs[i - 1]["role"] == "user":
            return i - 1, i
    return None


def _context(
    index: Index, question: str, group: str | None, gold: bool, opts: RaftOptions
) -> tuple[list[str], int | None] | None:
    """Passage texts for one row and where the gold one is, or None when there is none."""
    hits = index.search(question, opts.k + 4).hits
    golds = [h.passage for h in hits if h.passage.group == group]
    others = [h.passage for h in hits if h.passage.group != group]
    if not gold:
        picked = others[: opts.k]
        return ([p.text for p in picked], None) if picked else None
    if golds:
        # In retrieval order, the gold passage kept even when k distractors outrank it.
        picked = [h.passage for h in hits if h.passage is golds[0] or h.passage in others]
        picked = picked[: opts.k]
        if golds[0] not in picked:
            picked = [*picked[: opts.k - 1], golds[0]]
        gold_passage = golds[0]
    else:
        by_group = [p for p in index.passages if p.group == group]
        if not by_group:
            return None
        # Retrieval missed it: put it where a worse retriever would, last of the k.
        gold_passage = by_group[0]
        picked = [*others[: opts.k - 1], gold_passage]
    return [p.text for p in picked], picked.index(gold_passage)


def raft_rows(
    rows: list[dict[str, Any]],
    index: Index,
    opts: RaftOptions,
    out_of_scope_message: str,
) -> tuple[list[dict[str, Any]], RaftReport]:
    """The retrieval copies of ``rows`` (the closed-book rows themselves are not returned)."""
    from assistant_builder.retrieval.prompt import estimate_tokens

    report = RaftReport()
    out: list[dict[str, Any]] = []
    if opts.share <= 0 or not index.passages:
        return out, report
    for row in rows:
        meta = row.get("meta") or {}
        key = str(meta.get("id") or row["messages"][-1]["content"])
        if _draw(opts.seed, key, "share") >= opts.share:
            continue
        turns = _turns(row)
        if turns is None:
            report.skip("no question and answer")
            continue
        u, a = turns
        question, answer = row["messages"][u]["content"], row["messages"][a]["content"]
        off_topic = meta.get("how") == "out-of-scope"
        gold = not off_topic and _draw(opts.seed, key, "gold") < opts.gold_share
        found = _context(index, question, meta.get("group"), gold, opts)
        if found is None:
            report.skip("answer not in the index" if gold else "no distractor passages")
            continue
        texts, at = found
        room = opts.max_seq_length - estimate_tokens(answer) - 64  # chat template, system
        budget, _ = passage_budget(question, min(opts.context_tokens, room))
        fitted = fit_passages(texts, budget)
        if not fitted.passages:
            report.skip("no room for passages")
            continue
        # The gold passage is the one that answers: cut or left out, the row would teach
        # the model to answer beyond its context.
        if at is not None and (
            at not in fitted.kept or fitted.passages[fitted.kept.index(at)] != texts[at]
        ):
            report.skip("answer passage longer than the context budget")
            continue
        new = copy.deepcopy(row)
        new["messages"][u]["content"] = render(question, fitted.passages, opts.layout)
        if not gold:
            new["messages"][a]["content"] = out_of_scope_message
        new["meta"]["retrieval"] = {"k": len(fitted.passages), "gold": gold}
        out.append(new)
        report.rows += 1
        if gold:
            report.with_gold += 1
        else:
            report.distractors_only += 1
    return out, report


def add_to_run(ws: Any, recipe: Any, run_dir: Path) -> dict[str, Any]:
    """Give a new run its copy of the index and, when the recipe asks for it, its retrieval
    rows (appended to ``runs/<id>/data/train.jsonl``). Returns what to record in run.json,
    with a ``notice`` when the recipe's retrieval rows could not be made."""
    from assistant_builder.errors import UserError
    from assistant_builder.retrieval.index import INDEX_DIR
    from assistant_builder.workspace import atomic_write_jsonl, read_jsonl

    src = ws.dataset_dir / INDEX_DIR
    if not (src / "meta.json").is_file():
        if recipe.raft_share <= 0:
            return {}
        return {
            "notice": "raft_share is set but the dataset has no retrieval index: training "
            "closed-book only (run `assistant-builder dataset` to build the index)"
        }
    shutil.copytree(src, run_dir / INDEX_DIR)
    if recipe.raft_share <= 0:
        return {"index": str(run_dir / INDEX_DIR)}
    try:
        index = Index.load(run_dir / INDEX_DIR)
    except UserError as e:
        return {"notice": f"{e}: training closed-book only"}
    path = run_dir / "data" / "train.jsonl"
    rows = list(read_jsonl(path))
    opts = RaftOptions(
        share=recipe.raft_share,
        k=recipe.raft_k,
        gold_share=recipe.raft_gold_share,
        layout=recipe.raft_layout,
        context_tokens=recipe.raft_context_tokens,
        max_seq_length=recipe.max_seq_length,
        seed=recipe.seed,
    )
    extra, report = raft_rows(rows, index, opts, ws.load_settings().out_of_scope_message)
    atomic_write_jsonl(path, rows + extra)
    info: dict[str, Any] = {"index": str(run_dir / INDEX_DIR), "raft": report.to_json()}
    stale = index.stale_notice(ws)
    if stale:
        info["notice"] = stale
    return info


def describe(info: dict[str, Any]) -> list[str]:
    """One line per fact worth telling the person training (the worker's mode notes)."""
    lines = []
    raft = info.get("raft")
    if raft:
        lines.append(
            f"retrieval rows: {raft['rows']} added ({raft['with_gold']} with the answer's "
            f"passage, {raft['distractors_only']} with distractors only)"
            + (f"; skipped {raft['skipped']}" if raft["skipped"] else "")
        )
    if info.get("notice"):
        lines.append(str(info["notice"]))
    return lines
