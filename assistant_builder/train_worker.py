"""The training child process: ``python -m assistant_builder.train_worker RUN_DIR``.

It reads ``RUN_DIR/recipe.yaml`` and the dataset copy in the run, trains with TRL's SFTTrainer,
appends progress to ``RUN_DIR/events.jsonl`` (one JSON object per line, flushed per step) and
writes ``adapter/``, ``metrics.json`` and ``loss.png``. Running in a child process makes cancel
real (SIGINT/SIGTERM → save a checkpoint and stop at the next step) and keeps an out-of-memory
or a crash away from the CLI or the TUI that started it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from assistant_builder.recipes import Recipe, load_recipe

_STOP = {"requested": False}


def _on_signal(signum: int, _frame: Any) -> None:
    _STOP["requested"] = True


class EventLog:
    def __init__(self, path: Path) -> None:
        self.f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the run

    def emit(self, kind: str, **data: Any) -> None:
        self.f.write(json.dumps({"event": kind, "time": time.time(), **data}) + "\n")
        self.f.flush()


def to_prompt_completion(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conversations → TRL's conversational prompt/completion form, so the loss is computed on
    the assistant's answer (and its end-of-turn token) only, never on the prompt."""
    out = []
    for r in rows:
        msgs = r["messages"]
        last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
        out.append({"prompt": msgs[:last], "completion": [msgs[last]]})
    return out


def resolve_mode(recipe: Recipe) -> tuple[str, str]:
    """(mode, why) for the recipe on this machine."""
    import torch

    cuda = torch.cuda.is_available()
    if recipe.mode == "auto":
        if cuda:
            return "qlora", "CUDA GPU found: QLoRA (4-bit nf4 base, bf16 compute)"
        return "lora", "no CUDA GPU: plain LoRA in fp32 (QLoRA on CPU measured ~13x slower)"
    if recipe.mode == "qlora" and not cuda:
        return "qlora", "recipe forces QLoRA on CPU: it works but is much slower than LoRA"
    return recipe.mode, f"recipe sets mode={recipe.mode}"


