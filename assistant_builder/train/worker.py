"""The training child process: ``python -m assistant_builder.train.worker RUN_DIR``.

It reads ``RUN_DIR/recipe.yaml`` and the dataset copy in the run, trains with TRL's SFTTrainer,
appends progress to ``RUN_DIR/events.jsonl`` (one JSON object per line, flushed per step) and
writes ``adapter/``, ``metrics.json`` and ``loss.png``. Running in a child process makes cancel
real (SIGINT/SIGTERM → save a checkpoint and stop at the next step) and keeps an out-of-memory
or a crash away from the CLI or the TUI that started it.

Why the CPU path looks the way it does (selective loss, padding-free rows, oneDNN matmuls, no
LoRA dropout): benchmarks/README.md, "What the training worker's CPU path rests on".
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

from assistant_builder.dataset.conversations import read_conversations
from assistant_builder.train import answer_cut, distributed, dpo
from assistant_builder.train.guard import read_guard, repair, reproduces
from assistant_builder.train.launch import (
    describe_failure,
    last_checkpoint,
    plot_loss,
    resolve_mode,
    to_prompt_completion,
)
from assistant_builder.train.recipe import Recipe, load_recipe
from assistant_builder.train.selective_loss import selective_loss_trainer
from assistant_builder.workspace import atomic_write_json

_STARTED = time.time()  # the time budget counts from here (stopping.py)
_STOP = {"requested": False}
_RATE = {"tokens0": 0}
_WHY: dict[str, str] = {}  # stop_reason set by the stopping callback
_LONG: dict[str, Any] = {}  # long rows: kept / left out / the run's max_seq_length


def _on_signal(signum: int, _frame: Any) -> None:
    _STOP["requested"] = True


class EventLog:
    def __init__(self, path: Path) -> None:
        self.f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the run

    def emit(self, kind: str, **data: Any) -> None:
        self.f.write(json.dumps({"event": kind, "time": time.time(), **data}) + "\n")
        self.f.flush()


def _fits(tokenizer: Any, rows: list[dict[str, Any]], max_len: int) -> list[dict[str, Any]]:
    """Rows whose whole conversation fits in ``max_len`` tokens. A longer row would be cut at
    the end, losing the answer's end-of-turn token: training on it teaches the model to ramble."""
    out = []
    for r in rows:
        ids = tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=True)
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        if len(ids) <= max_len:
            out.append(r)
    return out


def _retrieval_notes(run_dir: Path) -> list[str]:
    """What prepare_run did about retrieval rows (run.json), for the mode event."""
    from assistant_builder.retrieval.raft import describe

    path = run_dir / "run.json"
    info = json.loads(path.read_text(encoding="utf-8")).get("retrieval") if path.is_file() else None
    return describe(info or {})


def _read_rows(run_dir: Path, recipe: Recipe) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, eval) rows of the run's dataset copy, as prompt/completion pairs; eval rows
    keep their whole answers (the eval loss is the answers' own)."""
    train_rows = to_prompt_completion(
        read_conversations(run_dir / "data" / "train.jsonl"), recipe.paraphrase_answer_tokens
    )
    eval_path = run_dir / "data" / "eval.jsonl"
    eval_rows = to_prompt_completion(read_conversations(eval_path)) if eval_path.is_file() else []
    if not train_rows:
        raise ValueError("the training split is empty")
    return train_rows, eval_rows


def _load_model(recipe: Recipe, mode: str, cuda: bool) -> Any:
    from assistant_builder.models.loading import load_model

    if mode != "qlora":
        return load_model(recipe.base_model, dtype="bfloat16" if cuda else "float32")
    from peft import prepare_model_for_kbit_training

    # nf4 + double quantisation + bf16 compute (models.load_model), k-bit preparation
    # (fp32 norms, input grads, optional checkpointing) and a paged optimizer: QLoRA as
    # published. LoRA weights stay trainable on top of the frozen 4-bit base.
    model = load_model(recipe.base_model, quantization="nf4", dtype="bfloat16")
    return prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=recipe.gradient_checkpointing
    )


