"""Closing the loop: ratings → corrected dataset rows (read by the dataset build) and preference
pairs in the format TRL's DPOTrainer reads."""

from __future__ import annotations

import json
import random
from pathlib import Path

from assistant_builder.cli.main import main
from assistant_builder.compare.ratings import RatingStore
from assistant_builder.dataset.build import build_dataset
from assistant_builder.dataset.feedback import feedback_rows, preference_pairs
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.workspace import Workspace, read_jsonl

FAQ = """# Lamp FAQ

## How long is the warranty?

The warranty lasts two years from the date of purchase, parts and labour included.

## Can I return a lamp?

You can return an unused lamp within 30 days for a full refund of the price paid.

## Does the lamp dim?

Yes. Hold the switch down for two seconds and the light dims slowly until you let go.
"""


def rate_all(ws: Workspace, verdicts: list[tuple[str, str, int | None, int | None, str]]) -> None:
    """One pair per verdict, base on the left; (question, verdict, score_a, score_b, note) with
    A/B meaning base/tuned (the shuffle is undone here so the test reads plainly)."""
    with RatingStore(ws.ratings_db) as store:
        pairs = store.add_pairs(
            [
                (q, "", "faq.md", "base", f"base: {q}", "tuned:r1", f"tuned: {q}")
                for q, *_ in verdicts
            ],
            rng=random.Random(3),
        )
        for pair, (_, verdict, s_base, s_tuned, note) in zip(pairs, verdicts, strict=True):
            base_is_a = pair.answer_a.startswith("base:")
            if verdict in ("A", "B") and not base_is_a:
                verdict = "B" if verdict == "A" else "A"
            sa, sb = (s_base, s_tuned) if base_is_a else (s_tuned, s_base)
            store.rate(pair.id, "ann", verdict, sa, sb, note)


def test_rows_and_dpo_pairs_from_ratings(workspace: Workspace) -> None:
    rate_all(
        workspace,
        [
            ("q1?", "B", 2, 5, ""),  # tuned preferred and scored 5 → row + pair
            ("q2?", "A", None, None, ""),  # base preferred, unscored → pair only
            ("q3?", "both_bad", 1, 1, "The right answer."),  # correction → row + 2 pairs
            ("q4?", "tie", None, None, "same"),  # nothing
            ("q5?", "both_bad", None, None, ""),  # no correction → nothing
        ],
    )
    with RatingStore(workspace.ratings_db) as store:
        ratings = store.ratings()
    rows = feedback_rows(ratings)
    assert [(r["question"], r["answer"], r["how"]) for r in rows] == [
        ("q1?", "tuned: q1?", "rated-preferred"),
        ("q3?", "The right answer.", "rated-correction"),
    ]
    assert feedback_rows(ratings, min_score=6) == [rows[1]]
    pairs = preference_pairs(ratings, "Be helpful.")
    got = [
        (p["prompt"][-1]["content"], p["chosen"][0]["content"], p["rejected"][0]["content"])
        for p in pairs
    ]
    assert sorted(got) == [
        ("q1?", "tuned: q1?", "base: q1?"),
        ("q2?", "base: q2?", "tuned: q2?"),
        ("q3?", "The right answer.", "base: q3?"),
        ("q3?", "The right answer.", "tuned: q3?"),
    ]
    # TRL's conversational preference format, plus where each pair came from.
    for p in pairs:
        assert set(p) == {"prompt", "chosen", "rejected", "meta"}
        assert p["meta"]["models"] in (["base", "tuned:r1"], ["tuned:r1", "base"])
        assert p["meta"]["base_model"] is None  # no run r1 to say which base it was
        assert p["prompt"] == [
            {"role": "system", "content": "Be helpful."},
            {"role": "user", "content": p["prompt"][-1]["content"]},
        ]
        assert [m["role"] for m in p["chosen"] + p["rejected"]] == ["assistant", "assistant"]


def test_preferences_file_is_read_by_trl(workspace: Workspace, capsys) -> None:
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    from assistant_builder.models.loading import load_tokenizer

    rate_all(workspace, [("How do I dim it?", "B", None, None, ""), ("Hi?", "tie", 3, 3, "")])
    (workspace.runs_dir / "r1").mkdir(parents=True)
    (workspace.runs_dir / "r1" / "run.json").write_text('{"run": "r1", "base_model": "default"}')
    ws = ["--workspace", str(workspace.root), "--json"]
    assert main(["rate", *ws, "--to-preferences", "--to-dataset"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preferences"]["pairs"] == 1 and out["dataset"]["rows"] == 0
    [row] = list(read_jsonl(Path(out["preferences"]["path"])))
    # The tuned side's run names the base model both sides answered on.
    assert row["meta"]["base_model"] == "default"
    assert is_conversational(row)
    text = maybe_apply_chat_template(row, load_tokenizer("default"))
    assert text["prompt"].endswith("<|im_start|>assistant\n")
    assert text["chosen"].startswith("tuned: How do I dim it?")
    assert text["rejected"].startswith("base: How do I dim it?")
    # Derived from ratings.db: writing again gives the same file.
    assert main(["rate", *ws, "--to-preferences"]) == 0
    assert list(read_jsonl(Path(out["preferences"]["path"]))) == [row]


def test_corrections_replace_the_original_answer_in_the_next_build(
    workspace: Workspace, tmp_path: Path
) -> None:
    faq = tmp_path / "faq.md"
    faq.write_text(FAQ)
    ingest_paths(workspace, [faq])
    build_dataset(workspace)
    before = {
        r["messages"][1]["content"]: r
        for r in read_jsonl(workspace.dataset_dir / "conversations.jsonl")
    }
    question = "How long is the warranty?"
    assert question in before
    rate_all(workspace, [(question, "both_bad", None, None, "Three years, parts included.")])
    assert main(["rate", "--workspace", str(workspace.root), "--to-dataset"]) == 0
    report = build_dataset(workspace)
    after = {
        r["messages"][1]["content"]: r
        for r in read_jsonl(workspace.dataset_dir / "conversations.jsonl")
    }
    row = after[question]
    assert row["messages"][2]["content"] == "Three years, parts included."
    assert row["meta"]["how"] == "rated-correction"
    # Same answer group, so same side of the train/eval split: no eval answer leaks in.
    assert row["meta"]["group"] == before[question]["meta"]["group"]
    assert row["meta"]["split"] == before[question]["meta"]["split"]
    assert report.dropped.get("duplicate") == 1  # the original phrasing gave way
    assert len(after) == len(before)
