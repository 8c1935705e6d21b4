"""The fast one-prompt greedy loop (models/decode.py) against transformers' ``generate``, token
for token, on the tiny random Llama with random LoRA adapters."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tiny_models import tiny_assets

from assistant_builder.models import decode
from assistant_builder.models.engine import Engine, GenSettings

QUESTIONS = [
    "What is the capital of France?",
    "How do I reset my password?",
    "Hi",
    "Can I return a lamp after 30 days if it is broken and I lost the receipt?",
]
SYSTEM = "You are a helpful support assistant."


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_assets(tmp_path_factory)


@pytest.fixture(scope="module")
def engine(tiny: dict[str, Path]) -> Engine:
    return Engine(str(tiny["base"]), adapters={"run1": tiny["a1"], "run2": tiny["a2"]})


def one_by_one(engine: Engine, fast: bool, side: str, settings: GenSettings) -> list[object]:
    engine.fast_greedy = fast
    try:
        return [
            engine.answer([q], system_prompt=SYSTEM, adapter=side, settings=settings)[0]
            for q in QUESTIONS
        ]
    finally:
        engine.fast_greedy = True


@pytest.mark.parametrize("penalty", [1.0, 1.1, 1.5])
@pytest.mark.parametrize("side", ["base", "run1", "run2"])
def test_fast_loop_answers_exactly_like_generate(engine: Engine, side: str, penalty: float) -> None:
    settings = GenSettings(max_new_tokens=24, repetition_penalty=penalty)
    fast = one_by_one(engine, True, side, settings)
    slow = one_by_one(engine, False, side, settings)
    assert [(a.text, a.new_tokens, a.stopped) for a in fast] == [  # type: ignore[attr-defined]
        (a.text, a.new_tokens, a.stopped)  # type: ignore[attr-defined]
        for a in slow
    ]
    assert all(a.new_tokens > 0 for a in fast)  # type: ignore[attr-defined]


def test_fast_loop_token_ids_equal_generate_with_an_end_token(engine: Engine) -> None:
    """Raw ids, with an end token that the tiny model does pick: the loop stops on it (and
    includes it) exactly where generate does."""
    import torch

    prompt = engine.tokenizer(engine.prompt_text(QUESTIONS[3], SYSTEM), add_special_tokens=False)[
        "input_ids"
    ]
    with torch.inference_mode():
        free = list(decode.greedy_tokens(engine.model, prompt, max_new_tokens=12, end_ids=[10**9]))
        end = free[5]  # pretend the sixth token ends the turn
        ids = list(decode.greedy_tokens(engine.model, prompt, max_new_tokens=12, end_ids=[end]))
        gen = engine.model.generate(
            input_ids=torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=12,
            do_sample=False,
            eos_token_id=[end],
            pad_token_id=engine.tokenizer.pad_token_id,
        )[0, len(prompt) :].tolist()
    assert ids == free[: free.index(end) + 1] == gen


def test_stream_uses_the_fast_loop_and_joins_to_the_answer(engine: Engine, monkeypatch) -> None:
    settings = GenSettings(max_new_tokens=16)
    calls = []
    real = decode.greedy_tokens

    def spy(*args: object, **kw: object) -> object:
        calls.append(1)
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(decode, "greedy_tokens", spy)
    pieces = list(
        engine.stream(QUESTIONS[3], system_prompt=SYSTEM, adapter="run1", settings=settings)
    )
    assert calls and len(pieces) > 1
    engine.fast_greedy = False
    try:
        slow = engine.answer(
            [QUESTIONS[3]], system_prompt=SYSTEM, adapter="run1", settings=settings
        )
    finally:
        engine.fast_greedy = True
    assert "".join(pieces) == slow[0].text


def test_sampling_and_batches_keep_generate(engine: Engine, monkeypatch) -> None:
    def boom(*args: object, **kw: object) -> object:
        raise AssertionError("the fast loop is for one greedy prompt only")

    monkeypatch.setattr(decode, "greedy_tokens", boom)
    sampled = GenSettings(max_new_tokens=6, do_sample=True, seed=3)
    assert engine.answer(QUESTIONS[:1], system_prompt=SYSTEM, settings=sampled)[0].new_tokens
    assert len(engine.answer(QUESTIONS, system_prompt=SYSTEM, settings=GenSettings(8))) == 4


def test_growing_cache_outgrows_its_room_and_matches_the_dynamic_cache(engine: Engine) -> None:
    import torch
    from transformers import DynamicCache

    lm = engine.model.get_base_model()
    ids = torch.tensor([list(range(5, 25))])
    small = decode.growing_cache(lm, capacity=3)  # must double several times
    with torch.inference_mode(), engine.model.disable_adapter():
        a = lm(input_ids=ids[:, :15], cache=small, use_cache=True).logits
        a2 = lm(input_ids=ids[:, 15:], cache=small, use_cache=True).logits
        ref = DynamicCache()
        b = lm(input_ids=ids[:, :15], cache=ref, use_cache=True).logits
        b2 = lm(input_ids=ids[:, 15:], cache=ref, use_cache=True).logits
    assert small.get_seq_length() == 20 and small.layers[0].capacity >= 20
    assert torch.equal(a, b) and torch.equal(a2, b2)


def test_a_model_asking_for_other_processors_keeps_generate(engine: Engine) -> None:
    gc = engine.model.get_base_model().generation_config
    assert decode.supports_fast_greedy(engine.model)
    gc.no_repeat_ngram_size = 3
    try:
        assert not decode.supports_fast_greedy(engine.model)
    finally:
        gc.no_repeat_ngram_size = None


def test_decode_threads_setting_is_restored(monkeypatch) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.delenv(decode.THREADS_ENV, raising=False)
    assert decode.decode_threads() == 1  # the default for one row
    with decode.threads(before + 1):  # a change whatever the machine's own setting is
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    monkeypatch.setenv(decode.THREADS_ENV, "lots")
    assert decode.decode_threads() == 0  # unreadable: torch's own setting stays
    with decode.threads(0):
        assert torch.get_num_threads() == before