def _attention(model: Any, recipe: Recipe, cuda: bool, notes: list[str]) -> bool:
    """Set the attention for padding-free batches where the recipe asks for them; whether the
    batches are padding-free. They need attention that reads the row boundaries:
    flash-attention on CUDA, our per-row SDPA on CPU (varlen_attention.py)."""
    if not recipe.padding_free:
        return False
    if cuda:
        if _try_flash_attention(model):
            return True
        notes.append("padding_free needs flash-attention (pip install flash-attn): padded")
        return False
    from assistant_builder.models.cpu.varlen_attention import register

    model.set_attn_implementation(register())
    return True


def _optimizer(recipe: Recipe, cuda: bool, notes: list[str]) -> str:
    if "paged" in recipe.optimizer and not cuda:
        notes.append(f"{recipe.optimizer} needs CUDA: using adamw_torch")
        return "adamw_torch"
    return recipe.optimizer


def _fit_rows(
    tokenizer: Any,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    recipe: Recipe,
    context: int | None,
    run_dir: Path,
    log: EventLog,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """(train rows, eval rows, the run's length limit). Long answers are kept by raising the
    limit (long_rows.py), never cut; each long row and what was done goes to long_rows.jsonl."""
    from assistant_builder.train import long_rows

    lengths = long_rows.row_lengths(tokenizer, train_rows)
    max_len, decisions = long_rows.fit(
        lengths, recipe.max_seq_length, context, recipe.fit_long_rows
    )
    _LONG.update(long_rows.summary(decisions, max_len) if decisions else {})
    if decisions:
        with open(run_dir / "long_rows.jsonl", "w", encoding="utf-8") as f:
            for d in decisions:
                question = train_rows[d["row"]]["prompt"][-1]["content"]
                f.write(json.dumps({**d, "line": d["row"] + 1, "question": question}) + "\n")
        log.emit("long_rows", message=long_rows.describe(decisions, max_len, recipe.max_seq_length))
    train_rows = [r for r, n in zip(train_rows, lengths, strict=True) if n <= max_len]
    eval_lengths = long_rows.row_lengths(tokenizer, eval_rows)
    eval_rows = [r for r, n in zip(eval_rows, eval_lengths, strict=True) if n <= max_len]
    if not train_rows:
        beyond = f" and the model's context ({context})" if recipe.fit_long_rows else ""
        raise ValueError(
            f"every training conversation is longer than max_seq_length="
            f"{recipe.max_seq_length}{beyond}; raise max_seq_length"
        )
    return train_rows, eval_rows, max_len


def sft_config(
    recipe: Recipe,
    mode: str,
    cuda: bool,
    *,
    output_dir: str,
    padding_free: bool = False,
    has_eval: bool = False,
    optim: str | None = None,
) -> Any:
    """The ``SFTConfig`` of a recipe on this hardware: a pure function (no weights, no
    device), so the recipe → TRL mapping is testable on its own."""
    from trl import SFTConfig

    early = bool(recipe.early_stopping_patience and has_eval)
    return SFTConfig(
        output_dir=output_dir,
        **recipe_training_args(recipe, mode, cuda),
        per_device_eval_batch_size=recipe.batch_size,
        # Rows were checked to fit beforehand; padding-free batching needs max_length unset.
        max_length=None if padding_free else recipe.max_seq_length,
        padding_free=padding_free,
        optim=optim or recipe.optimizer,
        eval_strategy="epoch" if has_eval else "no",
        save_strategy="epoch" if early else "steps",
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        # Eval needs the loss only; without this TRL runs a second forward for the logits.
        prediction_loss_only=True,
        completion_only_loss=True,
        # Batches of similar length waste little compute where rows are padded; padding-free
        # rows do not need it, but it is the data order the quality runs were measured with.
        train_sampling_strategy="group_by_length",
        # Padding-free rows have no padding to leave out, and the pad token is often the
        # end-of-turn token, which "non_padding" would not count.
        include_num_input_tokens_seen="all" if padding_free else "non_padding",
    )


def recipe_training_args(recipe: Recipe, mode: str, cuda: bool) -> dict[str, Any]:
    """The training arguments every trainer of a recipe shares (SFT here, DPO in dpo.py)."""
    return {
        "learning_rate": recipe.learning_rate,
        "lr_scheduler_type": recipe.lr_scheduler,
        "warmup_steps": recipe.warmup_ratio,  # transformers 5: a float < 1 is a ratio
        "num_train_epochs": recipe.epochs,
        "max_steps": recipe.max_steps,
        "per_device_train_batch_size": recipe.batch_size,
        "gradient_accumulation_steps": recipe.grad_accum,
        "weight_decay": recipe.weight_decay,
        "max_grad_norm": recipe.max_grad_norm,
        "neftune_noise_alpha": recipe.neftune_noise_alpha,
        "seed": recipe.seed,
        "data_seed": recipe.seed,
        # TRL's defaults (bf16 autocast, gradient checkpointing) are for GPUs; on CPU they made
        # a step ~20x slower. Set both explicitly from the recipe and the hardware.
        "bf16": mode == "qlora" or cuda,
        "fp16": False,
        "gradient_checkpointing": recipe.gradient_checkpointing,
        "logging_steps": recipe.logging_steps,
        "save_steps": recipe.save_steps,
        "save_total_limit": 2,
        "report_to": [],
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": cuda,
        "use_cpu": not cuda,
    }


def _cpu_speedups(trainer: Any, recipe: Recipe, mode: str, log: EventLog) -> None:
    """CPU only: measured there. On CUDA the step is bound by other per-step costs
    (benchmarks/README.md, GPU) and these paths have not been tried."""
    from assistant_builder.models.cpu.fast_lora import fuse_lora_linears, onednn_head

    onednn = recipe.onednn_linear and mode == "lora"
    if recipe.fused_lora:
        # With dropout every training call would take PEFT's path anyway: report 0.
        n = fuse_lora_linears(trainer.model, onednn) if recipe.lora_dropout == 0 else 0
        log.emit("fused_lora", layers=n)
    lm: Any = trainer.model
    head = onednn_head(lm.get_output_embeddings()) if onednn else None
    trainer.head = head
    log.emit("onednn_linear", head=head is not None)


def build_trainer(run_dir: Path, recipe: Recipe, log: EventLog) -> tuple[Any, str]:
    # Read and check the data before importing torch or loading weights: a bad row fails fast.
    train_rows, eval_rows = _read_rows(run_dir, recipe)

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTTrainer

    from assistant_builder.models.loading import load_tokenizer

    threads = recipe.threads or distributed.threads_per_process()
    if threads:
        torch.set_num_threads(threads)
    cuda = torch.cuda.is_available()
    distributed.prepare_device(cuda)
    mode, why = resolve_mode(recipe, cuda)
    tokenizer = load_tokenizer(recipe.base_model)
    model = _load_model(recipe, mode, cuda)
    notes = _retrieval_notes(run_dir) + answer_cut.notes(train_rows)
    padding_free = _attention(model, recipe, cuda, notes)
    optim = _optimizer(recipe, cuda, notes)
    log.emit("mode", mode=mode, why=why, notes=notes, padding_free=padding_free, optim=optim)

    context = getattr(model.config, "max_position_embeddings", None)
    train_rows, eval_rows, max_len = _fit_rows(
        tokenizer, train_rows, eval_rows, recipe, context, run_dir, log
    )
    # A raised limit is this run's: the padded (non padding-free) batches are cut at it.
    recipe = recipe.model_copy(update={"max_seq_length": max_len})
    eval_ds = Dataset.from_list(eval_rows) if eval_rows and recipe.eval_each_epoch else None
    config = sft_config(
        recipe,
        mode,
        cuda,
        output_dir=str(run_dir / "checkpoints"),
        padding_free=padding_free,
        has_eval=eval_ds is not None,
        optim=optim,
    )
    # The shared stop decision comes first: the progress callback acts on it.
    from assistant_builder.train.stopping import stopping_callback

    callbacks: list[Any] = [
        distributed.stop_callback(run_dir, _STOP),
        _progress_callback(recipe, log),
        stopping_callback(recipe, log.emit, _WHY, _STARTED),
    ]
    if config.load_best_model_at_end:
        from transformers import EarlyStoppingCallback

        callbacks.append(EarlyStoppingCallback(recipe.early_stopping_patience or 1))
    # On CUDA TRL's Triton LM-head kernel already scores only the answer positions. The
    # selective loss calls the backbone past the model's forward, which DDP needs to see to
    # average the gradients: several processes take TRL's loss.
    cls = SFTTrainer if cuda or distributed.world_size() > 1 else selective_loss_trainer()
    # An update (train --from) continues from its parent's adapter instead of a fresh LoRA.
    model, from_parent = _parent_adapter(model, run_dir, log)
    trainer = cls(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(answer_cut.training_rows(tokenizer, train_rows)),
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=None
        if from_parent
        else LoraConfig(
            r=recipe.lora_r,
            lora_alpha=recipe.lora_alpha,
            lora_dropout=recipe.lora_dropout,
            target_modules=recipe.target_modules,
            task_type="CAUSAL_LM",
        ),
        callbacks=callbacks,
    )
    distributed.tune_trainer(trainer)
    if not cuda:
        _cpu_speedups(trainer, recipe, mode, log)
    return trainer, mode


def _parent_adapter(model: Any, run_dir: Path, log: EventLog) -> tuple[Any, bool]:
    """(the model, whether it carries the parent's adapter, trainable): run.json's "parent"
    (train/parent.py checked its base model and adapter shape before the run started)."""
    path = run_dir / "run.json"
    info = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    parent = info.get("parent")
    if not parent:
        return model, False
    from peft import PeftModel

    model = PeftModel.from_pretrained(model, parent["adapter"], is_trainable=True)
    log.emit("parent", run=parent["run"], adapter=parent["adapter"])
    return model, True


def training_callbacks(run_dir: Path, recipe: Recipe, log: EventLog) -> list[Any]:
    """Cancel, progress events and the recipe's stopping rules, for any trainer (dpo.py too).
    The shared stop decision comes first: the progress callback acts on it."""
    from assistant_builder.train.stopping import stopping_callback

    return [
        distributed.stop_callback(run_dir, _STOP),
        _progress_callback(recipe, log),
        stopping_callback(recipe, log.emit, _WHY, _STARTED),
    ]


def _try_flash_attention(model: Any) -> bool:
    try:
        model.set_attn_implementation("flash_attention_2")
    except (ImportError, ValueError):
        # Without the flash-attn wheel: torch's own varlen flash kernel (models/gpu).
        from assistant_builder.models.gpu import varlen_attention

        if not varlen_attention.available():
            return False
        model.set_attn_implementation(varlen_attention.register())
    return True


def _progress_callback(recipe: Recipe, log: EventLog) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):  # type: ignore[misc]
        """events.jsonl lines; rates and ETA count this process only, so a resumed run's
        numbers are not inflated by the steps and tokens restored from the checkpoint."""

        def __init__(self) -> None:
            self.t0 = time.time()
            self.step0 = 0
            self.tokens0 = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0 = time.time()
            self.step0 = state.global_step
            self.tokens0 = _RATE["tokens0"] = state.num_input_tokens_seen or 0
            log.emit(
                "begin", max_steps=state.max_steps, epochs=recipe.epochs, step=state.global_step
            )

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            elapsed = time.time() - self.t0
            tokens = (state.num_input_tokens_seen or 0) - self.tokens0
            step = state.global_step
            done = step - self.step0
            data = {
                "step": step,
                "max_steps": state.max_steps,
                "epoch": state.epoch,
                "elapsed": elapsed,
                "eta": elapsed / done * (state.max_steps - step) if done > 0 else None,
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

    return Progress()


def _stop_reason(cancelled: bool, state: Any, recipe: Recipe) -> str:
    if cancelled:
        return "cancelled"
    if "stop_reason" in _WHY:
        return _WHY["stop_reason"]
    if state.global_step < state.max_steps and recipe.early_stopping_patience:
        return "early stopping: eval loss stopped improving"
    return f"completed: {state.epoch or 0:g} epochs, {state.global_step} steps"


def _train_guarded(
    trainer: Any, run_dir: Path, recipe: Recipe, ckpt: Path | None, log: EventLog
) -> tuple[Any, Any, dict[str, Any] | None]:
    """(train's result, the run's trainer state, the guard's report): an update checks the
    answers its parent knew before and after, and trains the broken ones again (guard.py)."""
    rows = read_guard(run_dir) if recipe.method == "sft" and ckpt is None else []
    before = reproduces(trainer.model, trainer.processing_class, rows) if rows else []
    result = trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    state = trainer.state  # a repair below trains with a state of its own
    if not rows or _STOP["requested"] or "stop_reason" in _WHY:
        return result, state, None
    guarded = repair(trainer, run_dir, rows, before, log.emit)
    log.emit("guard", **guarded)
    return result, state, guarded


def run(run_dir: Path) -> int:
    """Train the run in ``run_dir``; 0 when it completed or was cancelled, 1 on failure (the
    reason is the last ``error`` event)."""
    # Rank 0 speaks for a run on several processes (train/distributed.py).
    log = EventLog(run_dir / "events.jsonl" if distributed.is_main() else Path(os.devnull))
    resume = (run_dir / "RESUME").is_file()
    recipe: Recipe | None = None
    try:
        recipe = load_recipe(str(run_dir / "recipe.yaml"))
        if recipe.method == "dpo":
            trainer, mode = dpo.build_dpo_trainer(run_dir, recipe, log)
        else:
            trainer, mode = build_trainer(run_dir, recipe, log)
        if distributed.world_size() > 1:
            log.emit("world", **distributed.world(recipe))
        t0 = time.time()
        ckpt = last_checkpoint(run_dir) if resume else None
        if ckpt is not None:
            log.emit("resume", checkpoint=ckpt.name)
        result, state, guarded = _train_guarded(trainer, run_dir, recipe, ckpt, log)
        seconds = time.time() - t0
        cancelled = _STOP["requested"]
        rows = distributed.rows_per_rank(run_dir)
        adapter = run_dir / "adapter"
        if recipe.method == "dpo":
            dpo.drop_reference(trainer)
        if not distributed.save_adapter(trainer, adapter):
            return 0  # not rank 0: rank 0 writes the metrics
        tokens = (state.num_input_tokens_seen or 0) + (guarded or {}).get("repair_tokens", 0)
        losses = [h["loss"] for h in state.log_history if "loss" in h]
        evals = [h["eval_loss"] for h in state.log_history if "eval_loss" in h]
        metrics = {
            "run": run_dir.name,
            "mode": mode,
            "status": "cancelled" if cancelled else "completed",
            "steps": state.global_step,
            "max_steps": state.max_steps,
            "epochs": state.epoch,
            "train_loss": result.training_loss,
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "eval_loss": evals[-1] if evals else None,
            "best_eval_loss": min(evals) if evals else None,
            "early_stopped": bool(
                recipe.early_stopping_patience
                and not cancelled
                and state.global_step < state.max_steps
            ),
            "train_seconds": seconds,
            "tokens": tokens,
            # This process's tokens only: a resumed run restores the earlier count.
            "tokens_per_second": (tokens - _RATE["tokens0"]) / seconds if seconds > 0 else None,
            "adapter": str(adapter),
            "checkpoint": (c.name if (c := last_checkpoint(run_dir)) else None),
            **distributed.world(recipe),
            "rows_per_rank": rows,
            "stop_reason": _stop_reason(cancelled, state, recipe),
            "long_rows": _LONG,
            **({"dpo": dpo.summary(trainer)} if recipe.method == "dpo" else {}),
            **({"guard": guarded} if guarded is not None else {}),
        }
        if metrics["train_loss"] is not None and not math.isfinite(metrics["train_loss"]):
            raise FloatingPointError(
                f"training diverged: loss is {metrics['train_loss']} (lower learning_rate)"
            )
        atomic_write_json(run_dir / "metrics.json", metrics)
        # The speed record plans SFT runs (budget.py); a DPO step's cost differs.
        sft = recipe.method == "sft"
        if sft and not cancelled and state.global_step >= 3 and metrics["tokens_per_second"]:
            from assistant_builder.train.budget import record_speed

            record_speed(recipe.base_model, mode, metrics["tokens_per_second"], run_dir.name)
        try:
            plot_loss(run_dir)
        except Exception as e:  # a missing plot must not fail a finished run
            log.emit("warning", message=f"loss plot failed: {e}")
        log.emit("end", **metrics)
        return 0
    except Exception as e:
        log.emit("error", message=describe_failure(e, recipe), traceback=traceback.format_exc())
        if not distributed.is_main():  # its events go nowhere: worker.log keeps the cause
            traceback.print_exc()
        return 1


def _watch_parent(poll: float = 1.0) -> None:
    """Stop (saving a checkpoint, as on cancel) when the process that started this one dies:
    a killed ``train`` command or app must not leave a training running on, orphaned."""
    import os
    import threading

    parent = os.getppid()

    def watch() -> None:
        while not _STOP["requested"]:
            if os.getppid() != parent:
                _STOP["requested"] = True
                return
            time.sleep(poll)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    _watch_parent()
    return run(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
