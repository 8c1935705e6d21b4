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

WEIGHTS = ("fp32", "fp16", "int8")


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
    """``y = x W^T`` for the step's three shapes of work, each on the kernel this CPU runs
    fastest (benchmarks/README.md, "Single stream"). One row (a decode step) reads the weights
    once, so its time is their bytes: it runs on the ``kind``'s copy, fp32, fp16 or int8 with
    one scale per output channel. A few rows (a guessed continuation to check) run on the fp32
    copy as ``W x^T``, which costs about one fp32 row for up to 16 rows, where ``x W^T`` costs
    two to three times that and the fp16 and int8 kernels grow with every row. Many rows (a
    prompt) run as an ordinary fp32 product. The output keeps the kernel's dtype (fp32, fp16 or
    bf16): the residual adds promote it in place, and the callers that need fp32 ask for it."""

    FEW_ROWS = 16

    def __init__(self, weight: Any, kind: str) -> None:
        import torch

        self.kind = kind
        self.w = weight.detach().float().contiguous()
        self.low: Any = None
        if kind == "fp16":
            self.low = self.w.to(torch.float16)
        elif kind == "int8":
            scale = (self.w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
            low = torch.round(self.w / scale[:, None]).clamp(-127, 127)
            self.low = low.to(torch.int8).contiguous()
            self.scale = scale.to(torch.bfloat16)

    def __call__(self, x: Any) -> Any:
        import torch

        rows = x.shape[0]
        if rows == 1 and self.kind == "fp16":
            return torch.nn.functional.linear(x.to(torch.float16), self.low)
        if rows == 1 and self.kind == "int8":
            return torch.ops.aten._weight_int8pack_mm(x.to(torch.bfloat16), self.low, self.scale)
        if 1 < rows <= self.FEW_ROWS:
            return torch.mm(self.w, x.float().T).T.contiguous()
        return torch.nn.functional.linear(x.float(), self.w)


def _interleave_rope_rows(w: Any, heads: int, head_dim: int) -> Any:
    """Reorder each head's rows of a q or k projection from Llama's halves layout (element i
    rotates with i + head_dim/2) to adjacent pairs (i, i + head_dim/2), so the rotary
    embedding is one complex multiplication. Queries and keys get the same order, so their
    dot products, and the attention, do not change."""
    half = head_dim // 2
    w = w.reshape(heads, 2, half, -1).transpose(1, 2)  # (heads, half, 2, in)
    return w.reshape(heads * head_dim, -1)


class LlamaStep:
    """One row's forward passes with its own KV cache: :meth:`start` with the prompt, then
    :meth:`step` with each chosen token; both return the next token's logits (fp32, 1-D).
    Call inside ``torch.inference_mode()``.

    A decode step is a handful of operations per layer (the matrix products take most of its
    time): the attention scale is folded into the query rows, the rotary embedding is one
    complex product over queries and keys together (their rows interleaved at load, see
    :func:`_interleave_rope_rows`; the key cache holds that order and
    :meth:`transformers_cache` puts it back), RMSNorm is torch's fused ``rms_norm``, and one
    query's attention is two batched products and a softmax."""

    def __init__(self, model: Any, weights: str = "fp32", capacity: int = 256) -> None:
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
        self.hidden = (self.embed.shape[1],)
        self.final_norm = model.model.norm.weight.detach().float()
        self.head = _Linear(model.lm_head.weight, weights)
        scaling = getattr(model.model.layers[0].self_attn, "scaling", None) or (
            1.0 / math.sqrt(self.head_dim)
        )
        self.layers = [self._layer(layer, scaling, weights) for layer in model.model.layers]
        self.length = 0
        self.k: Any = None  # (layers, kv heads, capacity, head dim), filled by _alloc
        self.v: Any = None
        self._alloc(capacity)

    def _layer(self, layer: Any, scaling: float, weights: str) -> tuple[Any, ...]:
        import torch

        a, m = layer.self_attn, layer.mlp
        hd = self.head_dim
        q = _interleave_rope_rows(a.q_proj.weight.detach().float() * scaling, self.heads, hd)
        k = _interleave_rope_rows(a.k_proj.weight.detach().float(), self.kv_heads, hd)
        qkv = torch.cat([q, k, a.v_proj.weight.detach().float()])
        gate_up = torch.cat([m.gate_proj.weight, m.up_proj.weight])
        return (
            layer.input_layernorm.weight.detach().float(),
            _Linear(qkv, weights),
            _Linear(a.o_proj.weight, weights),
            layer.post_attention_layernorm.weight.detach().float(),
            _Linear(gate_up, weights),
            _Linear(m.down_proj.weight, weights),
        )

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
        cos, sin = cos[0].float(), sin[0].float()
        half = self.head_dim // 2
        halves = torch.equal(cos[:, :half], cos[:, half:]) and torch.equal(
            sin[:, :half], sin[:, half:]
        )
        if not halves:  # the complex product below assumes Llama's rotate-half tables
            raise ValueError("the model's rotary tables do not repeat over the two halves")
        self.freqs = torch.complex(cos[:, :half].contiguous(), sin[:, :half].contiguous())
        self.capacity = capacity

    def _grow(self, end: int) -> None:
        if end > self.capacity:
            if end > self.max_positions:
                raise ValueError(f"{end} positions exceed the model's {self.max_positions}")
            self._alloc(max(end, 2 * self.capacity))

    def _rope(self, qk: Any, freqs: Any) -> Any:
        """The rotary embedding of ``qk`` (..., heads, head_dim; rows interleaved) as one
        complex product; ``freqs`` broadcasts over the heads."""
        import torch

        pairs = torch.view_as_complex(qk.unflatten(-1, (self.head_dim // 2, 2)))
        return torch.view_as_real(pairs * freqs).flatten(-2)

    def _forward(self, ids: list[int], every: bool = False) -> Any:
        """Several new tokens in one pass (the prompt, or a draft to verify): each attends to
        the cache and to the tokens before it. The last one's logits, or each one's (t, vocab)
        when ``every``."""
        import torch
        from torch.nn.functional import rms_norm, scaled_dot_product_attention, silu

        t, start = len(ids), self.length
        end = start + t
        self._grow(end)
        x = self.embed[torch.tensor(ids)].float()  # (t, hidden)
        freqs = self.freqs[start:end, None, :]  # (t, 1, head_dim / 2): broadcast over heads
        nq, nkv, hd = self.heads, self.kv_heads, self.head_dim
        nqk = nq + nkv
        # Row r sees the keys up to its own position; from an empty cache that is SDPA's own
        # causal mask (top-left aligned), after it an explicit one.
        mask = None
        if start and t > 1:
            mask = torch.arange(end)[None, :] <= torch.arange(start, end)[:, None]
        for i, (in_norm, qkv, o, post_norm, gate_up, down) in enumerate(self.layers):
            h = qkv(rms_norm(x, self.hidden, in_norm, self.eps)).float()
            qk = self._rope(h[:, : nqk * hd].unflatten(1, (nqk, hd)), freqs)
            self.k[i, :, start:end] = qk[:, nq:].transpose(0, 1)
            self.v[i, :, start:end] = h[:, nqk * hd :].view(t, nkv, hd).transpose(0, 1)
            att = scaled_dot_product_attention(
                qk[:, :nq].transpose(0, 1)[None],
                self.k[i, None, :, :end],
                self.v[i, None, :, :end],
                attn_mask=mask,
                is_causal=mask is None and t > 1,
                scale=1.0,  # folded into the query rows
                enable_gqa=True,
            )
            x = x + o(att[0].transpose(0, 1).reshape(t, nq * hd))
            g, u = gate_up(rms_norm(x, self.hidden, post_norm, self.eps)).float().chunk(2, -1)
            x = x + down(silu(g) * u)
        self.length = end
        return self._logits(x) if every else self._logits(x[-1:])[0]

    def _logits(self, x: Any) -> Any:
        from torch.nn.functional import rms_norm

        return self.head(rms_norm(x, self.hidden, self.final_norm, self.eps)).float()

    def _decode(self, token: int) -> Any:
        """One new token: the same arithmetic as :meth:`_forward` in as few operations as it
        takes, since on a CPU each operation's dispatch costs about as much as its work."""
        import torch
        from torch.nn.functional import rms_norm, silu

        pos = self.length
        end = pos + 1
        self._grow(end)
        x = self.embed[token].to(torch.float32, copy=True)[None]  # (1, hidden), written in place
        freqs = self.freqs[pos]
        nq, nkv, hd = self.heads, self.kv_heads, self.head_dim
        nqk, group = nq + nkv, nq // nkv
        for i, (in_norm, qkv, o, post_norm, gate_up, down) in enumerate(self.layers):
            h = qkv(rms_norm(x, self.hidden, in_norm, self.eps)).float()[0]
            qk = self._rope(h[: nqk * hd].view(nqk, hd), freqs)
            self.k[i, :, pos] = qk[nq:]
            self.v[i, :, pos] = h[nqk * hd :].view(nkv, hd)
            keys, values = self.k[i, :, :end], self.v[i, :, :end]  # (kv heads, end, head_dim)
            scores = torch.bmm(qk[:nq].view(nkv, group, hd), keys.transpose(1, 2))
            att = torch.bmm(torch.softmax(scores, dim=-1), values)  # (kv heads, group, hd)
            x.add_(o(att.view(1, nq * hd)))
            g, u = gate_up(rms_norm(x, self.hidden, post_norm, self.eps)).float().chunk(2, -1)
            x.add_(down(silu(g).mul_(u)))
        self.length = end
        return self._logits(x)[0]

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
        return self._decode(token)

    def verify(self, tokens: list[int]) -> Any:
        """Logits after each of ``tokens`` (t, vocab), in one pass: ``tokens[0]`` is the chosen
        token and the rest a guessed continuation. The pass costs about one :meth:`step`,
        since the time goes to reading the weights. Keep the accepted part with
        :meth:`keep`."""
        if not tokens:
            raise ValueError("nothing to verify")
        return self._forward(list(tokens), every=True)

    def keep(self, length: int) -> None:
        """Forget the cache after ``length`` positions (a rejected guess); its entries are
        overwritten by the next pass."""
        if not 0 < length <= self.length:
            raise ValueError(f"cannot keep {length} of {self.length} positions")
        self.length = length

    def transformers_cache(self) -> Any:
        """The cache so far as a transformers ``DynamicCache`` (batch of one), so that the
        model's own forward can carry on from here."""
        from transformers import DynamicCache

        cache = DynamicCache()
        n, half = self.length, self.head_dim // 2
        for i in range(len(self.layers)):
            # Keys back from adjacent pairs to the model's halves layout.
            keys = self.k[i, None, :, :n].unflatten(-1, (half, 2)).transpose(-1, -2).flatten(-2)
            cache.update(keys.contiguous(), self.v[i, None, :, :n].clone(), i)
        return cache
