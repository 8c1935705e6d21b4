"""Home: the five stages with their state, the key figures, and the next action one key away."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from assistant_builder.status import WorkspaceStatus, plural, workspace_status
from assistant_builder.tui.common import STATE_MARK, STATE_STYLE, describe_error

if TYPE_CHECKING:
    from assistant_builder.tui.app import AssistantBuilderApp

FIGURES = (("sources", "source"), ("examples", "example"), ("runs", "run"), ("ratings", "rating"))
STATE_WORD = {"done": "done", "stale": "stale", "next": "next", "todo": "waiting"}


class HomeScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next", "Do next", priority=True),
        Binding("r", "refresh", "Refresh"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home"):
            yield Static(id="intro")
            with Horizontal(id="figures"):
                for key, label in FIGURES:
                    yield Static(classes="figure", id=f"fig-{key}", name=label)
            yield OptionList(id="stages")
            yield Static(id="next")
            yield Static(id="about")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stages", OptionList).border_title = "Stages  (1-5 or Enter to open)"
        self.query_one("#next").border_title = "Next"
        self.query_one("#about").border_title = "This assistant"

    def on_resize(self) -> None:
        # Short terminals keep the stages and the next action; the details need the room.
        self.set_class(self.size.height < 30, "-short")

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        app = cast("AssistantBuilderApp", self.app)
        try:
            status = workspace_status(app.ws)
        except Exception as e:  # a damaged file in the workspace is news, not a crash
            self.notify(describe_error(e), title="Error reading the workspace", severity="error")
            return
        self.show(status)

    def show(self, status: WorkspaceStatus) -> None:
        app = cast("AssistantBuilderApp", self.app)
        self.query_one("#intro", Static).update(
            Content.from_markup(
                "Workspace [b]$name[/b]: from your files to a rated, exported assistant.",
                name=app.ws.root.name,
            )
        )
        for key, label in FIGURES:
            n = status.figures.get(key, 0)
            self.query_one(f"#fig-{key}", Static).update(
                Content.from_markup(
                    "[b $text-accent]$n[/] $label",
                    n=str(n),
                    label=plural(n, label).split(" ", 1)[1],
                )
            )
        stages = self.query_one("#stages", OptionList)
        highlighted = stages.highlighted
        stages.clear_options()
        for i, st in enumerate(status.stages, 1):
            mark, style = STATE_MARK[st.state], STATE_STYLE[st.state]
            prompt = Content.from_markup(
                f"[{style}]{mark}[/] [b]{i} $title[/b] [{style}]{STATE_WORD[st.state]}[/]"
                "\n    [$text-muted]$detail[/]",
                title=f"{st.title:<8}",
                detail=st.detail,
            )
            stages.add_option(Option(prompt, id=st.key))
        nxt = status.next_stage
        if highlighted is None and nxt is not None:
            highlighted = [s.key for s in status.stages].index(nxt.key)
        stages.highlighted = highlighted or 0
        panel = self.query_one("#next", Static)
        if nxt is None:
            panel.update("All five stages are done. Rate more answers or export again.")
        else:
            number = [s.key for s in status.stages].index(nxt.key) + 1
            panel.update(
                Content.from_markup(
                    "[b]$title[/b]: $action  [reverse] n [/] or [reverse] $number [/]",
                    title=nxt.title,
                    action=nxt.action,
                    number=str(number),
                )
            )
        self._next = nxt.key if nxt else None
        settings = app.ws.load_settings()
        latest = app.ws.latest_run()
        self.query_one("#about", Static).update(
            Content.from_markup(
                "[b]System prompt[/b]  $prompt\n[b]Base model[/b]     $base\n"
                "[b]Recipe[/b]         $recipe\n[b]Latest run[/b]     $latest",
                prompt=settings.system_prompt,
                base=settings.base_model
                + (
                    " (SmolLM2-135M-Instruct, embedded)" if settings.base_model == "default" else ""
                ),
                recipe=settings.recipe,
                latest=latest or "none yet",
            )
        )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self._open(event.option.id)

    def action_next(self) -> None:
        self._open(getattr(self, "_next", None) or "sources")

    def _open(self, key: str) -> None:
        cast("AssistantBuilderApp", self.app).action_open_stage(key)
