"""The baseline: what a user following TRL's SFTTrainer documentation writes, on CPU.

    python benchmarks/plain_trl.py DATA.jsonl --steps 8 --batch-size 4 [--fair] [--out R.json]

It is the quick-start of the TRL docs with a "messages" dataset and a PEFT LoraConfig (r=16,
all-linear), plus only what a CPU forces on a user: ``SFTConfig(use_cpu=True)`` (without it
transformers refuses to start: "Your setup doesn't support bf16/gpu"). TRL's defaults then run
bf16 autocast and gradient checkpointing on the CPU; ``--fair`` turns both off (what a user who
read the performance notes would do), so the ratio against assistant-builder is not just those
two defaults. Same model object (the embedded default, fp32), same rows, same steps and batch
size as the assistant-builder side; the loss covers the whole conversation (the docs' default
for "messages" data).

The callback only records times; it does not change the training. ``--profile`` wraps the
steps in torch.profiler instead and writes the op table (see profile_train.py).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, help="JSONL of {'messages': [...]} rows")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=8, help="TRL's default is 8")
    p.add_argument("--fair", action="store_true", help="bf16=False, gradient_checkpointing=False")
    p.add_argument("--out", type=Path, help="write the timings here as JSON")
    p.add_argument("--output-dir", type=Path, default=Path("/tmp/plain-trl-bench"))
    p.add_argument("--profile", type=Path, help="profile the steps; write the op table here")
    p.add_argument("--model", default="default", help="'default' or a hub id / folder")
    p.add_argument("--qlora", action="store_true", help="4-bit nf4 base (bitsandbytes, CUDA)")
    args = p.parse_args(argv)

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from assistant_builder.models.loading import load_tokenizer, resolve_base_model

    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    dataset = Dataset.from_list([{"messages": r["messages"]} for r in rows])

    extra: dict[str, Any] = {"bf16": False, "gradient_checkpointing": False} if args.fair else {}
    cuda = torch.cuda.is_available()
    config = SFTConfig(
        output_dir=str(args.output_dir),
        use_cpu=not cuda,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        save_strategy="no",  # a benchmark keeps no checkpoints (the default saves every 500)
        # Counting only (a sum of the attention mask per batch): the steady-state tokens/s
        # after the first step needs the tokens of each step.
        include_num_input_tokens_seen="non_padding",
        **extra,
    )
    times: dict[str, Any] = {"steps": []}

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, *a: Any, **k: Any) -> None:
            times["begin"] = time.time()

        def on_step_end(self, args: Any, state: Any, *a: Any, **k: Any) -> None:
            times["steps"].append((time.time(), state.num_input_tokens_seen))

    trainer = SFTTrainer(
        model=_model(resolve_base_model(args.model), args.qlora),
        args=config,
        train_dataset=dataset,
        processing_class=load_tokenizer(args.model),
        peft_config=LoraConfig(
            r=16,
            lora_alpha=32,
            lora_dropout=0.05,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
        callbacks=[Clock()],
    )
    if args.profile:
        from profile_train import profiled_train  # type: ignore[import-not-found]

        profiled_train(trainer, args.profile)
    else:
        trainer.train()
    model: Any = trainer.model
    result: dict[str, Any] = {
        "config": {
            "bf16": config.bf16,
            "gradient_checkpointing": config.gradient_checkpointing,
            "batch_size": config.per_device_train_batch_size,
            "max_length": config.max_length,
            "learning_rate": config.learning_rate,
        },
        "begin": times.get("begin"),
        "step_ends": times["steps"],  # (time, non-padding tokens so far)
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "params": sum(p.numel() for p in model.parameters()),
        # For the attention-score FLOPs in benchmarks/train.py's MFU.
        "layers": model.config.num_hidden_layers,
        "attention_width": model.config.num_attention_heads
        * (
            getattr(model.config, "head_dim", None)
            or model.config.hidden_size // model.config.num_attention_heads
        ),
    }
    if cuda:
        result["gpu"] = torch.cuda.get_device_name(0)
        result["peak_gpu_allocated_gb"] = torch.cuda.max_memory_allocated() / 2**30
        result["peak_gpu_reserved_gb"] = torch.cuda.max_memory_reserved() / 2**30
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    else:
        print(json.dumps(result))
    return 0


def _model(name: str, qlora: bool) -> Any:
    """The model as the docs load it: fp32 weights, or the QLoRA page's 4-bit config."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if not qlora:
        return AutoModelForCausalLM.from_pretrained(name, dtype="float32")
    import torch

    bnb = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    return AutoModelForCausalLM.from_pretrained(name, quantization_config=bnb, dtype="bfloat16")


if __name__ == "__main__":
    raise SystemExit(main())
