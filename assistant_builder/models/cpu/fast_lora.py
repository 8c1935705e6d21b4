"""A fused forward/backward for PEFT's LoRA linear layers, used on CPU.

PEFT computes a LoRA layer as five autograd nodes: the frozen base ``x @ W.T``, ``x @ A.T``,
``@ B.T``, a multiply by the scaling and an add, each with its own Python dispatch, its own
output tensor and its own backward node (plus an add where the two input gradients meet). With
the default model's 210 LoRA layers that is ~2000 small ops a training step, and on a 2-core
CPU every op also pays a hand-off between the threads. Here one ``autograd.Function`` does the
same maths in three matrix products and one ``addmm_`` forward (the LoRA product is added into
the base output in place, the scaling folded in) and five backward, with no separate multiply
or add. It pays off for short rows, where the small ops dominate, and saves memory; for long
rows the matmuls dominate (the figures are in benchmarks/README.md).

Gradients are the same as PEFT's up to float rounding (tests/models/test_fast_lora.py checks every
LoRA gradient against PEFT's own path). The parameters are PEFT's own, untouched, so the
adapter saves, loads and merges exactly as before. A call only takes the fused path in the
plain case (one active adapter that is plain LoRA on a plain ``nn.Linear`` base, no dropout
in training mode, not merged, adapters enabled); anything else runs PEFT's forward unchanged.

oneDNN (``onednn=True`` in training, and :func:`onednn_head` for the frozen LM head): the
frozen fp32 matmuls, forward and input gradient, go through oneDNN's linear kernel instead of
``torch.mm``. The PyPI wheel's ``mm`` is MKL's sgemm, which on the project's AMD machine did
not use AVX-512 kernels and ran slower than oneDNN on the same dense weights, most of all for
the LM head's 49k-wide output. The layers' weights are not copied: prepacking them into
oneDNN's blocked layout gained too little for an extra copy of every weight (figures in
benchmarks/README.md). Only the LM head's W^T is prepacked (see onednn_head).
"""

from __future__ import annotations

import functools
import types
from typing import Any


def _lora_fn(onednn: bool) -> Any:
    import torch

    onednn_linear = torch.ops.mkldnn._linear_pointwise

    def linear(x2: Any, w: Any, b: Any) -> Any:
        """x2 @ w.T + b for a frozen w (any strides): oneDNN's kernel or torch's mm."""
        if onednn:
            return onednn_linear(x2, w, b, "none", [], "")
        return torch.mm(x2, w.t()) if b is None else torch.addmm(b, x2, w.t())

    class LoraLinearFn(torch.autograd.Function):
        """y = x W^T + b + s (x A^T) B^T, with W (and b) frozen."""

        @staticmethod
        def forward(ctx: Any, x: Any, w: Any, b: Any, a: Any, bw: Any, s: float) -> Any:
            x2 = x.reshape(-1, x.shape[-1])
            xa = torch.mm(x2, a.t())
            y = linear(x2, w, b)
            y.addmm_(xa, bw.t(), alpha=s)
            ctx.save_for_backward(x2, xa, w, a, bw)
            ctx.s = s
            ctx.x_shape = x.shape
            return y.view(*x.shape[:-1], y.shape[-1])

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            x2, xa, w, a, bw = ctx.saved_tensors
            g = grad.reshape(-1, grad.shape[-1])
            g_xa = torch.mm(g, bw).mul_(ctx.s)  # gradient at x A^T
            grad_b = torch.mm(g.t(), xa).mul_(ctx.s)
            grad_a = torch.mm(g_xa.t(), x2)
            grad_x = None
            # The first layer's input (the frozen embedding's output) needs no gradient.
            if ctx.needs_input_grad[0]:
                grad_x = linear(g, w.t(), None).addmm_(g_xa, a).view(ctx.x_shape)
            return grad_x, None, None, grad_a, grad_b, None

    return LoraLinearFn


@functools.cache
def onednn_linear_works() -> bool:
    """Whether this torch has oneDNN's fp32 linear op and it computes what ``mm`` does (checked
    once on a small case; a torch without it, or one that disagrees, keeps plain ``mm``)."""
    import torch

    try:
        w = torch.randn(24, 16, generator=torch.Generator().manual_seed(0))
        x = torch.randn(5, 16, generator=torch.Generator().manual_seed(1))
        y = torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "")
        yt = torch.ops.mkldnn._linear_pointwise(x, w.t().contiguous().t(), None, "none", [], "")
        want = x @ w.t()
        return bool(torch.allclose(y, want, rtol=1e-4, atol=1e-5)) and bool(
            torch.allclose(yt, want, rtol=1e-4, atol=1e-5)
        )
    except (AttributeError, RuntimeError):
        return False


