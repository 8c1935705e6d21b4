"""What an update run (``train --from RUN``) trains on: the rows that changed since the parent
run, plus a replay sample of the ones that did not.

The parent's rows are its own snapshot of the dataset (``runs/<id>/data/``: the whole training
split it stood for, ``dataset_train.jsonl`` for an update run, else ``train.jsonl``). A row of
the current training split is

- *unchanged* when the parent trained on the same question with the same answer;
- *changed* when its answer is new but the parent knew its question, or another phrasing of
  its answer's question, with another answer (an edited FAQ answer);
- *new* otherwise (a new answer, or a new phrasing of a known one).

Changed and new rows are all trained on. Training on them alone would let the update pull the
adapter away from what it knew, so a share of the unchanged rows is replayed with them
(``replay_share`` of the unchanged rows, at least ``MIN_REPLAY``), spread over as many answers
as possible: one phrasing per answer first, the source's own question before a paraphrase.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant_builder.errors import UserError
from assistant_builder.train.guard import ROLE_KEY, guard_rows

if TYPE_CHECKING:
    from assistant_builder.train.recipe import Recipe
    from assistant_builder.workspace import Workspace

MIN_REPLAY = 4  # replayed rows at least, when replay_share > 0 and that many are unchanged
DATASET_SNAPSHOT = "dataset_train.jsonl"  # an update run's copy of the whole training split


def _question(row: dict[str, Any]) -> str:
    users = [m["content"] for m in row["messages"] if m["role"] == "user"]
    return " ".join(users[-1].split()).lower() if users else ""


def _answer(row: dict[str, Any]) -> str:
    return " ".join(str(row["messages"][-1]["content"]).split())


def _group(row: dict[str, Any]) -> str:
    meta = row.get("meta") or {}
    group = meta.get("group")
    return str(group) if group else hashlib.sha256(_answer(row).encode()).hexdigest()[:12]


@dataclass
class Selection:
    """The update's training rows (in dataset order) and what was done with each row."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    report: list[dict[str, Any]] = field(default_factory=list)  # one per trained row
    counts: dict[str, int] = field(default_factory=dict)
    guard: list[dict[str, Any]] = field(default_factory=list)  # unchanged answers to keep

    def to_json(self, parent: str, replay_share: float) -> dict[str, Any]:
        return {
            "parent": parent,
            "replay_share": replay_share,
            "counts": self.counts,
            "rows": self.report,
        }


def _classify(current: list[dict[str, Any]], parent: list[dict[str, Any]]) -> tuple[list[str], int]:
    """(what each current row is: unchanged/changed/new, how many parent questions are gone)."""
    pairs = {(_question(r), _answer(r)) for r in parent}
    answer_of = {_question(r): _answer(r) for r in parent}
    asked = {_question(r) for r in current}
    # An answer whose question (any phrasing) the parent answered otherwise was edited.
    edited_groups = {
        _group(r)
        for r in current
        if _question(r) in answer_of and answer_of[_question(r)] != _answer(r)
    }
    kinds = []
    for r in current:
        if (_question(r), _answer(r)) in pairs:
            kinds.append("unchanged")
        elif _group(r) in edited_groups:
            kinds.append("changed")
        else:
            kinds.append("new")
    # Gone: questions the parent answered that the dataset no longer asks (an edit keeps them).
    return kinds, len({q for q, _ in pairs} - asked)


def _replay(rows: list[dict[str, Any]], idx: list[int], share: float, seed: int) -> list[int]:
    """Indices of the unchanged rows to replay: spread over answers, seeded."""
    if share <= 0 or not idx:
        return []
    n = min(len(idx), max(MIN_REPLAY, math.ceil(share * len(idx))))
    rng = random.Random(seed)
    by_group: dict[str, list[int]] = {}
    for i in idx:
        by_group.setdefault(_group(rows[i]), []).append(i)
    groups = sorted(by_group)
    rng.shuffle(groups)
    for g in groups:  # the source's own question first, then the paraphrases in random order
        members = by_group[g]
        rng.shuffle(members)
        members.sort(key=lambda i: (rows[i].get("meta") or {}).get("how") != "extracted")
    picked: list[int] = []
    depth = 0
    while len(picked) < n:
        for g in groups:
            if depth < len(by_group[g]) and len(picked) < n:
                picked.append(by_group[g][depth])
        depth += 1
    return sorted(picked)


