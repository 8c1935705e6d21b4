"""Preference training (``method: dpo``): TRL's DPOTrainer on the run's preference pairs,
starting from the parent SFT run's adapter.

The parent's adapter is loaded trainable on the base model (nf4 on the QLoRA path). TRL sees a
PEFT model without a reference model and adds a frozen copy of that adapter named "ref": the
reference is the parent itself, as DPO wants, at the cost of one more small adapter rather than
a second copy of the base weights. Its log-probabilities are computed once before training
(``precompute_ref_log_probs``): the pairs are few and seen every epoch, so this saves a forward
pass per step. The "ref" copy is dropped before the adapter is saved.

Progress events, cancel and the adapter's COMPLETE marker are the SFT path's (worker.run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant_builder.train.recipe import Recipe

REFERENCE = "ref"  # the adapter name TRL gives the frozen copy


def parent_of(run_dir: Path) -> dict[str, Any]:
    """run.json's "parent" (written by prepare_run for ``train --from``)."""
    path = run_dir / "run.json"
    info = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    parent = info.get("parent")
    if not isinstance(parent, dict) or not parent.get("adapter"):
        raise ValueError("DPO starts from an SFT run: pass --from RUN")
    return parent


def fit_pairs(
    tokenizer: Any, pairs: list[dict[str, Any]], recipe: Recipe
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pairs that fit the recipe's prompt and answer lengths, those left out with why).
    TRL would cut a long pair at the end; a cut answer teaches nothing about preference."""
    kept, left_out = [], []
    for i, p in enumerate(pairs):
        prompt = len(_ids(tokenizer, p["prompt"], add_generation_prompt=True))
        longest = max(
            len(_ids(tokenizer, p["prompt"] + p[side])) - prompt for side in ("chosen", "rejected")
        )
        if prompt > recipe.dpo_max_prompt_length:
            why = f"prompt of {prompt} tokens > dpo_max_prompt_length"
        elif longest > recipe.dpo_max_completion_length:
            why = f"answer of {longest} tokens > dpo_max_completion_length"
        else:
            kept.append(p)
            continue
        left_out.append({"pair": i + 1, "question": p["prompt"][-1]["content"], "why": why})
    return kept, left_out


def _ids(tokenizer: Any, messages: list[dict[str, Any]], **kw: Any) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, **kw)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def dpo_config(recipe: Recipe, mode: str, cuda: bool, *, output_dir: str, optim: str) -> Any:
    """The ``DPOConfig`` of a recipe on this hardware (pure: testable without weights)."""
    from trl import DPOConfig

    losses = [recipe.dpo_loss] + (["sft"] if recipe.dpo_sft_weight > 0 else [])
    from assistant_builder.train.worker import recipe_training_args

    return DPOConfig(
        output_dir=output_dir,
        **recipe_training_args(recipe, mode, cuda),
        beta=recipe.dpo_beta,
        loss_type=losses,
        loss_weights=[1.0, recipe.dpo_sft_weight] if len(losses) > 1 else None,
        # Pairs were checked to fit (fit_pairs): nothing is cut.
        max_length=recipe.dpo_max_prompt_length + recipe.dpo_max_completion_length,
        precompute_ref_log_probs=True,
        optim=optim,
        eval_strategy="no",
        include_num_input_tokens_seen="non_padding",
    )


def _policy(recipe: Recipe, mode: str, cuda: bool, adapter: str) -> Any:
    """The base model with the parent's adapter, trainable: DPO moves the parent, not a new
    adapter on the bare base."""
    from peft import PeftModel

    from assistant_builder.train.worker import _load_model

    base = _load_model(recipe, mode, cuda)
    return PeftModel.from_pretrained(base, adapter, is_trainable=True)


def build_dpo_trainer(run_dir: Path, recipe: Recipe, log: Any) -> tuple[Any, str]:
    """A DPOTrainer for the run in ``run_dir`` and the mode it trains in (lora/qlora)."""
    from assistant_builder.train.preferences import run_pairs

    # Data and parent first: a bad run fails before torch and the weights load.
    pairs = run_pairs(run_dir)
    parent = parent_of(run_dir)

    import torch
    from datasets import Dataset
    from trl import DPOTrainer

    from assistant_builder.models.loading import load_tokenizer
    from assistant_builder.train import distributed
    from assistant_builder.train.launch import resolve_mode
    from assistant_builder.train.worker import _optimizer, training_callbacks

    threads = recipe.threads or distributed.threads_per_process()
    if threads:
        torch.set_num_threads(threads)
    cuda = torch.cuda.is_available()
    distributed.prepare_device(cuda)
    mode, why = resolve_mode(recipe, cuda)
    tokenizer = load_tokenizer(recipe.base_model)
    notes: list[str] = [f"DPO from run {parent.get('run')} on {len(pairs)} preference pairs"]
    optim = _optimizer(recipe, cuda, notes)
    kept, left_out = fit_pairs(tokenizer, pairs, recipe)
    if left_out:
        (run_dir / "long_pairs.jsonl").write_text(
            "".join(json.dumps(x) + "\n" for x in left_out), encoding="utf-8"
        )
        log.emit("warning", message=f"{len(left_out)} long pairs left out (long_pairs.jsonl)")
    if not kept:
        raise ValueError(
            "every preference pair is longer than dpo_max_prompt_length / "
            "dpo_max_completion_length; raise them"
        )
    model = _policy(recipe, mode, cuda, str(parent["adapter"]))
    log.emit("mode", mode=mode, why=why, notes=notes, padding_free=False, optim=optim)
    config = dpo_config(recipe, mode, cuda, output_dir=str(run_dir / "checkpoints"), optim=optim)
    trainer: Any = DPOTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(kept),
        processing_class=tokenizer,
        callbacks=training_callbacks(run_dir, recipe, log),
    )
    trainer.dpo_pairs = {"pairs": len(kept), "left_out": len(left_out)}
    return trainer, mode


def drop_reference(trainer: Any) -> None:
    """Remove TRL's frozen reference copy, so the saved adapter is the trained one alone."""
    model = trainer.model
    if REFERENCE in getattr(model, "peft_config", {}):
        model.set_adapter("default")
        model.delete_adapter(REFERENCE)


def summary(trainer: Any) -> dict[str, Any]:
    """What DPO learned, from TRL's logs: the share of pairs whose chosen answer the model
    now prefers over the parent's preference (reward accuracy) and the margin, last logged."""
    history: list[dict[str, Any]] = trainer.state.log_history
    last: dict[str, Any] = next((h for h in reversed(history) if "rewards/accuracies" in h), {})
    first: dict[str, Any] = next((h for h in history if "rewards/accuracies" in h), {})
    return {
        **getattr(trainer, "dpo_pairs", {}),
        "beta": trainer.args.beta,
        "loss_type": list(trainer.args.loss_type),
        "first_reward_accuracy": first.get("rewards/accuracies"),
        "reward_accuracy": last.get("rewards/accuracies"),
        "reward_margin": last.get("rewards/margins"),
    }
