"""The Textual app. Imported only when the TUI is opened (the core never imports it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant_builder.workspace import Workspace


def run_app(ws: Workspace) -> None:
    from assistant_builder.tui.app import AssistantBuilderApp

    AssistantBuilderApp(ws).run()