def select(
    current: list[dict[str, Any]],
    parent: list[dict[str, Any]],
    *,
    parent_id: str,
    replay_share: float,
    seed: int = 42,
) -> Selection:
    """The rows an update from run ``parent_id`` trains on; a UserError when nothing changed."""
    kinds, removed = _classify(current, parent)
    unchanged = [i for i, k in enumerate(kinds) if k == "unchanged"]
    replayed = set(_replay(current, unchanged, replay_share, seed))
    sel = Selection()
    for i, (row, kind) in enumerate(zip(current, kinds, strict=True)):
        what = "replayed" if i in replayed else kind
        if what == "unchanged":
            continue
        # The role rides in meta (not trained on): the child's repair keeps the edits.
        sel.rows.append({**row, "meta": {**(row.get("meta") or {}), ROLE_KEY: what}})
        sel.report.append(
            {
                "row": i + 1,
                "question": row["messages"][-2]["content"],
                "group": _group(row),
                "what": what,
            }
        )
    sel.counts = {
        "changed": kinds.count("changed"),
        "new": kinds.count("new"),
        "unchanged": len(unchanged),
        "replayed": len(replayed),
        "removed": removed,
        "trained": len(sel.rows),
    }
    sel.guard = guard_rows(current, unchanged)
    if not kinds.count("changed") and not kinds.count("new"):
        gone = f" ({removed} of its questions are gone from the dataset)" if removed else ""
        raise UserError(
            f"nothing changed since run {parent_id}: the training split has the questions and "
            f"answers it trained on{gone}; edit the sources, run `assistant-builder ingest` "
            "and `assistant-builder dataset`, then train --from again"
        )
    return sel


def describe(counts: dict[str, int], parent: str) -> str:
    """One line: 'update of run X: 3 changed, 0 new, 24 of 96 unchanged replayed rows'."""
    line = (
        f"update of run {parent}: {counts['changed']} changed, {counts['new']} new and "
        f"{counts['replayed']} replayed of {counts['unchanged']} unchanged rows"
    )
    if counts.get("removed"):
        line += f"; {counts['removed']} of its questions are gone from the dataset (not unlearned)"
    return line


def parent_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The training split the parent run stood for: an update's snapshot of the whole split,
    else its own training rows without the retrieval copies prepare_run appended."""
    from assistant_builder.dataset.conversations import read_conversations

    snapshot = run_dir / "data" / DATASET_SNAPSHOT
    if snapshot.is_file():
        return read_conversations(snapshot)
    path = run_dir / "data" / "train.jsonl"
    if not path.is_file():
        raise UserError(f"run {run_dir.name} kept no copy of its training data ({path})")
    rows = read_conversations(path)
    return [r for r in rows if not (r.get("meta") or {}).get("retrieval")]


def plan_update(
    ws: Workspace, recipe: Recipe, from_run: str
) -> tuple[dict[str, Any], Selection, Recipe]:
    """(the run.json "parent" entry, the rows to train on, the recipe with the update's
    epochs) for an update from run ``from_run``; UserErrors for a bad parent or no change."""
    from assistant_builder.dataset.conversations import read_conversations
    from assistant_builder.train.parent import resolve_parent

    parent = resolve_parent(ws, from_run, recipe)
    train_path = ws.dataset_dir / "train.jsonl"
    if not train_path.is_file() or train_path.stat().st_size == 0:
        raise UserError("no training data (run `assistant-builder dataset` first)")
    current = read_conversations(train_path)
    sel = select(
        current,
        parent_rows(ws.runs_dir / parent["run"]),
        parent_id=parent["run"],
        replay_share=recipe.replay_share,
        seed=recipe.seed,
    )
    if recipe.update_epochs is not None:
        recipe = recipe.model_copy(update={"epochs": recipe.update_epochs})
    return parent, sel, recipe
