from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant_builder.dataset.build import (
    BuildOptions,
    build_dataset,
    load_split,
    normalize_question,
    record_edit,
)
from assistant_builder.errors import UserError
from assistant_builder.sources.ingest import ingest_paths

FAQ = """# Widget FAQ

## How do I reset my widget?

Hold the button for ten seconds until the light blinks.

## How do I reset my widget

Hold the button for ten seconds until the light blinks.

## What colours does the widget come in?

Red, green and blue.

## How do I pair the widget with my phone?

Open the app and tap Pair.

## Where is the serial number?

On the back of the widget, under the stand.
"""

CSV = (
    "question,answer\n"
    "How do I charge it?,Use the USB-C cable.\n"
    "How do I charge my widget?,Use the USB-C cable.\n"
)


@pytest.fixture
def ingested(workspace, tmp_path: Path):
    (tmp_path / "faq.md").write_text(FAQ)
    (tmp_path / "faq.csv").write_text(CSV)
    ingest_paths(workspace, [tmp_path / "faq.md", tmp_path / "faq.csv"])
    return workspace


def test_normalize_question_ignores_case_punctuation_and_markup() -> None:
    assert normalize_question("How do I `reset` my Widget?") == normalize_question(
        "how do i reset my widget"
    )


def test_build_writes_messages_with_provenance(ingested) -> None:
    report = build_dataset(ingested, BuildOptions(eval_fraction=0.3))
    rows = load_split(ingested, "train") + load_split(ingested, "eval")
    assert report.train + report.eval == len(rows)
    row = next(r for r in rows if r["messages"][1]["content"] == "Where is the serial number?")
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant"]
    meta = row["meta"]
    assert meta["source"].endswith("faq.md")
    assert meta["line_start"] is not None and meta["line_start"] <= meta["line_end"]
    assert len(meta["sha256"]) == 64
    assert meta["how"] == "extracted" and meta["review"] == "new"


def test_exact_duplicates_are_dropped_and_reported(ingested) -> None:
    report = build_dataset(ingested)
    assert report.dropped.get("duplicate", 0) >= 1
    rows = load_split(ingested, "train") + load_split(ingested, "eval")
    questions = [r["messages"][1]["content"] for r in rows]
    assert len(set(questions)) == len(questions)
    # Only a paraphrase (a casual lower-case form of its own group's question) may normalise
    # to a kept question; a source question never repeats.
    source_qs = [r["messages"][1]["content"] for r in rows if r["meta"]["how"] != "paraphrased"]
    assert len({normalize_question(q) for q in source_qs}) == len(source_qs)
    assert "How do I reset my widget" not in questions


def test_split_keeps_answer_groups_together(ingested) -> None:
    for seed in range(5):
        build_dataset(ingested, BuildOptions(eval_fraction=0.5, seed=seed))
        train_groups = {r["meta"]["group"] for r in load_split(ingested, "train")}
        eval_groups = {r["meta"]["group"] for r in load_split(ingested, "eval")}
        assert train_groups.isdisjoint(eval_groups)
        assert eval_groups, "a small dataset still gets an eval split"


def test_rejected_examples_are_dropped_and_edits_survive_rebuild(ingested) -> None:
    build_dataset(ingested)
    rows = load_split(ingested, "train") + load_split(ingested, "eval")
    target = rows[0]
    record_edit(ingested, target["meta"]["id"], review="edited", answer="A better answer.")
    record_edit(ingested, rows[1]["meta"]["id"], review="rejected")
    report = build_dataset(ingested)
    assert report.dropped.get("rejected") == 1
    rows = load_split(ingested, "train") + load_split(ingested, "eval")
    edited = next(r for r in rows if r["meta"]["id"] == target["meta"]["id"])
    assert edited["messages"][-1]["content"] == "A better answer."
    assert edited["meta"]["how"] == "edited"


def test_reingesting_a_changed_file_marks_examples_stale(ingested, tmp_path: Path) -> None:
    build_dataset(ingested)
    rows = load_split(ingested, "train") + load_split(ingested, "eval")
    colours = next(r for r in rows if "colours" in r["messages"][1]["content"])
    record_edit(
        ingested, colours["meta"]["id"], review="approved", sha256=colours["meta"]["sha256"]
    )
    (tmp_path / "faq.md").write_text(FAQ.replace("Red, green and blue.", "Only black."))
    ingest_paths(ingested, [tmp_path / "faq.md"])
    build_dataset(ingested)
    index = json.loads((ingested.sources_dir / "index.json").read_text())
    assert len(index["files"]) == 2, "a changed file replaces its entry, no duplicate source"
    answers = [r["messages"][-1]["content"] for r in load_split(ingested, "train")]
    answers += [r["messages"][-1]["content"] for r in load_split(ingested, "eval")]
    assert "Only black." in answers and "Red, green and blue." not in answers
    rows = load_split(ingested, "train") + load_split(ingested, "eval")
    again = next(r for r in rows if r["meta"]["id"] == colours["meta"]["id"])
    assert again["meta"]["review"] == "stale", "approval of the old text must be looked at again"


def test_no_sources_is_a_user_error(workspace) -> None:
    with pytest.raises(UserError, match="no sources"):
        build_dataset(workspace)


def test_example_ids_are_unique_even_for_lower_case_paraphrases(workspace, tmp_path: Path) -> None:
    (tmp_path / "faq.md").write_text(FAQ)
    ingest_paths(workspace, [tmp_path / "faq.md"])
    build_dataset(workspace, BuildOptions(variants=3))
    rows = load_split(workspace, "train") + load_split(workspace, "eval")
    ids = [r["meta"]["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a review must apply to exactly one row"
