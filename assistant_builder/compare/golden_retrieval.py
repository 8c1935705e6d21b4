"""The retrieval side of the golden-set eval: the prompts with passages for the
``+retrieval`` systems, and how often retrieval found the right entry.

A golden file names no passage, so the *gold* passage of a question is the one its reference
answer retrieves first (the reference is written from that entry, so it shares its words);
a hit is the gold passage among the k retrieved for the question.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant_builder.compare.answers import Question
from assistant_builder.models.engine import Engine, GenSettings
from assistant_builder.retrieval.answer import (
    GroundedPrompt,
    RetrievalSettings,
    grounded_prompts,
)
from assistant_builder.retrieval.index import open_index
from assistant_builder.workspace import Workspace


def system_settings(system: str, run_dir: Path | None) -> RetrievalSettings:
    """base+retrieval reads passages; tuned+retrieval uses retrieval the way its run trained
    for (passages after retrieval rows, else the matched entry's question)."""
    if system.startswith("tuned") and run_dir is not None:
        return RetrievalSettings.from_run(run_dir)
    k = RetrievalSettings.from_run(run_dir).k if run_dir is not None else RetrievalSettings().k
    return RetrievalSettings(k=k)


def retrieval_prompts(
    ws: Workspace,
    run_dir: Path | None,
    engine: Engine,
    questions: list[Question],
    settings: GenSettings,
    systems: list[str],
) -> tuple[dict[str, list[GroundedPrompt]], dict[str, Any]]:
    """(per retrieval system, a prompt per question; the retrieval summary with one ``rows``
    entry per question, from the last system's prompts)."""
    index, notices = open_index(ws, run_dir)
    asked = [q.question for q in questions]
    by_system: dict[str, list[GroundedPrompt]] = {}
    layouts: dict[str, str] = {}
    for system in systems:
        rs = system_settings(system, run_dir)
        layouts[system] = rs.layout
        by_system[system] = grounded_prompts(engine, index, asked, rs, settings.max_new_tokens)
    grounded = by_system[systems[-1]]
    rows = []
    for q, g in zip(questions, grounded, strict=True):
        gold = index.search(q.reference or "", 1).hits
        found = index.search(q.question, rs.k).hits
        gold_id = gold[0].passage.id if gold else None
        rows.append(
            {
                "gold": gold[0].passage.where() if gold else None,
                "retrieved": [h.passage.where() for h in found],
                "in_prompt": len(g.hits),
                "matched": g.prompt if g.matched else None,
                "hit": gold_id is not None and gold_id in {h.passage.id for h in found},
                "notices": g.notices,
            }
        )
    summary = {
        "k": rs.k,
        "layout": layouts,
        "context_tokens": rs.context_tokens,
        "passages": len(index.passages),
        "index": str(index.folder),
        "gold": "the passage that the reference answer retrieves first",
        "notices": notices,
        "rows": rows,
    }
    return by_system, summary
