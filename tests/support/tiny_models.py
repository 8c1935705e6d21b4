"""A tiny random Llama with the default model's tokenizer, and random LoRA adapters for it;
and an in-memory one with a 97-token vocabulary for tests of the model's maths alone.

Built in seconds from a LlamaConfig, so the engine's real code paths (chat template, left
padding, PEFT adapter switching) run in the fast test suite without the 135M default model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant_builder.workspace import Workspace


def in_memory_llama(**config: Any) -> Any:
    """A 2-layer Llama (width 32, 4 heads on 2 key/value heads: grouped-query attention like
    SmolLM2) with a 97-token vocabulary, seeded; ``config`` overrides LlamaConfig fields."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    base: dict[str, Any] = dict(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**{**base, **config}))


def build_tiny_base(
    folder: Path,
    seed: int = 0,
    *,
    width: int = 32,
    tied: bool = False,
    spread_head: bool = True,
    **config: Any,
) -> Path:
    """A 2-layer Llama with the default model's tokenizer, saved to ``folder``: ``width`` is the
    hidden size (the MLP is twice as wide), ``tied`` ties the LM head to the embeddings,
    ``config`` overrides other LlamaConfig fields. ``spread_head`` scales the LM head so that
    greedy answers are stable and run to the token limit with text (see below)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from assistant_builder.models.loading import load_tokenizer

    tok = load_tokenizer("default")
    torch.manual_seed(seed)
    fields: dict[str, Any] = dict(
        vocab_size=len(tok),
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=tied,
    )
    model = LlamaForCausalLM(LlamaConfig(**{**fields, **config}))
    if spread_head:
        # Random init gives near-uniform logits whose argmax flips on rounding noise; a wider
        # spread makes greedy decoding a stable function of the weights, as it is for a trained
        # model. The special tokens are pushed down so that answers run to the token limit.
        with torch.no_grad():
            model.lm_head.weight.mul_(50)
            model.lm_head.weight[sorted(tok.all_special_ids)] = 0.0  # logit 0: far below the max
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_random_adapter(base: Path, folder: Path, seed: int) -> Path:
    """A LoRA adapter with random, non-zero A *and* B (PEFT's default init has B = 0, which
    would answer exactly like the base and prove nothing)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from assistant_builder.models.loading import load_model

    torch.manual_seed(seed)
    model = get_peft_model(
        load_model(str(base)),
        LoraConfig(
            r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False
        ),
    )
    model.save_pretrained(folder)
    return folder


_BUILT: dict[str, Path] = {}


def tiny_assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny base + two random adapters (with the tokenizer, as a training run saves them),
    built once per test session and shared by every module that asks (each test module wraps
    this in its own ``tiny`` fixture)."""
    if not _BUILT:
        from assistant_builder.models.loading import load_tokenizer

        root = tmp_path_factory.mktemp("tiny")
        base = build_tiny_base(root / "base")
        _BUILT["base"] = base
        for name, seed in (("a1", 1), ("a2", 2)):
            _BUILT[name] = build_random_adapter(base, root / name, seed=seed)
            load_tokenizer(str(base)).save_pretrained(_BUILT[name])
    return dict(_BUILT)


def make_run(ws: Workspace, run_id: str, base: Path, adapter: Path) -> str:
    """A finished training run as the workspace knows it: run.json + adapter/."""
    import json
    import shutil

    run_dir = ws.runs_dir / run_id
    shutil.copytree(adapter, run_dir / "adapter")
    (run_dir / "run.json").write_text(json.dumps({"run": run_id, "base_model": str(base)}))
    return run_id
