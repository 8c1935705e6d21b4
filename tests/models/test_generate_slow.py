"""The engine on the real default model (SmolLM2-135M-Instruct): slow, run by ./dev.sh test."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant_builder.models.engine import Engine, GenSettings

pytestmark = pytest.mark.slow

QUESTIONS = ["What is the capital of France?", "Name one primary colour."]
SYSTEM = "You are a helpful assistant. Answer in one short sentence."
SETTINGS = GenSettings(max_new_tokens=24)


def test_default_model_adapter_off_is_exactly_base_and_batching_is_exact(tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from assistant_builder.models.loading import load_model

    torch.manual_seed(0)
    peft_model = get_peft_model(
        load_model("default"),
        LoraConfig(
            r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False
        ),
    )
    peft_model.save_pretrained(tmp_path / "adapter")

    plain = Engine("default").answer(QUESTIONS, system_prompt=SYSTEM, settings=SETTINGS)
    engine = Engine("default", tmp_path / "adapter")
    off = engine.answer(QUESTIONS, system_prompt=SYSTEM, settings=SETTINGS)
    on = engine.answer(QUESTIONS, system_prompt=SYSTEM, tuned=True, settings=SETTINGS)
    assert [a.text for a in off] == [a.text for a in plain]
    assert "Paris" in plain[0].text and plain[0].stopped
    assert [a.text for a in on] != [a.text for a in off]
    single = [
        engine.answer([q], system_prompt=SYSTEM, settings=SETTINGS)[0].text for q in QUESTIONS
    ]
    assert single == [a.text for a in off]
    streamed = "".join(engine.stream(QUESTIONS[0], system_prompt=SYSTEM, settings=SETTINGS))
    assert streamed == plain[0].text


def test_default_model_fast_loop_answers_token_for_token_like_generate(tmp_path: Path) -> None:
    """The one-question greedy loop (models/decode.py) against generate on golden questions,
    as base and with a LoRA adapter on every linear layer (the fused LoRA layers)."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model

    from assistant_builder.models.loading import load_model

    torch.manual_seed(0)
    peft_model = get_peft_model(
        load_model("default"),
        LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False),
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    golden = Path(__file__).resolve().parents[2] / "benchmarks" / "golden" / "cloudnote.jsonl"
    questions = [json.loads(line)["question"] for line in golden.read_text().splitlines()[:3]]
    engine = Engine("default", tmp_path / "adapter")
    settings = GenSettings(max_new_tokens=32)
    for tuned in (False, True):
        got = {}
        for fast in (True, False):
            engine.fast_greedy = fast
            got[fast] = [
                engine.answer([q], system_prompt=SYSTEM, tuned=tuned, settings=settings)[0]
                for q in questions
            ]
        assert [(a.text, a.new_tokens) for a in got[True]] == [
            (a.text, a.new_tokens) for a in got[False]
        ]
        assert all(a.text for a in got[True])