def onednn_head(layer: Any) -> Any:
    """``layer(x)`` for a frozen, bias-free fp32 CPU linear layer (the LM head) computed with
    oneDNN's linear kernel both ways (logits, and the gradient at the hidden states); or None
    when that does not apply. Falls back to ``layer(x)`` on any call where the weight has
    become trainable or changed, or the input is not a plain (rows, features) fp32 matrix.

    The gradient's weight, W^T, is prepacked once into oneDNN's layout (one extra copy of
    the head, 113 MB for the default model): for this shape (K = the 49k vocabulary) the
    kernel ran at ~135 GFLOP/s from the dense weight and ~190 from the packed one."""
    import torch

    w = getattr(layer, "weight", None)
    if (
        w is None
        or getattr(layer, "bias", None) is not None
        or w.requires_grad
        or w.dtype != torch.float32
        or w.device.type != "cpu"
        or not onednn_linear_works()
    ):
        return None
    linear = torch.ops.mkldnn._linear_pointwise
    packed_t = torch.ops.mkldnn._reorder_linear_weight(w.detach().t().contiguous(), 256)
    stamp = (w.data_ptr(), w._version)

    class HeadFn(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, weight: Any) -> Any:
            return linear(x, weight, None, "none", [], "")

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return linear(grad, packed_t, None, "none", [], ""), None

    def apply(x: Any) -> Any:
        cur = layer.weight
        if (
            cur.requires_grad
            or (cur.data_ptr(), cur._version) != stamp
            or x.dim() != 2
            or x.dtype != cur.dtype
        ):
            return layer(x)
        return HeadFn.apply(x, cur)

    return apply


def _fusable(layer: Any, name: str) -> bool:
    """Whether adapter ``name`` of ``layer`` is plain LoRA the fused maths computes exactly
    (dropout aside: that is checked per call, as it only acts in training mode)."""
    import torch

    if name not in layer.lora_A or name not in layer.lora_B:
        return False
    # DoRA and other variants have their own maths.
    if getattr(layer, "use_dora", {}).get(name, False) or name in getattr(
        layer, "lora_variant", {}
    ):
        return False
    if getattr(layer, "fan_in_fan_out", False) or type(layer.base_layer) is not torch.nn.Linear:
        return False
    if getattr(layer.lora_B[name], "bias", None) is not None:
        return False
    weights = (layer.base_layer.weight, layer.lora_A[name].weight, layer.lora_B[name].weight)
    return len({(t.dtype, t.device) for t in weights}) == 1


def fuse_lora_linears(model: Any, onednn: bool = False) -> int:
    """Give every PEFT ``lora.Linear`` in ``model`` with at least one plain LoRA adapter the
    fused forward; returns how many layers got it. Each call picks the path again from what
    can change later: merged, adapters disabled or switched (the Engine answers as base and as
    each adapter with one model), dropout in training mode, another dtype coming in. Those
    run PEFT's own forward. Adapters loaded after this call also run PEFT's own forward.

    ``onednn``: compute the frozen base matmuls (forward and input gradient) with oneDNN's
    fp32 linear kernel instead of ``mm``, where :func:`onednn_linear_works`."""
    import torch
    from peft.tuners.lora import Linear as LoraLinear

    fn = _lora_fn(onednn and onednn_linear_works())
    count = 0
    for module in model.modules():
        if not isinstance(module, LoraLinear):
            continue
        ok = frozenset(n for n in module.lora_A if _fusable(module, n))
        if not ok:
            continue

        def forward(
            self: Any, x: Any, *args: Any, _peft: Any = module.forward, _ok: Any = ok, **kw: Any
        ) -> Any:
            active = self.active_adapters
            name = active[0] if len(active) == 1 else None
            w = self.base_layer.weight
            if (
                name not in _ok
                or args
                or kw
                or self.merged
                or self.disable_adapters
                or x.dtype != w.dtype
                or (self.training and not isinstance(self.lora_dropout[name], torch.nn.Identity))
            ):
                return _peft(x, *args, **kw)
            return fn.apply(
                x,
                w,
                self.base_layer.bias,
                self.lora_A[name].weight,
                self.lora_B[name].weight,
                float(self.scaling[name]),
            )

        module.forward = types.MethodType(forward, module)  # type: ignore[method-assign]
        count += 1
    return count
