"""A random-weight model with a real architecture and the default model's tokenizer, for speed
runs on a machine that cannot download weights (speed depends on shapes, not weight values).

    python benchmarks/random_model.py OUT_DIR --shape qwen2.5-0.5b
    python benchmarks/random_model.py --replace-default --shape smollm2-135m

The first writes a model folder to pass as ``--models OUT_DIR`` to gpu.py (or ``--set
base_model=OUT_DIR`` to train). The second writes the default model's checkpoint in the cache
(``$ASSISTANT_BUILDER_CACHE``) from random weights: only for a throwaway cache on such a
machine, since answers from it are noise. The tokenizer and chat template are copied from the
converted default model, so run this where that exists and carry the files (see
benchmarks/README.md, "GPU").
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

SHAPES: dict[str, dict[str, Any] | None] = {
    "smollm2-135m": None,  # the default model's own config.json
    # Qwen2.5-0.5B-Instruct's config.json (vocabulary size kept: the LM head is a large part
    # of the compute); token ids from the SmolLM2 tokenizer all fall inside it.
    "qwen2.5-0.5b": {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 2,
    },
}
# Qwen2.5-1.5B- and -3B-Instruct's config.json the same way (the GPU benchmark's shapes).
SHAPES["qwen2.5-1.5b"] = {
    **SHAPES["qwen2.5-0.5b"],  # type: ignore[dict-item]
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
}
SHAPES["qwen2.5-3b"] = {
    **SHAPES["qwen2.5-0.5b"],  # type: ignore[dict-item]
    "hidden_size": 2048,
    "intermediate_size": 11008,
    "num_hidden_layers": 36,
    "num_attention_heads": 16,
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def make(source: Path, target: Path, shape: str, keep_marker: bool, dtype: str = "float32") -> int:
    """Write the random-weight model; ``dtype="bfloat16"`` halves the files of large shapes."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    target.mkdir(parents=True, exist_ok=True)
    names = [*TOKENIZER_FILES, "config.json", "generation_config.json"]
    if keep_marker:
        names.append("conversion.json")  # what makes the cache folder count as converted
    for name in names:
        if (source / name).is_file() and source.resolve() != target.resolve():
            shutil.copy(source / name, target / name)
    config = SHAPES[shape]
    if config is not None:
        (target / "config.json").write_text(json.dumps({**config, "dtype": dtype}))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(
        AutoConfig.from_pretrained(target), dtype=getattr(torch, dtype)
    )
    model.save_pretrained(target)
    return sum(p.numel() for p in model.parameters())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, nargs="?", help="model folder to write")
    p.add_argument("--shape", choices=sorted(SHAPES), default="qwen2.5-0.5b")
    p.add_argument("--replace-default", action="store_true", help="write the cache's default")
    p.add_argument("--tokenizer-from", type=Path, help="folder with the tokenizer files")
    args = p.parse_args(argv)
    if (args.out is None) == (not args.replace_default):
        p.error("give OUT_DIR or --replace-default (one of them)")

    from assistant_builder.models.default import default_checkpoint_dir

    source = args.tokenizer_from or default_checkpoint_dir()
    if not (source / "tokenizer.json").is_file():
        p.error(f"no tokenizer.json in {source}; convert the default model first or pass one")
    target = default_checkpoint_dir() if args.replace_default else args.out
    n = make(source, target, args.shape, keep_marker=args.replace_default)
    print(f"{target}: {args.shape} shape, {n / 1e6:.0f}M parameters, random weights")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
