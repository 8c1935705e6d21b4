"""Pieces every stage screen shares: the stage bar, the base screen and error reporting."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static

from assistant_builder.errors import one_line
from assistant_builder.events import Progress
from assistant_builder.status import STAGES, WorkspaceStatus, workspace_status
from assistant_builder.tui.messages import StageDone, StageFailed, StageProgress

if TYPE_CHECKING:
    from assistant_builder.tui.app import AssistantBuilderApp
    from assistant_builder.workspace import Workspace

STATE_MARK = {"done": "✓", "stale": "!", "next": "→", "todo": "·"}
STATE_STYLE = {
    "done": "$text-success",
    "stale": "$text-warning",
    "next": "bold $text-accent",
    "todo": "$text-muted",
}


def describe_error(e: BaseException) -> str:
    """One line a user can act on: a UserError says it all; anything else names its type."""
    return one_line(e)


class StageBar(Static):
    """One line: the five stages with their state; the current one highlighted, all clickable."""

    def __init__(self, current: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.current = current

    def show(self, status: WorkspaceStatus) -> None:
        parts = []
        for i, (key, title) in enumerate(STAGES, 1):
            state = status.stage(key).state
            style = "reverse bold" if key == self.current else STATE_STYLE[state]
            label = f" {i} {title} {STATE_MARK[state]} "
            parts.append(f"[@click=app.open_stage('{key}')][{style}]{label}[/][/]")
        self.update("[@click=app.open_stage('home')] ⌂ [/]" + "".join(parts))


class StageScreen(Screen[None]):
    """A stage's screen: header, stage bar, the stage's body, footer with its keys."""

    STAGE = ""
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.open_stage('home')", "Home")]

    def __init__(self) -> None:
        super().__init__()
        self._stage_bar: dict[str, str] = {}  # running stage → its progress bar

    @property
    def ws(self) -> Workspace:
        return self.abapp.ws

    @property
    def abapp(self) -> AssistantBuilderApp:
        return cast("AssistantBuilderApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield StageBar(self.STAGE, id="stagebar")
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_screen_resume(self) -> None:
        self.refresh_status()
        self.reload()

    def refresh_status(self) -> None:
        try:
            status = workspace_status(self.ws)
        except Exception as e:  # a damaged workspace file must not take the screen down
            self.fail("reading the workspace", e)
            return
        self.query_one(StageBar).show(status)

    def reload(self) -> None:
        """Read this stage's data from the workspace again (called whenever shown)."""

    def fail(self, doing: str, e: BaseException) -> None:
        self.notify(describe_error(e), title=f"Error {doing}", severity="error", timeout=10)

    def fail_from_thread(self, doing: str, e: BaseException) -> None:
        self.app.call_from_thread(self.fail, doing, e)

    # -- running a stage ------------------------------------------------------------------
    def run_stage(
        self,
        stage: str,
        fn: Callable[[Callable[[Any], None]], Any],
        doing: str,
        bar: str = "#progress",
        total: int | None = None,
    ) -> None:
        """Run the core call ``fn(on_event)`` in a thread worker (one per stage at a time) with
        the progress bar ``bar`` shown: its events come back as StageProgress messages (see
        :meth:`stage_progress`), then StageDone, or StageFailed (a notification) — both end in
        :meth:`stage_done` with the result, or None after a failure."""
        progress = self.query_one(bar, ProgressBar)
        progress.remove_class("hidden")
        progress.update(total=total, progress=0)
        self._stage_bar[stage] = bar

        def relay(ev: Any) -> None:
            self.post_message(StageProgress(stage, ev))

        def work() -> None:
            try:
                result = fn(relay)
            except Exception as e:
                self.post_message(StageFailed(stage, doing, e))
                return
            self.post_message(StageDone(stage, result))

        self.run_worker(work, thread=True, exclusive=True, group=stage)

    def stage_progress(self, stage: str, ev: Any) -> None:
        """An event of a running stage: a Progress moves its bar (screens add their status
        line; the Train screen reads typed training events)."""
        if isinstance(ev, Progress):
            bar = self.query_one(self._stage_bar[stage], ProgressBar)
            bar.update(total=ev.total, progress=ev.done or 0)

    def stage_done(self, stage: str, result: Any) -> None:
        """The stage finished (``result`` None after a failure): screens show the outcome."""

    def on_stage_progress(self, message: StageProgress) -> None:
        self.stage_progress(message.stage, message.event)

    def on_stage_done(self, message: StageDone) -> None:
        self._stage_finished(message.stage, message.result)

    def on_stage_failed(self, message: StageFailed) -> None:
        self.fail(message.doing, message.error)
        self._stage_finished(message.stage, None)

    def _stage_finished(self, stage: str, result: Any) -> None:
        self.query_one(self._stage_bar.pop(stage), ProgressBar).add_class("hidden")
        self.stage_done(stage, result)

    def guarded(self, doing: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the UI thread; an exception becomes a notification, never a crash."""
        try:
            fn()
        except Exception as e:
            self.fail(doing, e)
