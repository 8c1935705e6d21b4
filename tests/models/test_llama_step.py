"""The hand-written Llama decode step (models/cpu/llama_step.py) against the model's own
forward: logits close, greedy tokens identical; fp16 and int8 weights close; a guessed
continuation checked in one pass gives each position's own logits; what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from support.tiny_models import in_memory_llama

from assistant_builder.models import decode
from assistant_builder.models.cpu.llama_step import LlamaStep, unsupported

PROMPT = [5, 7, 9, 11, 3, 2, 40, 41, 17]


@pytest.fixture(scope="module")
def model() -> Any:
    return in_memory_llama().eval()


def test_logits_match_the_model_forward_through_prompt_steps_and_cache_growth(model) -> None:
    import torch

    ids = [*PROMPT, 13, 14, 15, 60, 61, 62, 70, 71, 72, 80, 81, 82, 90, 91, 92, 1, 4]
    with torch.inference_mode():
        want = model(torch.tensor([ids])).logits[0]
        step = LlamaStep(model, capacity=16)  # the steps below outgrow it: buffers double
        got = [step.start(ids[:4])] + [step.step(t) for t in ids[4:]]
    assert step.capacity >= len(ids) > 16
    assert torch.allclose(torch.stack(got), want[3:], atol=1e-5)


def test_greedy_tokens_equal_the_model_loop_and_the_cache_carries_over(model) -> None:
    import torch

    with torch.inference_mode():
        want = list(decode.greedy_tokens(model, PROMPT, max_new_tokens=30, end_ids=[]))
        step = LlamaStep(model)
        logits, got = step.start(PROMPT), []
        for _ in range(30):
            got.append(int(torch.argmax(logits)))
            logits = step.step(got[-1])
        # The model's own forward carries on from the step's cache with the same logits.
        cache = step.transformers_cache()
        out = model(
            input_ids=torch.tensor([[got[-1]]]),
            **{decode._cache_arg(model): cache},
            position_ids=torch.tensor([[step.length]]),
            use_cache=True,
        ).logits[0, -1]
        assert torch.allclose(out, step.step(got[-1]), atol=1e-5)
    assert got == want


def test_int8_weights_are_close(model) -> None:
    import torch

    with torch.inference_mode():
        want = model(torch.tensor([PROMPT])).logits[0, -1]
        got = LlamaStep(model, weights="int8").start(PROMPT)
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert (got - want).abs().max() < 0.05 * want.abs().max()
    with pytest.raises(ValueError, match="weights must be one of"):
        LlamaStep(model, weights="int4")


def test_fp16_steps_follow_the_model_and_its_prompt_pass_is_fp32(model) -> None:
    import torch

    ids = [*PROMPT, 13, 14, 15, 60, 61]
    with torch.inference_mode():
        want = model(torch.tensor([ids])).logits[0]
        step, exact = LlamaStep(model, weights="fp16"), LlamaStep(model)
        first = step.start(ids[: len(PROMPT)])
        exact.start(ids[: len(PROMPT)])
        # Several rows (the prompt) run on the fp32 copy: the cache holds the model's values.
        assert torch.equal(step.k, exact.k) and torch.equal(step.v, exact.v)
        steps = [step.step(t) for t in ids[len(PROMPT) :]]
    # One row (a step, and the LM head on the prompt's last row) runs on fp16 weights:
    # close, the same greedy choices.
    got = torch.stack([first, *steps])
    ref = want[len(PROMPT) - 1 :]
    assert (got - ref).abs().max() < 0.01 * ref.abs().max()
    assert torch.equal(got.argmax(-1), ref.argmax(-1))


@pytest.mark.parametrize("weights", ["fp32", "int8"])
def test_verify_gives_each_positions_logits_and_keep_rolls_back(model, weights) -> None:
    import torch

    guess = [13, 14, 15, 60]
    with torch.inference_mode():
        one = LlamaStep(model, weights=weights)
        one.start(PROMPT)
        want = torch.stack([one.step(t) for t in guess])  # one token at a time
        step = LlamaStep(model, weights=weights)
        step.start(PROMPT)
        every = step.verify(guess)
        assert every.shape == want.shape and step.length == len(PROMPT) + len(guess)
        assert (every - want).abs().max() < (1e-5 if weights == "fp32" else 0.05)
        # Only the first two guessed tokens were right: the cache keeps them, and the next
        # step's logits are those of a decoder that never saw the other two.
        step.keep(len(PROMPT) + 2)
        after = step.step(99 % model.config.vocab_size)
        one = LlamaStep(model, weights=weights)
        one.start(PROMPT + guess[:2])
        ref = one.step(99 % model.config.vocab_size)
        # int8 runs a few rows (the check) in int8 and a prompt in fp32: close, not equal.
        tol = 1e-4 if weights == "fp32" else 0.05 * float(ref.abs().max())
        assert (after - ref).abs().max() < tol
        with pytest.raises(ValueError, match="cannot keep"):
            step.keep(step.length + 1)


def test_what_it_refuses(model) -> None:
    from peft import LoraConfig, get_peft_model

    assert unsupported(model) is None
    lora = get_peft_model(in_memory_llama(), LoraConfig(r=2, target_modules=["q_proj"]))
    assert "not merged" in str(unsupported(lora.get_base_model()))
    assert unsupported(lora.merge_and_unload()) is None
    biased = in_memory_llama(attention_bias=True)
    assert "biases" in str(unsupported(biased))
    with pytest.raises(ValueError, match="cannot run this model"):
        LlamaStep(biased)
