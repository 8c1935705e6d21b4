"""Messages a stage's worker thread posts to its screen (``post_message`` is thread-safe), so
the core's events reach the UI thread the Textual way instead of through call_from_thread."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from assistant_builder.events import Event


class StageProgress(Message):
    """A core event of a running stage: a Progress, or a typed training event."""

    bubble = False

    def __init__(self, stage: str, event: Event) -> None:
        super().__init__()
        self.stage = stage
        self.event = event


class StageDone(Message):
    """The stage's core function returned ``result``."""

    bubble = False

    def __init__(self, stage: str, result: Any) -> None:
        super().__init__()
        self.stage = stage
        self.result = result


class StageFailed(Message):
    """The stage's core function raised ``error`` while ``doing`` (e.g. "ingesting")."""

    bubble = False

    def __init__(self, stage: str, doing: str, error: BaseException) -> None:
        super().__init__()
        self.stage = stage
        self.doing = doing
        self.error = error
