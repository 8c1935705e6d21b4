"""Before a run starts: the estimate for this machine, the plan for a time budget, long rows.

Reads the training split and counts its tokens through the base model's chat template (the
tokenizer only, no weights), so the user sees what the run will cost before it starts and a
budget too short for one epoch fails here, before a run folder exists.
"""

from __future__ import annotations

from typing import Any

from assistant_builder.train import long_rows
from assistant_builder.train.budget import Estimate, known_speed, parse_duration, plan
from assistant_builder.train.launch import read_conversations, resolve_mode, to_prompt_completion
from assistant_builder.train.recipe import Recipe
from assistant_builder.workspace import Workspace


def _context(base_model: str) -> int | None:
    """The model's context length from its config, or None when it cannot be read."""
    try:
        from transformers import AutoConfig

        from assistant_builder.models.loading import resolve_base_model

        cfg = AutoConfig.from_pretrained(resolve_base_model(base_model))
        return int(getattr(cfg, "max_position_embeddings", 0)) or None
    except Exception:  # an estimate must not fail on an unusual config: the child checks again
        return None


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def estimate_run(
    ws: Workspace,
    recipe: Recipe,
    tokenizer: Any = None,
    conversations: list[dict[str, Any]] | None = None,
) -> tuple[Estimate, Recipe]:
    """(the estimate, the recipe to run), for the training split or the given
    ``conversations`` (an update's rows); a strict budget too short for one epoch refuses."""
    from assistant_builder.models.loading import load_tokenizer

    if conversations is None:
        conversations = read_conversations(ws.dataset_dir / "train.jsonl")
    rows = to_prompt_completion(conversations, recipe.paraphrase_answer_tokens)
    tok = tokenizer if tokenizer is not None else load_tokenizer(recipe.base_model)
    lengths = long_rows.row_lengths(tok, rows)
    limit, decisions = long_rows.fit(
        lengths, recipe.max_seq_length, _context(recipe.base_model), recipe.fit_long_rows
    )
    tokens = sum(n for n in lengths if n <= limit)
    kept = sum(1 for n in lengths if n <= limit)
    epochs = recipe.epochs
    if recipe.max_steps > 0:  # max_steps wins over epochs in the trainer
        epochs = recipe.max_steps * recipe.batch_size * recipe.grad_accum / max(kept, 1)
    mode, _ = resolve_mode(recipe, _cuda())
    budget = parse_duration(recipe.time_budget) if recipe.time_budget is not None else None
    speed = known_speed(recipe.base_model, mode)
    strict, floor = recipe.time_budget_strict, recipe.time_budget_min_epochs
    est = plan(tokens, kept, epochs, speed, budget, strict=strict, floor=floor)
    if decisions:
        est.long_rows = {
            **long_rows.summary(decisions, limit),
            "message": long_rows.describe(decisions, limit, recipe.max_seq_length),
        }
    cut = recipe.paraphrase_answer_tokens_when_short
    if budget is not None and cut and not recipe.paraphrase_answer_tokens and est.epochs < epochs:
        # Whole answers do not fit the recipe's epochs: an answer is learned over epochs, and a
        # paraphrase row mostly teaches that its wording leads to the answer, which its opening
        # does. The row with the source's own question still trains the whole answer.
        shorter = recipe.model_copy(update={"paraphrase_answer_tokens": cut})
        cut_est, _ = estimate_run(ws, shorter, tok, conversations)
        if cut_est.epochs > est.epochs:
            cut_est.answer_cut, cut_est.whole_answer_epochs = cut, est.epochs
            return cut_est, shorter
    # The run keeps the recipe's epochs: the speed behind this plan is a guess (another load,
    # another machine), so the child plans again from its own first steps and ends after the
    # epochs that fit then, shortening the schedule to match (stopping.py).
    return est, recipe


def estimate_update(
    ws: Workspace, recipe: Recipe, from_run: str, tokenizer: Any = None
) -> tuple[Estimate, Recipe, Any]:
    """(the estimate, the recipe to run, the rows' Selection) of an update from ``from_run``
    (``train --from``, the Train screen's "continue from"): the parent's checks and "nothing
    changed" refuse here, before any run folder; the update trains the epochs planned here."""
    from assistant_builder.train.incremental import plan_update

    _, sel, recipe = plan_update(ws, recipe, from_run)
    estimate, recipe = estimate_run(ws, recipe, tokenizer, conversations=sel.rows)
    return estimate, recipe.model_copy(update={"update_epochs": recipe.epochs}), sel
