"""How long a run will take on this machine, and what fits a time budget.

Cost is tokens: every epoch passes the whole training split (answers x phrasings) through the
model, so the estimate is the split's chat-templated tokens x epochs / tokens per second. The
speed is this machine's own, measured by the last completed run of the same base model and
mode (``speed.json`` in the user cache, written by the training child); before any run, the
default model's speed measured on a quiet 2-core CPU (benchmarks/README.md) scaled by cores.

With a budget (``time_budget: 15m`` in a recipe, ``train --time-budget 15m``) the estimate
says how many whole epochs fit, at most the recipe's. The speed behind it is a guess until the
run has started (another machine's figure, or this one's at another load), so the child starts
with the recipe's epochs and plans from its own first steps (``replan``): the whole epochs that
fit, with the learning-rate schedule ending where the run will end, rather than a cut in the
middle of a decay. It also
stops at the budget as a last resort. A budget the user asked for (``--time-budget``) that is
too short for one epoch is a user error that names the shortest useful budget; a recipe's own
budget (``time_budget_strict: false``) trains at least ``time_budget_min_epochs`` whole epochs
anyway and says so: a run cut to fewer does not learn the answers (benchmarks/README.md).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError

# The default model, cpu-lora, padding-free rows: 208 tokens/s on 2 cores at load ~1.9
# (benchmarks/README.md, answer quality). Per core, for machines with more or fewer.
DEFAULT_TOKENS_PER_CORE_SECOND = 104.0
# Loading the model, building the trainer, the per-epoch eval and saving the adapter: ~20-40 s
# of a Homebrew run's wall time on 2 cores that no token count explains.
OVERHEAD_SECONDS = 40.0
SPEED_FILE = "speed.json"
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}


def parse_duration(text: str | float | int) -> float:
    """Seconds in '15m', '90s', '1h30m', '1.5h' or a bare number of minutes ('20')."""
    if isinstance(text, int | float):
        if text <= 0:
            raise UserError(f"time budget must be positive (got {text})")
        return float(text) * 60
    s = str(text).strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return parse_duration(float(s))
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|hr|min|m|sec|s)", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise UserError(f"time budget {text!r}: use minutes or a duration like 15m, 90s, 1h30m")
    total = sum(float(n) * _UNITS[u] for n, u in parts)
    if total <= 0:
        raise UserError(f"time budget {text!r} must be positive")
    return total


def minutes(seconds: float) -> str:
    return f"~{seconds:.0f} s" if seconds < 90 else f"~{math.ceil(seconds / 60)} min"


def _speed_path() -> Path:
    explicit = os.environ.get("ASSISTANT_BUILDER_SPEED_FILE")  # tests keep theirs apart
    if explicit:
        return Path(explicit)
    from assistant_builder.models.default import cache_root

    return cache_root() / SPEED_FILE


def _speed_key(base_model: str, mode: str) -> str:
    return f"{base_model}|{mode}|{os.cpu_count() or 1} cores"


def record_speed(base_model: str, mode: str, tokens_per_second: float, run: str) -> None:
    """Remember a completed run's speed for the next estimate (best effort: a read-only
    cache must not fail a finished run)."""
    path = _speed_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        data[_speed_key(base_model, mode)] = {
            "tokens_per_second": round(tokens_per_second, 1),
            "run": run,
            "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(path)
    except (OSError, ValueError):
        pass


def known_speed(base_model: str, mode: str) -> tuple[float, str]:
    """(tokens/s, where the figure comes from) for this machine."""
    path = _speed_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        got = data.get(_speed_key(base_model, mode))
        if got and got.get("tokens_per_second", 0) > 0:
            return float(got["tokens_per_second"]), f"measured by run {got.get('run')}"
    except (OSError, ValueError):
        pass
    cores = os.cpu_count() or 1
    tps = DEFAULT_TOKENS_PER_CORE_SECOND * cores
    return tps, f"not measured here yet: assumed {tps:.0f} tokens/s for {cores} cores"


@dataclass
class Estimate:
    rows: int
    tokens_per_epoch: int
    tokens_per_second: float
    speed_source: str
    epochs: float  # what will run: the recipe's, or the budget's plan
    seconds: float  # of training at that many epochs, with the overhead
    recipe_epochs: float
    budget_seconds: float | None = None
    shortest_useful_seconds: float | None = None
    long_rows: dict[str, Any] = field(default_factory=dict)
    notice: str | None = None  # one epoch is more than a lenient budget: it trains anyway
    # Paraphrase rows cut to this many answer tokens so that more epochs fit (0: whole answers),
    # and the epochs whole answers would have had.
    answer_cut: int = 0
    whole_answer_epochs: float | None = None

    def line(self) -> str:
        """'~22 min for 262k tokens on this machine; with a 15 min budget: 3 epochs'."""
        full = self.recipe_epochs * self.tokens_per_epoch
        head = (
            f"{minutes(self._seconds(self.recipe_epochs))} for {full / 1000:.0f}k tokens "
            f"({self.recipe_epochs:g} epochs of {self.tokens_per_epoch / 1000:.1f}k) on this "
            f"machine at {self.tokens_per_second:.0f} tokens/s ({self.speed_source})"
        )
        if self.budget_seconds is None:
            return head
        unit = "epoch" if self.epochs == 1 else "epochs"
        line = f"{head}; with a {minutes(self.budget_seconds)[1:]} budget: {self.epochs:g} {unit}"
        if self.answer_cut:
            line += (
                f", the paraphrase rows trained on their first {self.answer_cut} answer tokens "
                f"(whole answers: {self.whole_answer_epochs:g})"
            )
        return f"{line} ({self.notice})" if self.notice else line

    def _seconds(self, epochs: float) -> float:
        return OVERHEAD_SECONDS + epochs * self.tokens_per_epoch / self.tokens_per_second

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def plan(
    tokens_per_epoch: int,
    rows: int,
    recipe_epochs: float,
    speed: tuple[float, str],
    budget_seconds: float | None,
    strict: bool = True,
    floor: int = 1,
) -> Estimate:
    """The estimate, and with a budget the whole epochs that fit (at most the recipe's); a
    budget too short for one epoch refuses when ``strict``; a lenient one plans at least
    ``floor`` epochs."""
    tps, source = speed
    est = Estimate(rows, tokens_per_epoch, tps, source, recipe_epochs, 0.0, recipe_epochs)
    est.seconds = est._seconds(recipe_epochs)
    if budget_seconds is None:
        return est
    est.budget_seconds = budget_seconds
    one = est._seconds(1)
    est.shortest_useful_seconds = math.ceil(one / 60) * 60
    fit = math.floor((budget_seconds - OVERHEAD_SECONDS) * tps / max(tokens_per_epoch, 1))
    least = min(recipe_epochs, floor)
    if fit < least and not strict:
        est.epochs = float(least)
        est.seconds = est._seconds(est.epochs)
        unit = "epoch" if least == 1 else "epochs"
        est.notice = (
            f"one pass over the {rows} rows takes {minutes(one)}: training {least:g} {unit} "
            "anyway, the fewest that learn the answers; --time-budget none trains all the "
            "recipe's epochs"
        )
        return est
    if fit < 1:
        raise UserError(
            f"a {minutes(budget_seconds)[1:]} budget is too short for one epoch: one pass over "
            f"{tokens_per_epoch / 1000:.1f}k tokens takes {minutes(one)} on this machine "
            f"({tps:.0f} tokens/s, {source}); the shortest useful budget is "
            f"--time-budget {math.ceil(one / 60)}m (or train on fewer phrasings: "
            "dataset --variants)"
        )
    est.epochs = float(min(recipe_epochs, fit))
    est.seconds = est._seconds(est.epochs)
    return est


# The run's own speed is trusted once it has seen this share of an epoch's tokens (and a few
# steps past the first, which pays for warm-up): early enough to matter, late enough to hold.
REPLAN_SHARE = 0.05
REPLAN_MIN_STEPS = 3
SAVE_SECONDS = 15.0  # saving the adapter and the final checkpoint after the last step


def replan(
    budget_seconds: float,
    elapsed: float,
    tokens_seen: int,
    tokens_per_second: float,
    tokens_per_epoch: int,
    planned_epochs: float,
    strict: bool,
    floor: int = 1,
) -> int | None:
    """Whole epochs that fit the budget at the speed measured in this run, when that is fewer
    than planned; None when the plan holds (or, strict, not even one epoch fits: the stop at
    the budget ends the run). ``elapsed`` counts from the child's start, like the budget."""
    if tokens_per_second <= 0 or tokens_per_epoch <= 0:
        return None
    left = budget_seconds - elapsed - SAVE_SECONDS
    fit = math.floor((tokens_seen + left * tokens_per_second) / tokens_per_epoch)
    if fit < 1 and strict:
        return None
    fit = max(fit, 1 if strict else floor)
    return fit if fit < planned_epochs else None
