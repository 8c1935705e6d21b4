"""Typed progress events. Core stages call ``on_event(Progress(...))`` (a step of a long stage,
with a progress bar when ``done``/``total`` are set); training reports typed events
(:class:`TrainLog`, :class:`Mode`, ...) read from the worker's event log. The CLI renders them
with rich progress bars and the TUI turns them into messages posted from a worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Progress:
    """Something happened in a long stage. ``done``/``total`` drive a progress bar when set."""

    stage: str
    message: str = ""
    done: int | None = None
    total: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


OnEvent = Callable[[Progress], None]


def ignore(_: object) -> None:
    """Default handler: drop events."""


# -- training: what the child process reports, typed (read from runs/<id>/events.jsonl) --------
@dataclass(frozen=True)
class TrainStarted:
    run: str
    run_dir: str


@dataclass(frozen=True)
class Mode:
    """The training mode the run picked (lora / qlora) and why, with notes on fallbacks."""

    mode: str
    why: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainBegin:
    max_steps: int | None
    step: int = 0


@dataclass(frozen=True)
class TrainLog:
    step: int
    max_steps: int | None
    loss: float
    tokens_per_second: float | None = None
    eta_s: float | None = None


@dataclass(frozen=True)
class EvalLoss:
    step: int | None
    max_steps: int | None
    eval_loss: float
    epoch: float | None = None


@dataclass(frozen=True)
class TrainWarning:
    message: str


@dataclass(frozen=True)
class Resumed:
    checkpoint: str


@dataclass(frozen=True)
class Cancelling:
    run: str


@dataclass(frozen=True)
class TrainError:
    message: str


TrainEvent = (
    TrainStarted
    | Mode
    | TrainBegin
    | TrainLog
    | EvalLoss
    | TrainWarning
    | Resumed
    | Cancelling
    | TrainError
)
Event = Progress | TrainEvent
OnTrainEvent = Callable[[Event], None]


def train_event(kind: str, d: dict[str, Any]) -> Event:
    """One line of the worker's event log as a typed event; kinds no screen shows (``end``,
    the CPU speed-up notes) stay a Progress with the kind as its message."""
    if kind == "mode":
        return Mode(d.get("mode", "?"), d.get("why", ""), tuple(d.get("notes") or ()))
    if kind == "begin":
        return TrainBegin(d.get("max_steps"), d.get("step") or 0)
    if kind == "log" and "loss" in d:
        return TrainLog(
            d.get("step") or 0,
            d.get("max_steps"),
            float(d["loss"]),
            d.get("tokens_per_second"),
            d.get("eta"),
        )
    if kind == "eval" and "eval_loss" in d:
        return EvalLoss(d.get("step"), d.get("max_steps"), float(d["eval_loss"]), d.get("epoch"))
    if kind == "warning":
        return TrainWarning(str(d.get("message", "")))
    if kind == "resume":
        return Resumed(str(d.get("checkpoint", "")))
    if kind == "error":
        return TrainError(str(d.get("message", "")))
    return Progress("train", kind, done=d.get("step"), total=d.get("max_steps"), data=d)


def format_eta(seconds: float | None) -> str:
    """Time left as people read it: 45s, 2m03s, 1h02m; "?" when not known yet."""
    if seconds is None:
        return "?"
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
