"""The generation engine on a tiny random Llama with random LoRA adapters (fast, no default model
weights): adapter switching, batching, streaming and the answer cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tiny_models import tiny_assets

from assistant_builder.models.answer_cache import AnswerCache
from assistant_builder.models.engine import Engine, GenSettings

QUESTIONS = [
    "What is the capital of France?",
    "How do I reset my password?",
    "Hi",
    "Can I return a lamp after 30 days if it is broken and I lost the receipt?",
]
SYSTEM = "You are a helpful support assistant."
SETTINGS = GenSettings(max_new_tokens=10)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_assets(tmp_path_factory)


@pytest.fixture(scope="module")
def two(tiny: dict[str, Path]) -> Engine:
    return Engine(str(tiny["base"]), adapters={"run1": tiny["a1"], "run2": tiny["a2"]})


def texts(answers: list) -> list[str]:
    return [a.text for a in answers]


def test_adapter_off_gives_exactly_the_base_models_answers(tiny: dict[str, Path]) -> None:
    plain = Engine(str(tiny["base"]))
    tuned = Engine(str(tiny["base"]), tiny["a1"])
    base_plain = plain.answer(QUESTIONS, system_prompt=SYSTEM, settings=SETTINGS)
    base_off = tuned.answer(QUESTIONS, system_prompt=SYSTEM, tuned=False, settings=SETTINGS)
    on = tuned.answer(QUESTIONS, system_prompt=SYSTEM, tuned=True, settings=SETTINGS)
    assert texts(base_off) == texts(base_plain)
    assert [a.new_tokens for a in base_off] == [a.new_tokens for a in base_plain]
    assert all(a.text for a in base_plain)
    # The random adapter (non-zero B) must change the answers, else the check above is empty.
    assert all(x != y for x, y in zip(texts(on), texts(base_off), strict=True))
    # Switching off after answering as tuned still gives the base answers (no state left on).
    again = tuned.answer(QUESTIONS, system_prompt=SYSTEM, settings=SETTINGS)
    assert texts(again) == texts(base_plain)


def test_two_adapters_in_one_model_answer_like_each_alone(
    tiny: dict[str, Path], two: Engine
) -> None:
    r1 = two.answer(QUESTIONS, system_prompt=SYSTEM, adapter="run1", settings=SETTINGS)
    r2 = two.answer(QUESTIONS, system_prompt=SYSTEM, adapter="run2", settings=SETTINGS)
    alone1 = Engine(str(tiny["base"]), tiny["a1"]).answer(
        QUESTIONS, system_prompt=SYSTEM, tuned=True, settings=SETTINGS
    )
    assert texts(r1) == texts(alone1)
    assert texts(r1) != texts(r2)
    # Back to run1 after run2: set_adapter really switches.
    assert texts(
        two.answer(QUESTIONS, system_prompt=SYSTEM, adapter="run1", settings=SETTINGS)
    ) == (texts(r1))
    assert two.adapter_hashes["run1"] != two.adapter_hashes["run2"]
    with pytest.raises(ValueError, match="no adapter 'run3'"):
        two.answer(QUESTIONS, system_prompt=SYSTEM, adapter="run3")


def test_fused_lora_layers_answer_like_peft_for_each_adapter(two: Engine) -> None:
    from peft.tuners.lora import Linear as LoraLinear

    lora = [m for m in two.model.modules() if isinstance(m, LoraLinear)]
    fused = {m: vars(m)["forward"] for m in lora if "forward" in vars(m)}
    assert lora and len(fused) == len(lora)  # the Engine fused every layer (fast_lora.py)
    answers = {}
    for mode in ("fused", "peft"):
        for m, forward in fused.items():  # PEFT's class forward when the override is removed
            if mode == "fused":
                m.forward = forward
            else:
                del m.forward
        answers[mode] = [
            texts(two.answer(QUESTIONS, system_prompt=SYSTEM, adapter=a, settings=SETTINGS))
            for a in ("run1", "run2", "base")
        ]
    for m, forward in fused.items():
        m.forward = forward
    assert answers["fused"] == answers["peft"]


def test_batched_equals_one_at_a_time_greedy(two: Engine) -> None:
    for side in ("base", "run2"):
        batched = two.answer(QUESTIONS, system_prompt=SYSTEM, adapter=side, settings=SETTINGS)
        single = [
            two.answer([q], system_prompt=SYSTEM, adapter=side, settings=SETTINGS)[0]
            for q in QUESTIONS
        ]
        assert texts(batched) == texts(single)
        # The prompts have different lengths, so the batch really was left-padded.
        assert len(set(two.token_lengths(QUESTIONS))) > 1


def test_stream_joins_to_the_batched_answer_and_fills_the_cache(
    two: Engine, tmp_path: Path
) -> None:
    two.cache = AnswerCache(tmp_path / "answers.sqlite")
    try:
        q = QUESTIONS[3]
        pieces = list(two.stream(q, system_prompt=SYSTEM, adapter="run1", settings=SETTINGS))
        assert len(pieces) > 1, "streaming must yield as it goes, not once at the end"
        assert len(two.cache) == 1
        cached = two.answer([q], system_prompt=SYSTEM, adapter="run1", settings=SETTINGS)[0]
        assert cached.cached and cached.text == "".join(pieces)
        fresh = Engine.answer  # the uncached path, to check the streamed text is the real one
        two.cache, saved = None, two.cache
        assert fresh(two, [q], system_prompt=SYSTEM, adapter="run1", settings=SETTINGS)[0].text == (
            "".join(pieces)
        )
        two.cache = saved
        # A cached answer streams back in one piece.
        assert list(two.stream(q, system_prompt=SYSTEM, adapter="run1", settings=SETTINGS)) == [
            cached.text
        ]
    finally:
        two.cache = None


def test_cache_hit_avoids_regeneration(two: Engine, tmp_path: Path, monkeypatch) -> None:
    two.cache = AnswerCache(tmp_path / "cache" / "answers.sqlite")
    try:
        first = two.answer(QUESTIONS, system_prompt=SYSTEM, adapter="run2", settings=SETTINGS)
        assert not any(a.cached for a in first) and len(two.cache) == len(QUESTIONS)

        def boom(*a, **k):
            raise AssertionError("generate() called although every answer is cached")

        monkeypatch.setattr(two.model, "generate", boom)
        # One greedy question at a time decodes with the fast loop instead: no generating there.
        monkeypatch.setattr("assistant_builder.models.decode.greedy_tokens", boom)
        # Batch size does not change greedy text, so it is not part of the key.
        again = two.answer(
            QUESTIONS, system_prompt=SYSTEM, adapter="run2", settings=GenSettings(10, batch_size=1)
        )
        assert all(a.cached for a in again) and texts(again) == texts(first)
        # What does change the text misses the cache: side, system prompt, max_new_tokens.
        for kwargs in (
            {"adapter": "run1", "system_prompt": SYSTEM, "settings": SETTINGS},
            {"adapter": "base", "system_prompt": SYSTEM, "settings": SETTINGS},
            {"adapter": "run2", "system_prompt": "Be brief.", "settings": SETTINGS},
            {"adapter": "run2", "system_prompt": SYSTEM, "settings": GenSettings(11)},
        ):
            with pytest.raises(AssertionError, match="generate"):
                two.answer(QUESTIONS[:1], **kwargs)
        # The cache survives a new process: reopen the file.
        two.cache.close()
        two.cache = AnswerCache(tmp_path / "cache" / "answers.sqlite")
        assert two.answer(QUESTIONS, system_prompt=SYSTEM, adapter="run2", settings=SETTINGS)[
            0
        ].cached
    finally:
        two.cache = None


def test_settings_cache_key_ignores_only_what_cannot_change_the_text() -> None:
    greedy = GenSettings()
    assert greedy.cache_key() == GenSettings(temperature=0.1, seed=5, batch_size=2).cache_key()
    assert greedy.cache_key() != GenSettings(repetition_penalty=1.0).cache_key()
    sampled = GenSettings(do_sample=True)
    assert sampled.cache_key() != GenSettings(do_sample=True, seed=1).cache_key()
    assert sampled.cache_key() != GenSettings(do_sample=True, temperature=0.2).cache_key()
    assert '"batch_size": 16' in greedy.key()  # all settings are still recorded


def test_corrupt_cache_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "answers.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    cache = AnswerCache(path)
    cache.put(
        "k",
        model="m",
        adapter="base",
        system_prompt="",
        question="q",
        settings="{}",
        text="t",
        stopped=True,
        new_tokens=1,
    )
    assert cache.get("k") == {"text": "t", "stopped": True, "new_tokens": 1}
    assert cache.get("other") is None and (cache.hits, cache.misses) == (1, 1)


def test_repetition_penalty_only_for_the_base_model_unless_set() -> None:
    auto = GenSettings()
    assert auto.for_side("base").repetition_penalty == 1.1
    # An adapter reproduces what it learned, repeated key words included: no penalty.
    assert auto.for_side("tuned").repetition_penalty == 1.0
    assert auto.for_side("base").cache_key() != auto.for_side("tuned").cache_key()
    chosen = GenSettings(repetition_penalty=1.3)
    assert chosen.for_side("tuned") is chosen and chosen.for_side("base") is chosen
