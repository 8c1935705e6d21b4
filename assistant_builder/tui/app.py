"""The Textual app: five stage screens around a home screen, switched as modes so that each
keeps its state (a running training, a half-typed note) while the user looks elsewhere."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from assistant_builder.status import STAGES

if TYPE_CHECKING:
    from assistant_builder.compare.pair import PairAnswerer
    from assistant_builder.train.launch import TrainHandle
    from assistant_builder.workspace import Workspace

AnswererFactory = Callable[["Workspace", str], "PairAnswerer"]
StartTraining = Callable[[Path, bool], "TrainHandle"]


def _home() -> Screen[None]:
    from assistant_builder.tui.screens.home import HomeScreen

    return HomeScreen()


def _sources() -> Screen[None]:
    from assistant_builder.tui.screens.sources import SourcesScreen

    return SourcesScreen()


def _dataset() -> Screen[None]:
    from assistant_builder.tui.screens.dataset import DatasetScreen

    return DatasetScreen()


def _train() -> Screen[None]:
    from assistant_builder.tui.screens.train import TrainScreen

    return TrainScreen()


def _compare() -> Screen[None]:
    from assistant_builder.tui.screens.compare import CompareScreen

    return CompareScreen()


def _export() -> Screen[None]:
    from assistant_builder.tui.screens.export import ExportScreen

    return ExportScreen()


class AssistantBuilderApp(App[None]):
    """``answerer_factory`` and ``start_training`` are the seams tests use to swap the model
    for something fast; by default they are the core's blind-pair answerer (the real engine)
    and the real training child."""

    CSS_PATH = "app.tcss"
    TITLE = "assistant-builder"
    MODES: ClassVar = {
        "home": _home,
        "sources": _sources,
        "dataset": _dataset,
        "train": _train,
        "compare": _compare,
        "export": _export,
    }
    DEFAULT_MODE = "home"
    BINDINGS: ClassVar = [
        *(
            Binding(str(i), f"open_stage('{key}')", title, show=False)
            for i, (key, title) in enumerate(STAGES, 1)
        ),
        Binding("question_mark,f1", "help", "Help"),
    ]

    def __init__(
        self,
        ws: Workspace,
        *,
        answerer_factory: AnswererFactory | None = None,
        start_training: StartTraining | None = None,
        browse_root: Path | None = None,
        rater: str | None = None,
    ) -> None:
        super().__init__()
        self.ws = ws
        self.answerer_factory = answerer_factory or _pair_answerer
        self.start_training = start_training or _start_training
        self.browse_root = browse_root or Path.cwd()
        self.rater = rater or _default_rater()
        self.last_ingest: dict[str, object] | None = None  # skipped items survive screen switches
        self.sub_title = ws.root.name

    def on_mount(self) -> None:
        if not self.ws.exists():
            # Opening the app is how most people start: make the workspace rather than refuse.
            self.ws.create()
            self.notify(f"Created a new workspace in {self.ws.root.name}/", title="Welcome")

    def action_open_stage(self, key: str) -> None:
        if self.current_mode != key:
            self.switch_mode(key)

    def action_help(self) -> None:
        from assistant_builder.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        blurbs = {
            "sources": "Add FAQ pages and documents; see what was extracted and skipped",
            "dataset": "Review, edit, approve and reject conversations; rebuild the split",
            "train": "Pick a recipe, edit its settings, train and watch the loss",
            "compare": "Rate base against tuned answers, blind; ask your own questions",
            "export": "Export the trained assistant and verify it",
        }
        yield SystemCommand("Home", "Where you are and what is next", self._go("home"))
        for i, (key, title) in enumerate(STAGES, 1):
            yield SystemCommand(f"{i} {title}", blurbs[key], self._go(key))
        yield SystemCommand("Help", "Keys and how the journey goes", self.action_help)

    def _go(self, key: str) -> Callable[[], None]:
        return lambda: self.action_open_stage(key)


def _default_rater() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "rater"


def _pair_answerer(ws: Workspace, run_id: str) -> PairAnswerer:
    from assistant_builder.compare.pair import PairAnswerer

    return PairAnswerer(ws, run_id)


def _start_training(run_dir: Path, resume: bool) -> TrainHandle:
    from assistant_builder.train.launch import start

    return start(run_dir, resume=resume)
