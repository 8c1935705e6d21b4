"""torch's varlen flash kernel as the padding-free attention on CUDA (models/gpu): the same
attention as one causal SDPA call per packed row (the CPU path). The kernel itself runs on
CUDA only: on CPU its packing (rows, boundaries, heads, GQA, dtype) is checked against a
reference kernel written from its documented contract; the real one runs under ``-m gpu``."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest

torch = pytest.importorskip("torch")
varlen = pytest.importorskip("torch.nn.attention.varlen")

from assistant_builder.models.cpu.varlen_attention import varlen_sdpa_forward  # noqa: E402
from assistant_builder.models.gpu import varlen_attention as gpu  # noqa: E402


def _reference_varlen_attn(
    q: Any, k: Any, v: Any, cu_q: Any, cu_k: Any, max_q: int, max_k: int, **kw: Any
) -> Any:
    """varlen_attn's contract: (T, H, D) rows packed at ``cu``; causal for window (-1, 0)."""
    assert kw["window_size"] == (-1, 0) and q.dtype in (torch.float16, torch.bfloat16)
    assert cu_q.dtype == torch.int32 and int((cu_q[1:] - cu_q[:-1]).max()) <= max_q
    outs = []
    for s, e in itertools.pairwise(cu_q.tolist()):
        rows = [x[s:e].transpose(0, 1).float() for x in (q, k, v)]
        out = torch.nn.functional.scaled_dot_product_attention(
            *rows, is_causal=True, scale=kw["scale"], enable_gqa=kw["enable_gqa"]
        )
        outs.append(out.transpose(0, 1).to(q.dtype))
    return torch.cat(outs)


def _packed(lengths: list[int], heads: int = 4, kv_heads: int = 2, dim: int = 8) -> Any:
    g = torch.Generator().manual_seed(0)
    t = sum(lengths)
    q = torch.randn(1, heads, t, dim, generator=g)
    k = torch.randn(1, kv_heads, t, dim, generator=g)
    v = torch.randn(1, kv_heads, t, dim, generator=g)
    cu = torch.tensor([0, *itertools.accumulate(lengths)])
    return q, k, v, cu


def test_packed_rows_match_one_sdpa_call_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(varlen, "varlen_attn", _reference_varlen_attn)
    q, k, v, cu = _packed([5, 3, 7])
    module = SimpleNamespace(num_key_value_groups=2)
    want, _ = varlen_sdpa_forward(module, q, k, v, None, scaling=0.3, cu_seq_lens_q=cu)
    got, _ = gpu.varlen_flash_forward(module, q, k, v, None, scaling=0.3, cu_seq_lens_q=cu)
    assert got.shape == want.shape == (1, 15, 4, 8) and got.dtype == torch.float32
    # fp32 inputs go through the kernel in bf16: bf16 rounding, not a different attention.
    assert torch.allclose(got, want, atol=3e-2)
    # Rows of one length without packing (no boundaries): each row on its own.
    q2, k2, v2 = (x.reshape(x.shape[1], 3, 5, 8).transpose(0, 1) for x in (q, k, v))
    got2, _ = gpu.varlen_flash_forward(module, q2, k2, v2, None, scaling=0.3)
    want2, _ = varlen_sdpa_forward(module, q2, k2, v2, None, scaling=0.3)
    assert got2.shape == (3, 5, 4, 8) and torch.allclose(got2, want2, atol=3e-2)


def test_a_mask_or_dropout_is_refused() -> None:
    q, k, v, _ = _packed([4])
    with pytest.raises(ValueError, match="padding-free batches only"):
        gpu.varlen_flash_forward(None, q, k, v, torch.ones(1, 4))
    with pytest.raises(ValueError, match="no attention dropout"):
        gpu.varlen_flash_forward(None, q, k, v, None, dropout=0.1)


def test_not_available_without_cuda() -> None:
    assert gpu.available() is torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch's varlen kernel runs on CUDA")
def test_the_real_kernel_matches_one_sdpa_call_per_row() -> None:
    q, k, v, cu = (x.cuda() for x in _packed([5, 3, 7], dim=64))
    q, k, v = (x.to(torch.bfloat16) for x in (q, k, v))
    module = SimpleNamespace(num_key_value_groups=2)
    want, _ = varlen_sdpa_forward(module, q, k, v, None, scaling=0.125, cu_seq_lens_q=cu)
    got, _ = gpu.varlen_flash_forward(module, q, k, v, None, scaling=0.125, cu_seq_lens_q=cu)
    assert torch.allclose(got.float(), want.float(), atol=2e-2)
