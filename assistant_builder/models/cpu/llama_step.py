"""A hand-written forward pass for one row of a Llama-architecture model (SmolLM2 is one).

transformers' forward for one new token is a few hundred small operations, each with its own
dispatch, shape checks, cache bookkeeping and mask building; on a 2-core CPU that overhead
costs about as much as reading the weights. This step does only the arithmetic: RMSNorm, rotary
embedding from the model's own rotary module (so any rope scaling it has is honoured), grouped
-query attention over a preallocated KV cache, the SiLU-gated MLP, the LM head on the last
position only. q/k/v and gate/up are fused into one matrix each (one matrix-vector product
instead of three and two).

Weights (``weights=``):

- ``"fp32"``: the model's own values; greedy tokens match transformers' forward (tests compare
  logits and tokens on the tiny models; benchmarks/single_stream.py on golden questions).
- ``"int8"``: weight-only int8 with one scale per output channel (symmetric), run by torch's
  ``_weight_int8pack_mm`` kernel (the one gpt-fast uses) on bf16 activations, the LM head
  included (a separate int8 copy; the fp32 embeddings stay for the lookup). A quarter of the
  bytes per token; answers can change, see benchmarks/README.md for what it does to quality.

The model must hold plain ``nn.Linear`` layers (an adapter merged, as ``serve`` does):
:func:`unsupported` says why not otherwise, and callers keep the model's own forward.
"""

from __future__ import annotations

import math
from typing import Any

WEIGHTS = ("fp32", "int8")


def unsupported(model: Any) -> str | None:
    """Why this step cannot run ``model`` (None when it can)."""
    import torch

    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) != "llama":
        return f"model type {getattr(config, 'model_type', None)!r} is not llama"
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return "biases in attention or MLP"
    if getattr(config, "hidden_act", "silu") != "silu" or getattr(config, "pretraining_tp", 1) > 1:
        return "activation or tensor-parallel setting other than Llama's default"
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None or not hasattr(inner, "rotary_emb"):
        return "no model.layers / rotary_emb"
    if next(model.parameters()).device.type != "cpu":
        return "not on the CPU"
    names = ("q_proj", "k_proj", "v_proj", "o_proj")
    for layer in layers:
        mods = [getattr(layer.self_attn, n) for n in names]
        mods += [getattr(layer.mlp, n) for n in ("gate_proj", "up_proj", "down_proj")]
        if any(type(m) is not torch.nn.Linear for m in mods):
            return "adapter layers not merged into plain linear layers"
    if type(model.lm_head) is not torch.nn.Linear:
        return "LM head is not a plain linear layer"
    return None


class _Linear:
    """``y = x W^T`` with W in fp32 or int8 (per-output-channel scales)."""

    def __init__(self, weight: Any, kind: str) -> None:
        import torch

        self.kind = kind
        w = weight.detach().float()
        if kind == "fp32":
            self.w = w.contiguous()
            return
        scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
        self.w = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
        self.scale = scale.to(torch.bfloat16)

    def __call__(self, x: Any) -> Any:
        import torch

        if self.kind == "fp32":
            return torch.nn.functional.linear(x, self.w)
        y = torch.ops.aten._weight_int8pack_mm(x.to(torch.bfloat16), self.w, self.scale)
        return y.float()


