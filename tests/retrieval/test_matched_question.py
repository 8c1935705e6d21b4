"""tuned+retrieval for a closed-book run: the customer's wording finds the FAQ entry and the
run is asked the question it learned for that entry; an off-topic question is asked as typed."""

from __future__ import annotations

import json
from pathlib import Path

from assistant_builder.dataset.build import build_dataset
from assistant_builder.retrieval.answer import (
    MATCHED,
    RetrievalSettings,
    grounded_prompt,
    trained_questions,
)
from assistant_builder.retrieval.index import open_index
from assistant_builder.retrieval.prompt import estimate_tokens
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.workspace import Workspace

FAQ = """# FAQ

## How do I pin a formula?

Run `brew pin` on the formula; it is then skipped by upgrades until you unpin it.

## How do I uninstall Homebrew?

Run the official uninstall script from the install repository.

## Why does Homebrew refuse to run with sudo?

Running as root is unsafe, so Homebrew refuses it and asks you to run as your own user.
"""


def _index(ws: Workspace, tmp_path: Path):  # type: ignore[no-untyped-def]
    f = tmp_path / "faq.md"
    f.write_text(FAQ, encoding="utf-8")
    ingest_paths(ws, [f])
    build_dataset(ws)
    index, notices = open_index(ws)
    assert notices == []
    return index


def test_reworded_question_becomes_the_entrys_question(
    workspace: Workspace, tmp_path: Path
) -> None:
    index = _index(workspace, tmp_path)
    rs = RetrievalSettings(layout=MATCHED)
    gp = grounded_prompt(index, "why won't homebrew run under sudo", rs, estimate_tokens)
    assert gp.matched and gp.prompt == "Why does Homebrew refuse to run with sudo?"
    assert [h.passage.title for h in gp.hits] == [gp.prompt] and gp.notices == []
    assert gp.sources()[0]["where"].endswith(":11-13")


def test_off_topic_question_is_asked_as_typed(workspace: Workspace, tmp_path: Path) -> None:
    index = _index(workspace, tmp_path)
    rs = RetrievalSettings(layout=MATCHED)
    # Shares "install" with an entry, but most of its weight is words the FAQ never uses.
    q = "where do I install snow tyres on my car before winter"
    gp = grounded_prompt(index, q, rs, estimate_tokens)
    assert not gp.matched and gp.prompt == q and gp.hits == []
    assert "no entry is close enough" in gp.notices[0]
    # The same question with a lower bar is matched: the bar is what decides.
    low = grounded_prompt(index, q, RetrievalSettings(layout=MATCHED, min_coverage=0.0),
                          estimate_tokens)  # fmt: skip
    assert low.matched


def test_coverage_weighs_words_the_workspace_never_uses(
    workspace: Workspace, tmp_path: Path
) -> None:
    index = _index(workspace, tmp_path)
    pin = next(p for p in index.passages if "pin" in p.title)
    assert index.coverage("how do I pin a formula", pin) == 1.0
    partial = index.coverage("pin a formula on my bicycle", pin)
    assert 0.0 < partial < 1.0
    assert index.coverage("bicycle", pin) == 0.0


def test_from_run_uses_the_learned_question_and_raft_runs_read_passages(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)

    def row(q: str, how: str, group: str = "g1") -> str:
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": "A."}]
        return json.dumps({"messages": msgs, "meta": {"group": group, "how": how}}) + "\n"

    (run / "data" / "train.jsonl").write_text(
        row("pin it how", "paraphrased") + row("How do I pin a formula?", "extracted")
        + row("Uninstall?", "extracted", "g2") + row("remove it", "paraphrased", "g2")
    )  # fmt: skip
    assert trained_questions(run) == {"g1": "How do I pin a formula?", "g2": "Uninstall?"}
    rs = RetrievalSettings.from_run(run)
    assert rs.layout == MATCHED and rs.trained_questions["g1"] == "How do I pin a formula?"
    (run / "recipe.yaml").write_text("raft_share: 0.5\nraft_k: 4\nraft_layout: question-first\n")
    rs = RetrievalSettings.from_run(run)
    assert (rs.layout, rs.k, rs.trained_questions) == ("question-first", 4, {})
