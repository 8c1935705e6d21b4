"""Padding-free attention for CPU training: rows flattened into one sequence, each attending
only to itself.

Why: padded batches make every linear layer (most of a CPU step) also multiply the padding,
even when batches are grouped by length. Transformers can run
padding-free batches (TRL's ``padding_free``: one row, ``position_ids`` restarting at 0 and
``cu_seq_lens_q`` from the collator) but only flash-attention reads the sequence boundaries;
``sdpa`` gets a (T x T) block-diagonal mask instead, and the masked kernel over the whole
flattened row was slower than the padded batch (benchmarks/README.md). Here the boundaries
are read directly: one causal SDPA call per row, no mask, so each call takes the fused CPU
flash kernel and the attention work is what the rows need, with no padding anywhere in the step.

``register()`` adds the function to transformers' attention registry under ``NAME``; a model
switched to it with ``model.set_attn_implementation(NAME)`` builds no attention mask at all (the
registry has no mask function for it), so a batch without ``cu_seq_lens_q`` is treated as one
sequence per row, which is only right when there is no padding: the dataloader must be TRL's
padding-free collator (``SFTConfig(padding_free=True)``).
"""

from __future__ import annotations

import itertools
from typing import Any

NAME = "assistant_builder_varlen_sdpa"


def varlen_sdpa_forward(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    cu_seq_lens_q: Any = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """Causal attention per packed row. ``query`` is (1, heads, T, dim) with the rows laid end
    to end, ``cu_seq_lens_q`` their boundaries ([0, len0, len0+len1, ..., T]). Returns
    (1, T, heads, dim) like transformers' own attention functions."""
    import torch
    import torch.nn.functional as F

    if attention_mask is not None:
        raise ValueError(f"{NAME} takes padding-free batches only (got an attention mask)")
    gqa = getattr(module, "num_key_value_groups", 1) > 1
    if query.shape[0] != 1:  # several rows of one length, no padding (no mask was built)
        out = F.scaled_dot_product_attention(
            query, key, value, dropout_p=dropout, scale=scaling, is_causal=True, enable_gqa=gqa
        )
        return out.transpose(1, 2).contiguous(), None
    if cu_seq_lens_q is None:  # one row
        bounds = [(0, query.shape[2])]
    else:  # one host read per layer of a (rows + 1)-long tensor; it never leaves the CPU here
        bounds = list(itertools.pairwise(cu_seq_lens_q.tolist()))
    outs = [
        F.scaled_dot_product_attention(
            query[:, :, s:e],
            key[:, :, s:e],
            value[:, :, s:e],
            dropout_p=dropout,
            scale=scaling,
            is_causal=True,
            enable_gqa=gqa,
        )
        for s, e in bounds
    ]
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Add the function to transformers' attention registry (idempotent); returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, varlen_sdpa_forward)
    return NAME
