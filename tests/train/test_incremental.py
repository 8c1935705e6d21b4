"""Which rows an update (``train --from RUN``) trains on: changed and new answers, a replay
sample of the unchanged ones, and a refusal when nothing changed. Pure functions on rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant_builder.errors import UserError
from assistant_builder.train.incremental import (
    DATASET_SNAPSHOT,
    MIN_REPLAY,
    describe,
    parent_rows,
    select,
)


def row(q: str, a: str, group: str, how: str = "extracted") -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You help."},
            {"role": "user", "content": q},
            {"role": "assistant", "content": a},
        ],
        "meta": {"group": group, "how": how},
    }


def faq(n: int, phrasings: int = 3, edited: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """n answers with ``phrasings`` questions each; ``edited`` replaces answers by index."""
    edited = edited or {}
    out = []
    for i in range(n):
        a = edited.get(i, f"Answer number {i}.")
        g = f"g{i}" if i not in edited else f"g{i}-new"
        out.append(row(f"Question {i}?", a, g))
        out += [
            row(f"Question {i}, variant {k}?", a, g, "paraphrased") for k in range(1, phrasings)
        ]
    return out


def test_edited_answers_are_changed_and_a_replay_share_of_the_rest_is_kept() -> None:
    parent = faq(20)
    current = faq(20, edited={3: "A new answer 3.", 7: "A new answer 7."})
    sel = select(current, parent, parent_id="p", replay_share=0.25, seed=1)
    c = sel.counts
    assert (c["changed"], c["new"], c["unchanged"], c["removed"]) == (6, 0, 54, 0)
    assert c["replayed"] == 14  # ceil(0.25 * 54)
    assert c["trained"] == len(sel.rows) == 6 + 14
    whats = {(r["question"], r["what"]) for r in sel.report}
    assert ("Question 3?", "changed") in whats and ("Question 7, variant 2?", "changed") in whats
    replayed = [r for r in sel.report if r["what"] == "replayed"]
    # Spread: one phrasing per unchanged answer first (18 answers > 14 rows), the FAQ's own.
    assert len({r["group"] for r in replayed}) == 14
    assert all("variant" not in r["question"] for r in replayed)
    # Dataset order, and the report names each trained row's line in the training split.
    lines = [r["row"] for r in sel.report]
    assert lines == sorted(lines)
    assert all(current[r["row"] - 1]["messages"][1]["content"] == r["question"] for r in sel.report)
    assert "2 changed" not in describe(c, "p") and "6 changed" in describe(c, "p")


def test_new_answers_and_new_phrasings_are_new() -> None:
    parent = faq(5)
    current = [*faq(5), row("A brand new question?", "A brand new answer.", "gx")]
    current.append(row("Question 1, said otherwise?", "Answer number 1.", "g1", "paraphrased"))
    sel = select(current, parent, parent_id="p", replay_share=0.0)
    assert sel.counts["new"] == 2 and sel.counts["changed"] == 0
    assert sel.counts["replayed"] == 0 and len(sel.rows) == 2


def test_replay_takes_at_least_a_few_rows_and_is_seeded() -> None:
    parent = faq(4)
    current = faq(4, edited={0: "Edited."})
    a = select(current, parent, parent_id="p", replay_share=0.01, seed=3)
    b = select(current, parent, parent_id="p", replay_share=0.01, seed=3)
    assert a.counts["replayed"] == MIN_REPLAY
    assert a.report == b.report
    everything = select(current, parent, parent_id="p", replay_share=1.0)
    assert everything.counts["replayed"] == 9 and len(everything.rows) == 12


def test_nothing_changed_is_refused_with_what_to_do() -> None:
    parent = faq(6)
    with pytest.raises(UserError, match=r"nothing changed since run p.*ingest.*dataset"):
        select(faq(6), parent, parent_id="p", replay_share=0.25)
    # Only removals: still nothing to learn.
    with pytest.raises(UserError, match="3 of its questions are gone"):
        select(faq(5), parent, parent_id="p", replay_share=0.25)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_parent_rows_are_the_split_it_stood_for(tmp_path: Path) -> None:
    run = tmp_path / "run"
    rag = row("Passages ... Question 0?", "Answer number 0.", "g0")
    rag["meta"]["retrieval"] = {"k": 3, "gold": True}
    _write(run / "data" / "train.jsonl", [*faq(2), rag])
    assert len(parent_rows(run)) == 6  # retrieval copies are not dataset rows
    _write(run / "data" / DATASET_SNAPSHOT, faq(3))  # an update run: its whole split
    assert len(parent_rows(run)) == 9
    with pytest.raises(UserError, match="kept no copy"):
        parent_rows(tmp_path / "empty")
