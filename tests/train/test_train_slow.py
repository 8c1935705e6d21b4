"""The property the whole training setup exists for, on the real default model: after a short
LoRA run on a handful of FAQ pairs, greedy answers to the trained questions end with the
end-of-turn token on their own instead of running to max_new_tokens. Slow: it trains
SmolLM2-135M on the CPU (about two minutes on two cores)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cloudnote_faq import FAQ, SYSTEM, faq_workspace

from assistant_builder.train.launch import train
from assistant_builder.train.recipe import load_recipe

pytestmark = pytest.mark.slow


def test_tuned_model_stops_on_its_own_on_trained_questions(tmp_path: Path) -> None:
    from assistant_builder.models.engine import Engine, GenSettings

    ws = faq_workspace(tmp_path / "ws", FAQ)
    # One batch per epoch; a high learning rate so a few steps learn answers and their stop.
    recipe = load_recipe(
        "cpu-lora",
        ["epochs=10", "batch_size=6", "learning_rate=0.002", "warmup_ratio=0", "save_steps=1000"],
    )
    m = train(ws, recipe)
    assert m["status"] == "completed" and m["steps"] == 10
    assert m["last_loss"] < m["first_loss"] / 2

    engine = Engine("default", Path(m["adapter"]))
    settings = GenSettings(max_new_tokens=48)
    answers = engine.answer(
        [q for q, _ in FAQ], system_prompt=SYSTEM, tuned=True, settings=settings
    )
    for (q, _a), ans in zip(FAQ, answers, strict=True):
        assert ans.stopped, f"{q!r}: ran to {settings.max_new_tokens} tokens: {ans.text!r}"
        assert ans.new_tokens < settings.max_new_tokens
    # It stopped because it learned the answers, not by accident: most are reproduced.
    exact = sum(ans.text == a for (_, a), ans in zip(FAQ, answers, strict=True))
    assert exact >= len(FAQ) // 2, [ans.text for ans in answers]
