"""Padding-free attention on CUDA without the flash-attn package: torch's own variable-length
flash kernel (``torch.nn.attention.varlen.varlen_attn``, PyTorch 2.9+) over rows laid end to
end.

Why: TRL's padding-free batches (one row, ``position_ids`` restarting at 0, ``cu_seq_lens_q``
from the collator) need attention that reads the row boundaries. Transformers reads them only
in its flash-attention integrations, which need the flash-attn wheel (built per CUDA and torch
version, often missing); its ``sdpa`` path would build a (T x T) block-diagonal mask instead.
Without either, the recipe fell back to padded batches on GPU. This function gives the same
attention as one causal SDPA call per row (the CPU path, ``models/cpu/varlen_attention.py``)
in one kernel launch per layer.

The kernel takes fp16/bf16 only: other inputs (fp32 norms of a k-bit-prepared model can make
q/k/v fp32) are cast to bf16 and the output cast back.
"""

from __future__ import annotations

from typing import Any

NAME = "assistant_builder_varlen_flash"


def available() -> bool:
    """torch has the varlen kernel and a CUDA device to run it on."""
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401
    except ImportError:
        return False
    return True


def varlen_flash_forward(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    cu_seq_lens_q: Any = None,
    max_length_q: int | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """Causal attention per packed row. ``query`` is (1, heads, T, dim) with the rows laid end
    to end, ``cu_seq_lens_q`` their boundaries ([0, len0, len0+len1, ..., T]). Returns
    (1, T, heads, dim) like transformers' own attention functions."""
    import torch
    from torch.nn.attention.varlen import varlen_attn

    if attention_mask is not None:
        raise ValueError(f"{NAME} takes padding-free batches only (got an attention mask)")
    if dropout:
        raise ValueError(f"{NAME} has no attention dropout (the recipes use none)")
    batch, _, length, _ = query.shape
    # (B, H, T, D) -> (B*T, H, D): rows of one length without padding become packed rows too.
    q, k, v = (
        x.transpose(1, 2).reshape(batch * length, x.shape[1], x.shape[3])
        for x in (query, key, value)
    )
    if cu_seq_lens_q is None or batch > 1:
        cu = torch.arange(0, (batch + 1) * length, length, device=q.device, dtype=torch.int32)
        longest = length
    else:
        cu = cu_seq_lens_q.to(device=q.device, dtype=torch.int32)
        longest = int(max_length_q) if max_length_q else int((cu[1:] - cu[:-1]).max())
    dtype = q.dtype
    if dtype not in (torch.float16, torch.bfloat16):
        q, k, v = q.to(torch.bfloat16), k.to(torch.bfloat16), v.to(torch.bfloat16)
    out: Any = varlen_attn(  # a tensor: no auxiliary outputs asked for
        q,
        k,
        v,
        cu,
        cu,
        longest,
        longest,
        scale=scaling,
        window_size=(-1, 0),  # causal
        enable_gqa=q.shape[1] != k.shape[1],
    )
    return out.to(dtype).reshape(batch, length, out.shape[1], out.shape[2]), None


def register() -> str:
    """Add the function to transformers' attention registry (idempotent); returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, varlen_flash_forward)
    return NAME