def build_trainer(run_dir: Path, recipe: Recipe, log: EventLog) -> Any:
    import torch
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from assistant_builder.models import load_model, load_tokenizer

    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    mode, why = resolve_mode(recipe)
    log.emit("mode", mode=mode, why=why)
    cuda = torch.cuda.is_available()
    tokenizer = load_tokenizer(recipe.base_model)
    if mode == "qlora":
        model = load_model(recipe.base_model, quantization="nf4", dtype="bfloat16")
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=recipe.gradient_checkpointing
        )
    else:
        model = load_model(recipe.base_model, dtype="bfloat16" if cuda else "float32")

    def read(name: str) -> list[dict[str, Any]]:
        path = run_dir / "data" / name
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    train_rows = to_prompt_completion(read("train.jsonl"))
    eval_rows = to_prompt_completion(read("eval.jsonl"))
    train_ds = Dataset.from_list(train_rows)
    eval_ds = Dataset.from_list(eval_rows) if eval_rows and recipe.eval_each_epoch else None

    peft_config = LoraConfig(
        r=recipe.lora_r,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=recipe.target_modules,
        task_type="CAUSAL_LM",
    )
    use_bf16 = mode == "qlora" or cuda
    config = SFTConfig(
        output_dir=str(run_dir / "checkpoints"),
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup_ratio,  # transformers 5: a float < 1 is a ratio
        num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.grad_accum,
        max_length=recipe.max_seq_length,
        weight_decay=recipe.weight_decay,
        max_grad_norm=recipe.max_grad_norm,
        seed=recipe.seed,
        # TRL's defaults (bf16 autocast, gradient checkpointing) are for GPUs; on CPU they made
        # a step ~20x slower. Set both explicitly from the recipe and the hardware.
        bf16=use_bf16,
        fp16=False,
        gradient_checkpointing=recipe.gradient_checkpointing,
        optim=recipe.optimizer if (cuda or "paged" not in recipe.optimizer) else "adamw_torch",
        logging_steps=recipe.logging_steps,
        save_steps=recipe.save_steps,
        save_total_limit=2,
        eval_strategy="epoch" if eval_ds is not None else "no",
        save_strategy="steps",
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        completion_only_loss=True,
        # Batches of similar length waste little compute on padding.
        train_sampling_strategy="group_by_length",
        include_num_input_tokens_seen="non_padding",
        use_cpu=not cuda,
    )

    class Progress(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.t0 = time.time()
            self.tokens = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0 = time.time()
            log.emit("begin", max_steps=state.max_steps, epochs=recipe.epochs)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            elapsed = time.time() - self.t0
            tokens = state.num_input_tokens_seen or 0
            step = state.global_step
            eta = elapsed / step * (state.max_steps - step) if step else None
            data = {
                "step": step,
                "max_steps": state.max_steps,
                "epoch": state.epoch,
                "elapsed": elapsed,
                "eta": eta,
                "tokens": tokens,
                "tokens_per_second": tokens / elapsed if elapsed > 0 else None,
            }
            if "loss" in logs:
                log.emit("log", loss=logs["loss"], learning_rate=logs.get("learning_rate"), **data)
            if "eval_loss" in logs:
                log.emit("eval", eval_loss=logs["eval_loss"], **data)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if _STOP["requested"]:
                control.should_save = True
                control.should_training_stop = True

    callbacks: list[Any] = [Progress()]
    if recipe.early_stopping_patience and eval_ds is not None:
        from transformers import EarlyStoppingCallback

        config.load_best_model_at_end = True
        config.metric_for_best_model = "eval_loss"
        config.save_strategy = "epoch"
        callbacks.append(EarlyStoppingCallback(recipe.early_stopping_patience))
    return SFTTrainer(
        model=model,
        args=config,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    ), mode


def _plot_loss(run_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, losses, esteps, elosses = [], [], [], []
    for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines():
        ev = json.loads(line)
        if ev["event"] == "log":
            steps.append(ev["step"])
            losses.append(ev["loss"])
        elif ev["event"] == "eval":
            esteps.append(ev["step"])
            elosses.append(ev["eval_loss"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, losses, label="train loss")
    if esteps:
        ax.plot(esteps, elosses, "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "loss.png", dpi=100)
    plt.close(fig)


def main(run_dir: Path) -> int:
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    log = EventLog(run_dir / "events.jsonl")
    resume = (run_dir / "RESUME").is_file()
    try:
        recipe = load_recipe(str(run_dir / "recipe.yaml"))
        trainer, mode = build_trainer(run_dir, recipe, log)
        t0 = time.time()
        ckpts = sorted((run_dir / "checkpoints").glob("checkpoint-*"), key=os.path.getmtime)
        result = trainer.train(resume_from_checkpoint=str(ckpts[-1]) if resume and ckpts else None)
        seconds = time.time() - t0
        state = trainer.state
        cancelled = _STOP["requested"]
        adapter = run_dir / "adapter"
        trainer.model.save_pretrained(str(adapter))
        trainer.processing_class.save_pretrained(str(adapter))
        tokens = state.num_input_tokens_seen or 0
        losses = [h["loss"] for h in state.log_history if "loss" in h]
        evals = [h["eval_loss"] for h in state.log_history if "eval_loss" in h]
        metrics = {
            "run": run_dir.name,
            "mode": mode,
            "status": "cancelled" if cancelled else "completed",
            "steps": state.global_step,
            "epochs": state.epoch,
            "train_loss": result.training_loss,
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "eval_loss": evals[-1] if evals else None,
            "train_seconds": seconds,
            "tokens": tokens,
            "tokens_per_second": tokens / seconds if seconds > 0 else None,
            "adapter": str(adapter),
        }
        if metrics["train_loss"] is not None and not math.isfinite(metrics["train_loss"]):
            raise RuntimeError(f"training diverged: loss is {metrics['train_loss']}")
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        try:
            _plot_loss(run_dir)
        except Exception as e:  # a missing plot must not fail a finished run
            log.emit("warning", message=f"loss plot failed: {e}")
        log.emit("end", **metrics)
        return 0
    except Exception as e:
        oom = "out of memory" in str(e).lower() or isinstance(e, MemoryError)
        msg = (
            "out of memory: lower batch_size or max_seq_length, or use grad_accum"
            if oom
            else f"{type(e).__name__}: {e}"
        )
        log.emit("error", message=msg, traceback=traceback.format_exc())
        return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
