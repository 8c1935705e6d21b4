"""Pieces every stage screen shares: the stage bar, the base screen and error reporting."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from assistant_builder.errors import one_line
from assistant_builder.status import STAGES, WorkspaceStatus, workspace_status

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

    def guarded(self, doing: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the UI thread; an exception becomes a notification, never a crash."""
        try:
            fn()
        except Exception as e:
            self.fail(doing, e)
