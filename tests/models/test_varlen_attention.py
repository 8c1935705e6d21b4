"""Padding-free batches with the per-row attention (assistant_builder/varlen_attention.py)
against padded batches with transformers' own SDPA, on a tiny Llama built in memory: the
same logits for every real token, the same loss and the same gradients. The batches come
from TRL's own collator, the one SFTTrainer uses, in both of its modes."""

from __future__ import annotations

from typing import Any

import pytest
from support.tiny_models import in_memory_llama

torch = pytest.importorskip("torch")

LENGTHS = [5, 11, 3, 8]  # rows of unequal length: padding in one mode, boundaries in the other


def tiny_llama(attn: str) -> Any:
    return in_memory_llama(attn_implementation=attn)


def examples() -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(1)
    out = []
    for n in LENGTHS:
        ids = torch.randint(3, 97, (n,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": ids})
    return out


def collate(padding_free: bool) -> dict[str, Any]:
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(pad_token_id=0, padding_free=padding_free)(examples())


def run(model: Any, batch: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    model.zero_grad()
    out = model(**batch)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return out.logits.detach(), out.loss.detach(), grads


def test_padding_free_rows_match_padded_rows() -> None:
    from assistant_builder.models.cpu.varlen_attention import register

    padded = collate(padding_free=False)
    packed = collate(padding_free=True)
    assert padded["input_ids"].shape == (len(LENGTHS), max(LENGTHS))
    assert packed["input_ids"].shape == (1, sum(LENGTHS))
    assert packed["cu_seq_lens_q"].tolist() == [0, 5, 16, 19, 27]

    ref = tiny_llama("sdpa")
    model = tiny_llama(register())
    model.load_state_dict(ref.state_dict())
    logits_ref, loss_ref, grads_ref = run(ref, padded)
    logits, loss, grads = run(model, packed)

    # Every real token sees only its own row: its logits equal the padded row's.
    starts = packed["cu_seq_lens_q"].tolist()
    for i, n in enumerate(LENGTHS):
        torch.testing.assert_close(logits[0, starts[i] : starts[i] + n], logits_ref[i, :n])
    torch.testing.assert_close(loss, loss_ref)
    assert grads.keys() == grads_ref.keys()
    for name, g in grads.items():
        torch.testing.assert_close(g, grads_ref[name], rtol=1e-4, atol=1e-6, msg=name)


def test_packed_rows_differ_from_one_long_sequence() -> None:
    """The boundaries matter: without them the same flattened tokens attend across rows."""
    from assistant_builder.models.cpu.varlen_attention import register

    packed = collate(padding_free=True)
    model = tiny_llama(register())
    with torch.no_grad():
        ids, pos = packed["input_ids"], packed["position_ids"]
        with_bounds = model(input_ids=ids, position_ids=pos, cu_seq_lens_q=packed["cu_seq_lens_q"])
        one_row = model(input_ids=ids, position_ids=pos)
    first = LENGTHS[0]
    # The first row has nothing before it either way; the second row does only without bounds.
    torch.testing.assert_close(with_bounds.logits[0, :first], one_row.logits[0, :first])
    assert not torch.allclose(with_bounds.logits[0, first:], one_row.logits[0, first:])


def test_unpadded_batch_of_rows_and_masks() -> None:
    from assistant_builder.models.cpu.varlen_attention import NAME, register, varlen_sdpa_forward

    ref = tiny_llama("sdpa")
    model = tiny_llama(register())
    model.load_state_dict(ref.state_dict())
    ids = torch.randint(3, 97, (3, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():  # equal-length rows, no padding: plain causal attention per row
        torch.testing.assert_close(model(input_ids=ids).logits, ref(input_ids=ids).logits)

    q = torch.zeros(1, 4, 6, 8)
    with pytest.raises(ValueError, match=f"{NAME} takes padding-free batches only"):
        varlen_sdpa_forward(model.model.layers[0].self_attn, q, q, q, torch.ones(1, 1, 6, 6))
