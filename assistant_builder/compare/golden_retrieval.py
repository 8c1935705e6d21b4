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


def retrieval_prompts(
    ws: Workspace,
    run_dir: Path | None,
    engine: Engine,
    questions: list[Question],
    settings: GenSettings,
) -> tuple[list[GroundedPrompt], dict[str, Any]]:
    """(a prompt per question, the retrieval summary with one ``rows`` entry per question)."""
    index, notices = open_index(ws, run_dir)
    rs = RetrievalSettings.from_run(run_dir) if run_dir else RetrievalSettings()
    grounded = grounded_prompts(
        engine, index, [q.question for q in questions], rs, settings.max_new_tokens
    )
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
                "hit": gold_id is not None and gold_id in {h.passage.id for h in found},
                "notices": g.notices,
            }
        )
    summary = {
        "k": rs.k,
        "layout": rs.layout,
        "context_tokens": rs.context_tokens,
        "passages": len(index.passages),
        "index": str(index.folder),
        "gold": "the passage that the reference answer retrieves first",
        "notices": notices,
        "rows": rows,
    }
    return grounded, summary
