"""Why a run ends before its planned steps: the time budget, or answers already learned.

Two guards, both inside the training child and both recorded as the run's ``stop_reason``:

- the time budget: the plan (budget.py) fits whole epochs at the speed measured before; on a
  machine that turns out busier, the run still stops at the budget (with the adapter saved);
- the answer loss: the loss is on answer tokens only, so an epoch whose mean loss is below
  ``stop_loss`` means the training answers are reproduced nearly word for word; more epochs
  only cost time (and drift towards overfitting), so the run ends there.
"""

from __future__ import annotations

import time
from typing import Any

from assistant_builder.train.budget import parse_duration
from assistant_builder.train.recipe import Recipe


def stopping_callback(
    recipe: Recipe, emit: Any, reason: dict[str, str], started: float | None = None
) -> Any:
    """A TrainerCallback that sets ``reason["stop_reason"]`` when it ends the run. ``started``
    is when the child process started: the budget counts loading the model too."""
    t0 = time.time() if started is None else started
    from transformers import TrainerCallback

    budget = parse_duration(recipe.time_budget) if recipe.time_budget is not None else None

    class Stopping(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.losses: list[float] = []

        def _stop(self, control: Any, why: str) -> None:
            reason["stop_reason"] = why
            emit("stopping", reason=why)
            control.should_save = True
            control.should_training_stop = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            spent = time.time() - t0
            if budget is not None and spent >= budget and "stop_reason" not in reason:
                self._stop(
                    control,
                    f"time budget: {spent / 60:.1f} of {budget / 60:.1f} min spent at step "
                    f"{state.global_step} of {state.max_steps}",
                )

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
