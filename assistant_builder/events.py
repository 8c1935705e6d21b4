"""Typed progress events. Core stages call ``on_event(Progress(...))``; the CLI renders them
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


def ignore(_: Progress) -> None:
    """Default handler: drop events."""
