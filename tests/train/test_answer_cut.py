"""Paraphrase rows trained on their answer's opening only (``paraphrase_answer_tokens``):
the labels of a cut row, the whole rows tokenized exactly as TRL does, and the token counts
the estimate and long_rows see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.train_data import SYSTEM, recipe, write_jsonl

from assistant_builder.errors import UserError
from assistant_builder.train import answer_cut, long_rows
from assistant_builder.train.launch import to_prompt_completion
from assistant_builder.train.recipe import load_recipe

ANSWER = "Hold the power button for five seconds, then release it and wait for the blink."


def _row(question: str, how: str, group: str, answer: str = ANSWER) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ],
        "meta": {"how": how, "group": group},
    }


def _rows() -> list[dict[str, Any]]:
    """Two groups with their source question, one paraphrase group whose source row is absent
    (it went to the eval split), and a paraphrase shorter than the cut."""
    return [
        _row("How do I reset the lamp?", "extracted", "g1"),
        _row("lamp reset how", "paraphrased", "g1"),
        _row("My lamp won't reset, help", "paraphrased", "g1"),
        _row("How do I pair the lamp?", "extracted", "g2", "Open the app."),
        _row("pairing the lamp?", "paraphrased", "g2", "Open the app."),
        _row("can't find the lamp's manual", "paraphrased", "g3"),
    ]


def test_cuts_mark_paraphrases_whose_group_keeps_a_whole_row() -> None:
    assert answer_cut.cuts(_rows(), 6) == [None, 6, 6, None, 6, None]
    assert answer_cut.cuts(_rows(), 0) == [None] * 6


def _build(tmp_path: Path, tiny: str, n: int) -> Any:
    from assistant_builder.train.worker import EventLog, build_trainer

    run_dir = tmp_path / f"run-{n}"
    write_jsonl(run_dir / "data" / "train.jsonl", _rows())
    write_jsonl(run_dir / "data" / "eval.jsonl", _rows()[:1])
    r = recipe(tiny, paraphrase_answer_tokens=n)
    trainer, _ = build_trainer(run_dir, r, EventLog(run_dir / "events.jsonl"))
    return trainer


def _by_question(trainer: Any) -> dict[str, tuple[list[int], list[int]]]:
    tok = trainer.processing_class
    out = {}
    for ex in trainer.train_dataset:
        ids, labels = ex["input_ids"], ex["labels"]
        first = next(k for k, x in enumerate(labels) if x != -100)
        question = tok.decode(ids[:first]).split("<|im_start|>user\n")[1].split("<|im_end|>")[0]
        out[question] = (ids, labels)
    return out


def test_cut_rows_train_n_answer_tokens_and_no_end_of_turn(tmp_path: Path, tiny_model: str) -> None:
    n = 6
    trainer = _build(tmp_path, tiny_model, n)
    cut, whole = _by_question(trainer), _by_question(_build(tmp_path, tiny_model, 0))
    tok = trainer.processing_class
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    opening = tok(ANSWER, add_special_tokens=False)["input_ids"][:n]
    for q in ("lamp reset how", "My lamp won't reset, help"):
        ids, labels = cut[q]
        trained = [x for x in labels if x != -100]
        assert len(trained) == n
        assert im_end not in trained  # the model never learns to stop at the cut
        assert trained == opening and ids[-n:] == opening  # nothing after the cut is run
        assert len(ids) < len(whole[q][0])
    # Source questions, answers shorter than the cut and paraphrases without a whole row in
    # the split: tokenized here exactly as TRL tokenizes them itself (same ids, same labels).
    for q in ("How do I reset the lamp?", "pairing the lamp?", "can't find the lamp's manual"):
        assert cut[q] == whole[q]
        assert im_end in [x for x in cut[q][1] if x != -100]


def test_the_estimate_and_long_rows_count_the_tokens_trained(tiny_model: str) -> None:
    from assistant_builder.models.loading import load_tokenizer

    tok = load_tokenizer(tiny_model)
    whole = long_rows.row_lengths(tok, to_prompt_completion(_rows()))
    cut = long_rows.row_lengths(tok, to_prompt_completion(_rows(), 6))
    for i, (w, c) in enumerate(zip(whole, cut, strict=True)):
        # A cut row loses its answer's tokens after the 6th and the end-of-turn + newline.
        assert c == (w - len(tok(ANSWER)["input_ids"]) - 2 + 6 if i in (1, 2) else w)


def test_the_field_validates() -> None:
    assert load_recipe("cpu-lora", ["paraphrase_answer_tokens=64"]).paraphrase_answer_tokens == 64
    with pytest.raises(UserError, match="paraphrase_answer_tokens"):
        load_recipe("cpu-lora", ["paraphrase_answer_tokens=-1"])


def test_a_budget_too_short_for_whole_answers_plans_the_cut(
    workspace: Any, tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant_builder.models.loading import load_tokenizer
    from assistant_builder.train import budget
    from assistant_builder.train.preflight import estimate_run

    monkeypatch.setenv("ASSISTANT_BUILDER_SPEED_FILE", str(tmp_path / "speed.json"))
    long = ANSWER + " " + "Then check the light again. " * 40
    rows = [r for r in _rows() if r["meta"]["group"] != "g2"]
    for r in rows:
        r["messages"][-1]["content"] = long
    write_jsonl(workspace.dataset_dir / "train.jsonl", rows)
    tok = load_tokenizer(tiny_model)
    whole = sum(long_rows.row_lengths(tok, to_prompt_completion(rows)))
    # A speed at which whole answers fit 2 of the recipe's 5 epochs in a 10 minute budget.
    tps = whole * 2.5 / (600 - budget.OVERHEAD_SECONDS)
    budget.record_speed(tiny_model, "lora", tps, "run-1")
    base = recipe(tiny_model, epochs=5, time_budget="10m", time_budget_strict=False)
    est, planned = estimate_run(workspace, base, tok)
    assert est.epochs == 2 and planned.paraphrase_answer_tokens == 0  # the field is off
    asked = base.model_copy(update={"paraphrase_answer_tokens_when_short": 8})
    est, planned = estimate_run(workspace, asked, tok)
    assert planned.paraphrase_answer_tokens == 8 and est.epochs > 2
    assert est.answer_cut == 8 and est.whole_answer_epochs == 2
    assert "first 8 answer tokens (whole answers: 2)" in est.line()
    # Whole answers that fit every epoch are kept whole.
    roomy = asked.model_copy(update={"time_budget": "10h"})
    est, planned = estimate_run(workspace, roomy, tok)
    assert planned.paraphrase_answer_tokens == 0 and est.answer_cut == 0
