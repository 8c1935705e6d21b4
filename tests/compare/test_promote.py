"""Promotion: rated pairs and free questions become training rows or golden questions, with
provenance, through the real ratings.db and the real dataset build."""

from __future__ import annotations

import json
from pathlib import Path

from assistant_builder.cli.main import main
from assistant_builder.compare.answers import load_questions_file
from assistant_builder.compare.ratings import RatingStore
from assistant_builder.dataset.build import build_dataset
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.workspace import Workspace, read_jsonl

FAQ = """# Lamp FAQ

## How long is the warranty?

The warranty lasts two years from the date of purchase, parts and labour included.

## Can I return a lamp?

You can return an unused lamp within 30 days for a full refund of the price paid.
"""


def _pair(ws: Workspace, question: str, verdict: str | None, note: str = "") -> int:
    with RatingStore(ws.ratings_db) as store:
        pair = store.add_pair(question, "", "faq.md", "base", "base says", "tuned:r1", "tuned says")
        if verdict:
            store.rate(pair.id, "ann", verdict, note=note)
    return pair.id


def _promote(capsys, ws: Workspace, *args: str) -> tuple[int, dict]:
    rc = main(["promote", "--workspace", str(ws.root), "--json", "--reviewer", "rev", *args])
    return rc, json.loads(capsys.readouterr().out)


def test_promoted_rows_join_the_next_build_with_provenance(
    workspace: Workspace, tmp_path: Path, capsys
) -> None:
    faq = tmp_path / "faq.md"
    faq.write_text(FAQ)
    ingest_paths(workspace, [faq])
    build_dataset(workspace)
    pair = _pair(workspace, "How long is the warranty?", "both_bad", "Three years.")
    rc, out = _promote(capsys, workspace, "--pair", str(pair))
    assert rc == 0 and out["row"]["answer"] == "Three years."
    assert out["row"]["promoted"]["rating"] and out["row"]["promoted"]["reviewer"] == "rev"
    rc, out = _promote(
        capsys, workspace, "--question", "Does it dim?", "--answer", "Yes, hold the switch."
    )
    assert rc == 0 and out["rows"] == 2
    # Rewriting feedback.jsonl from the ratings must not lose a promotion.
    assert main(["rate", "--workspace", str(workspace.root), "--to-dataset"]) == 0
    build_dataset(workspace)
    rows = {
        r["messages"][1]["content"]: r
        for r in read_jsonl(workspace.dataset_dir / "conversations.jsonl")
    }
    warranty = rows["How long is the warranty?"]
    assert warranty["messages"][2]["content"] == "Three years."
    assert warranty["meta"]["how"] == "promoted"
    assert warranty["meta"]["source"] == f"promoted:pair:{pair}"
    assert rows["Does it dim?"]["meta"]["source"] == "promoted:question"


def test_promote_to_golden_and_replace(workspace: Workspace, capsys) -> None:
    pair = _pair(workspace, "Can I return a lamp?", "B")
    rc, out = _promote(capsys, workspace, "--pair", str(pair), "--to", "golden")
    with RatingStore(workspace.ratings_db) as store:
        preferred = store.pair(pair).answer_b  # A/B was a coin flip
    assert rc == 0 and out["row"]["reference"] == preferred
    assert out["row"]["promoted"]["answer"] == "preferred"
    rc, out = _promote(
        capsys, workspace, "--pair", str(pair), "--to", "golden", "--answer", "Within 30 days."
    )
    assert rc == 0 and out["replaced"] == 1 and out["rows"] == 1
    [q] = load_questions_file(Path(out["path"]))  # the golden reader eval and check use
    assert (q.question, q.reference) == ("Can I return a lamp?", "Within 30 days.")


def test_promote_refuses_bad_input(workspace: Workspace, capsys) -> None:
    tie = _pair(workspace, "Hi?", "tie")
    unrated = _pair(workspace, "Hello?", None)
    for args, message in (
        (["--pair", str(tie)], "rated tie without a correction"),
        (["--pair", str(unrated)], "has no rating yet"),
        (["--pair", "999"], "no comparison with id 999"),
        (["--question", "Why?"], "needs its corrected answer"),
        (["--question", "Why?", "--pair", str(tie)], "one of them"),
        ([], "one of them"),
        (["--question", "Why?", "--answer", " "], "must not be empty"),
    ):
        rc, out = _promote(capsys, workspace, *args)
        assert rc == 2 and message in out["error"], (args, out)
    assert not (workspace.dataset_dir / "promoted.jsonl").exists()