class LlamaStep:
    """One row's forward passes with its own KV cache: :meth:`start` with the prompt, then
    :meth:`step` with each chosen token; both return the next token's logits (fp32, 1-D).
    Call inside ``torch.inference_mode()``."""

    def __init__(self, model: Any, weights: str = "fp32", capacity: int = 256) -> None:
        import torch

        why = unsupported(model)
        if why:
            raise ValueError(f"the hand-written decode step cannot run this model: {why}")
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
        cfg = model.config
        self.weights = weights
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        self.eps = cfg.rms_norm_eps
        self.max_positions = int(getattr(cfg, "max_position_embeddings", 0) or 1 << 20)
        self._rotary = model.model.rotary_emb
        self.embed = model.model.embed_tokens.weight.detach()
        self.final_norm = model.model.norm.weight.detach().float()
        self.head = _Linear(model.lm_head.weight, weights)
        self.layers = []
        for layer in model.model.layers:
            a, m = layer.self_attn, layer.mlp
            qkv = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])
            gate_up = torch.cat([m.gate_proj.weight, m.up_proj.weight])
            self.layers.append(
                (
                    layer.input_layernorm.weight.detach().float(),
                    _Linear(qkv, weights),
                    _Linear(a.o_proj.weight, weights),
                    layer.post_attention_layernorm.weight.detach().float(),
                    _Linear(gate_up, weights),
                    _Linear(m.down_proj.weight, weights),
                )
            )
        self.scaling = getattr(model.model.layers[0].self_attn, "scaling", None) or (
            1.0 / math.sqrt(self.head_dim)
        )
        self.length = 0
        self.k: Any = None  # (layers, kv heads, capacity, head dim), filled by _alloc
        self.v: Any = None
        self._alloc(capacity)

    def _alloc(self, capacity: int) -> None:
        """Cache buffers and rotary tables for ``capacity`` positions (the filled part kept)."""
        import torch

        capacity = min(max(capacity, 16), self.max_positions)
        n = len(self.layers)
        k = torch.zeros((n, self.kv_heads, capacity, self.head_dim))
        v = torch.zeros_like(k)
        if self.length:
            k[:, :, : self.length] = self.k[:, :, : self.length]
            v[:, :, : self.length] = self.v[:, :, : self.length]
        self.k, self.v = k, v
        positions = torch.arange(capacity)[None, :]
        cos, sin = self._rotary(self.embed[:1][None].float(), positions)
        self.cos, self.sin = cos[0].float(), sin[0].float()
        self.capacity = capacity

    def _norm(self, x: Any, weight: Any) -> Any:
        import torch

        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def _rope(self, x: Any, cos: Any, sin: Any) -> Any:
        import torch

        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    def _forward(self, ids: list[int]) -> Any:
        import torch
        from torch.nn.functional import scaled_dot_product_attention, silu

        t, start = len(ids), self.length
        end = start + t
        if end > self.capacity:
            if end > self.max_positions:
                raise ValueError(f"{end} positions exceed the model's {self.max_positions}")
            self._alloc(max(end, 2 * self.capacity))
        x = self.embed[torch.tensor(ids)].float()  # (t, hidden)
        cos = self.cos[start:end][:, None, :]  # (t, 1, head_dim): broadcast over heads
        sin = self.sin[start:end][:, None, :]
        nq, nkv, hd = self.heads, self.kv_heads, self.head_dim
        for i, (in_norm, qkv, o, post_norm, gate_up, down) in enumerate(self.layers):
            h = qkv(self._norm(x, in_norm))
            q = self._rope(h[:, : nq * hd].view(t, nq, hd), cos, sin)
            k = self._rope(h[:, nq * hd : (nq + nkv) * hd].view(t, nkv, hd), cos, sin)
            self.k[i, :, start:end] = k.transpose(0, 1)
            self.v[i, :, start:end] = h[:, (nq + nkv) * hd :].view(t, nkv, hd).transpose(0, 1)
            att = scaled_dot_product_attention(
                q.transpose(0, 1)[None],
                self.k[i, None, :, :end],
                self.v[i, None, :, :end],
                is_causal=t > 1,  # a prompt from an empty cache; one new token sees all keys
                scale=self.scaling,
                enable_gqa=True,
            )
            x = x + o(att[0].transpose(0, 1).reshape(t, nq * hd))
            g, u = gate_up(self._norm(x, post_norm)).chunk(2, dim=-1)
            x = x + down(silu(g) * u)
        self.length = end
        return self.head(self._norm(x[-1:], self.final_norm))[0]

    def start(self, prompt_ids: list[int]) -> Any:
        """Forget any earlier cache; the logits after ``prompt_ids``."""
        if not prompt_ids:
            raise ValueError("empty prompt")
        self.length = 0
        if len(prompt_ids) > self.capacity:
            self._alloc(len(prompt_ids) + 256)
        return self._forward(list(prompt_ids))

    def step(self, token: int) -> Any:
        """The logits after one more token."""
        return self._forward([token])

    def transformers_cache(self) -> Any:
        """The cache so far as a transformers ``DynamicCache`` (batch of one), so that the
        model's own forward can carry on from here."""
        from transformers import DynamicCache

        cache = DynamicCache()
        n = self.length
        for i in range(len(self.layers)):
            cache.update(self.k[i, None, :, :n].clone(), self.v[i, None, :, :n].clone(), i)
        return cache
