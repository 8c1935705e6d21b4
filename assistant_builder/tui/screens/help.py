"""Help: how the journey goes and which keys do what."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# assistant-builder

Turn your FAQ pages and documents into a tuned support assistant, prove it answers better
than the model it started from, and ship it. Five stages, left to right:

| Key | Stage | What you do there |
|-----|-------|-------------------|
| 1 | Sources | add files or folders; see what was extracted (file, lines) and what was skipped |
| 2 | Dataset | review rows; edit, approve (a), reject (x); rebuild (r; g: model writes questions) |
| 3 | Train | pick a recipe, adjust it, start (s); watch loss and speed; cancel (c), resume (u) |
| 4 | Compare | rate two blind answers: a / b better, t tie, x both bad; r: review; s: systems |
| 5 | Export | release check, then export (e; f: anyway); each artifact verified, with commands |

## Everywhere

- `1`-`5` open a stage, `Esc` goes home, `n` on home does the next thing
- `Ctrl+P` command palette, `?` or `F1` this help, `Ctrl+Q` quit
- `Tab` / `Shift+Tab` move between parts of a screen; the mouse works too

Long work (ingest, rebuild, training, answers, export) runs in the background: the screen
stays usable, and errors appear as notifications that say why. Training runs in its own
process: cancelling saves a checkpoint you can resume from.

Press `Esc` to close.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close")
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)
