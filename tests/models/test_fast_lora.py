"""The fused LoRA forward/backward (assistant_builder/fast_lora.py) against PEFT's own path on a
tiny Llama built in memory: same loss, same gradient for every LoRA weight, and PEFT's forward
wherever the fused maths would not be the same (dropout, merged, adapters disabled)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from support.tiny_models import in_memory_llama

torch = pytest.importorskip("torch")


def lora_model(dropout: float = 0.0, bias: bool = False) -> Any:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(
        in_memory_llama(attention_bias=bias),
        LoraConfig(
            r=4,
            lora_alpha=8,
            lora_dropout=dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    # PEFT starts B at zero, where A gets no gradient: give B values so every path is tested.
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.1)
    return model


def loss_and_grads(model: Any, ids: Any) -> tuple[float, dict[str, Any]]:
    model.zero_grad()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.item(), grads


def needs_onednn() -> None:
    from assistant_builder.models.cpu.fast_lora import onednn_linear_works

    if not onednn_linear_works():
        pytest.skip("this torch build has no working oneDNN linear op (the trainer keeps mm)")


@pytest.mark.parametrize("onednn", [False, True], ids=["mm", "onednn"])
@pytest.mark.parametrize("bias", [False, True])
def test_fused_gradients_equal_peft(bias: bool, onednn: bool) -> None:
    from assistant_builder.models.cpu.fast_lora import fuse_lora_linears

    if onednn:
        needs_onednn()
    peft_model = lora_model(bias=bias)
    fused = copy.deepcopy(peft_model)
    # 7 projections x 2 layers; the LM head is not a LoRA target ("all-linear" leaves it out).
    assert fuse_lora_linears(fused, onednn=onednn) == 14
    ids = torch.randint(0, 97, (3, 11))
    loss_p, grads_p = loss_and_grads(peft_model, ids)
    loss_f, grads_f = loss_and_grads(fused, ids)
    assert loss_f == pytest.approx(loss_p, rel=1e-6)
    assert grads_p.keys() == grads_f.keys() and len(grads_p) == 28
    for name, g in grads_p.items():
        assert g.abs().max() > 0, name  # every LoRA weight takes part
        torch.testing.assert_close(grads_f[name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_fused_layer_falls_back_to_peft_when_merged_or_disabled() -> None:
    from assistant_builder.models.cpu.fast_lora import fuse_lora_linears

    model = lora_model()
    fuse_lora_linears(model)
    ids = torch.randint(0, 97, (2, 7))
    with torch.no_grad():
        tuned = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
        model.merge_adapter()
        merged = model(input_ids=ids).logits  # a fused path here would add LoRA twice
        model.unmerge_adapter()
        again = model(input_ids=ids).logits
    assert not torch.allclose(tuned, base, atol=1e-3)
    torch.testing.assert_close(merged, tuned, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(again, tuned, rtol=1e-5, atol=1e-6)


def test_dropout_takes_peft_path_in_training_and_fused_in_eval() -> None:
    from assistant_builder.models.cpu.fast_lora import fuse_lora_linears

    peft_model = lora_model(dropout=0.5)
    fused = copy.deepcopy(peft_model)
    assert fuse_lora_linears(fused) == 14
    ids = torch.randint(0, 97, (2, 7))
    outs = []
    for model in (peft_model, fused):
        model.train()
        torch.manual_seed(1)  # the same dropout masks, if and only if the same path runs
        with torch.no_grad():
            outs.append(model(input_ids=ids).logits)
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=0)
    with torch.no_grad():
        peft_model.eval()
        fused.eval()
        torch.testing.assert_close(
            fused(input_ids=ids).logits, peft_model(input_ids=ids).logits, rtol=1e-4, atol=1e-5
        )


def test_engine_style_adapter_switching_follows_the_active_adapter() -> None:
    """Two adapters on one model, switched as the Engine does: each side answers as PEFT."""
    from assistant_builder.models.cpu.fast_lora import fuse_lora_linears

    model = lora_model()
    model.add_adapter("second", model.peft_config["default"])
    for name, p in model.named_parameters():
        if "second" in name:
            p.data.normal_(0, 0.1)
    plain = copy.deepcopy(model)
    assert fuse_lora_linears(model) == 14
    ids = torch.randint(0, 97, (2, 7))
    with torch.no_grad():
        for adapter in ("default", "second", "default"):
            model.set_adapter(adapter)
            plain.set_adapter(adapter)
            torch.testing.assert_close(
                model(input_ids=ids).logits, plain(input_ids=ids).logits, rtol=1e-4, atol=1e-5
            )


def test_onednn_head_equals_the_linear_layer_and_steps_aside_when_trainable() -> None:
    from assistant_builder.models.cpu.fast_lora import onednn_head

    needs_onednn()
    torch.manual_seed(0)
    layer = torch.nn.Linear(32, 97, bias=False)
    layer.weight.requires_grad_(False)  # frozen, as the tied LM head is under LoRA
    head = onednn_head(layer)
    assert head is not None
    h = torch.randn(13, 32)
    ours, ref = h.clone().requires_grad_(), h.clone().requires_grad_()
    g = torch.randn(13, 97)
    (head(ours) * g).sum().backward()
    (layer(ref) * g).sum().backward()
    torch.testing.assert_close(head(h), layer(h), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.grad, ref.grad, rtol=1e-4, atol=1e-5)

    with torch.no_grad():  # changed in place (a merge, say): the packed W^T is stale now
        layer.weight.mul_(2)
    ours, ref = h.clone().requires_grad_(), h.clone().requires_grad_()
    (head(ours) * g).sum().backward()
    (layer(ref) * g).sum().backward()
    torch.testing.assert_close(ours.grad, ref.grad, rtol=1e-4, atol=1e-5)

    layer.weight.requires_grad_(True)  # trained after all: the layer's own path, weight grad
    head(h).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert onednn_head(torch.nn.Linear(32, 97)) is None  # a bias, or trainable: not taken
