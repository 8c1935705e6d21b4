"""Why a run ends before its planned steps: the time budget, or answers already learned.

Two guards, both inside the training child and both recorded as the run's ``stop_reason``:

- the time budget: the plan (budget.py) fits whole epochs at the speed measured before. Once
  the run has measured its own speed (a few steps, ``budget.REPLAN_SHARE`` of an epoch), it
  plans again: when fewer whole epochs fit, the run ends after them and the learning-rate
  schedule is shortened to end there too. The budget itself is the last resort: the run stops
  when it is spent (with the adapter saved), except before ``time_budget_min_epochs`` whole
  epochs of a lenient budget (``time_budget_strict: false``), which promises them;
- the answer loss: the loss is on answer tokens only, so an epoch whose mean loss is below
  ``stop_loss`` means the training answers are reproduced nearly word for word; more epochs
  only cost time (and drift towards overfitting), so the run ends there.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

from assistant_builder.train import budget as plan
from assistant_builder.train.budget import parse_duration
from assistant_builder.train.recipe import Recipe


def _epoch_tokens(loader: Any) -> int:
    """Tokens of one epoch of the trainer's (tokenized) training set; 0 when unknown."""
    try:
        return sum(len(ids) for ids in loader.dataset["input_ids"])
    except (AttributeError, KeyError, TypeError):
        return 0


def shorten_schedule(scheduler: Any, steps: int) -> bool:
    """Make a transformers LambdaLR schedule (linear, cosine, ...) end at ``steps``; False when
    the schedule is of a kind that does not say where it ends (it is left as it is)."""
    lambdas = getattr(scheduler, "lr_lambdas", None) or []
    done = False
    for i, fn in enumerate(lambdas):
        if isinstance(fn, functools.partial) and "num_training_steps" in fn.keywords:
            total = fn.keywords["num_training_steps"]
            keywords = {**fn.keywords, "num_training_steps": steps}
            warmup = keywords.get("num_warmup_steps")
            if isinstance(warmup, int) and isinstance(total, int) and total > 0:
                # The warm-up keeps its share of the run (warmup_ratio), not its step count.
                keywords["num_warmup_steps"] = min(warmup, round(warmup * steps / total))
            lambdas[i] = functools.partial(fn.func, *fn.args, **keywords)
            done = True
    return done


class Replanner:
    """The in-run plan: once the run's own speed is known, the whole epochs that fit the budget
    (budget.replan), the step the run ends at, and the schedule shortened to end there."""

    def __init__(self, budget: float, strict: bool, floor: int, t0: float, emit: Any) -> None:
        self.budget, self.strict, self.floor, self.t0, self.emit = budget, strict, floor, t0, emit
        self.epoch_tokens = 0
        self.mark: tuple[float, int, int] | None = None  # time, tokens, step after step 1
        self.done = False
        self.end_step: int | None = None
        self.why = ""

    def step(self, args: Any, state: Any, scheduler: Any) -> None:
        if self.done or not self.epoch_tokens:
            return
        now, seen = time.time(), int(state.num_input_tokens_seen or 0)
        if self.mark is None:  # the first step pays for warm-up: measure from its end
            self.mark = (now, seen, state.global_step)
            return
        t1, seen1, step1 = self.mark
        if (
            state.global_step - step1 < plan.REPLAN_MIN_STEPS
            or seen - seen1 < plan.REPLAN_SHARE * self.epoch_tokens
        ):
            return
        self.done = True
        tps = (seen - seen1) / max(now - t1, 1e-6)
        planned = float(args.num_train_epochs)
        fit = plan.replan(
            self.budget, now - self.t0, seen, tps, self.epoch_tokens, planned, self.strict,
            self.floor,
        )  # fmt: skip
        if fit is None:
            return
        per_epoch = max(1, math.ceil(state.max_steps / planned))
        self.end_step = min(state.max_steps, fit * per_epoch)
        shortened = shorten_schedule(scheduler, self.end_step)
        self.why = (
            f"time budget: {fit:g} of {planned:g} epochs fit {self.budget / 60:.0f} min at "
            f"{tps:.0f} tokens/s, the speed measured in this run"
        )
        self.emit(
            "replanned", epochs=fit, planned_epochs=planned, max_steps=self.end_step,
            tokens_per_second=round(tps, 1), schedule_shortened=shortened,
        )  # fmt: skip
        state.max_steps = self.end_step


def stopping_callback(
    recipe: Recipe, emit: Any, reason: dict[str, str], started: float | None = None
) -> Any:
    """A TrainerCallback that sets ``reason["stop_reason"]`` when it ends the run. ``started``
    is when the child process started: the budget counts loading the model too."""
    t0 = time.time() if started is None else started
    from transformers import TrainerCallback

    budget = parse_duration(recipe.time_budget) if recipe.time_budget is not None else None
    strict = recipe.time_budget_strict
    floor = 1 if strict else recipe.time_budget_min_epochs
    replanner = Replanner(budget, strict, floor, t0, emit) if budget is not None else None

    class Stopping(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.losses: list[float] = []

        def _stop(self, control: Any, why: str) -> None:
            reason["stop_reason"] = why
            emit("stopping", reason=why)
            control.should_save = True
            control.should_training_stop = True

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # An explicit max_steps is the user's plan: the budget then only stops the run.
            if replanner is not None and recipe.max_steps <= 0:
                replanner.epoch_tokens = _epoch_tokens(kw.get("train_dataloader"))

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if "stop_reason" in reason or budget is None or replanner is None:
                return
            if replanner.end_step is not None and state.global_step >= replanner.end_step:
                self._stop(control, replanner.why)
                return
            spent = time.time() - t0
            promised = (state.epoch or 0) < min(floor, args.num_train_epochs) - 1e-6
            if spent >= budget and (strict or not promised):
                self._stop(
                    control,
                    f"time budget: {spent / 60:.1f} of {budget / 60:.1f} min spent at step "
                    f"{state.global_step} of {state.max_steps}",
                )
            else:
                replanner.step(args, state, kw.get("lr_scheduler"))

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            losses, self.losses = self.losses, []
            last = state.global_step >= state.max_steps
            if recipe.stop_loss is None or not losses or last or "stop_reason" in reason:
                return
            mean = sum(losses) / len(losses)
            if mean < recipe.stop_loss:
                self._stop(
                    control,
                    f"learned: mean answer loss {mean:.3f} < stop_loss {recipe.stop_loss} in "
                    f"epoch {round(state.epoch or 0)}",
                )

    return Stopping()
