"""Export: choose targets (whatever ``export.registry.FORMATS`` offers), run them in a worker
with progress, and show each artifact's verification and the exact commands to use it (the
``usage`` its exporter checked and wrote into the manifest)."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Markdown, ProgressBar, Select, SelectionList, Static

from assistant_builder.events import Progress
from assistant_builder.tui.common import StageScreen

DESCRIPTIONS = {
    "adapter": "PEFT, vLLM",
    "merged": "full model",
    "gguf": "llama.cpp",
    "ollama": "Modelfile",
    "openai-dataset": "OpenAI",
}


def export_formats() -> list[str]:
    """The targets the installed export module offers, asked at run time."""
    from assistant_builder.export import registry as export

    return list(export.FORMATS)


def _describe(fmt: str) -> str:
    return f"{fmt:<14} {DESCRIPTIONS.get(fmt, '')}".rstrip()


def _shell_path(path: Path) -> str:
    """The artifact path as a user would type it from where they started the app."""
    rel = os.path.relpath(path, Path.cwd())
    return shlex.quote(str(path) if rel.startswith("..") else rel)


def usage(path: Path, info: dict[str, Any]) -> list[str]:
    """The exporter's own commands for the artifact (every exporter writes ``usage``)."""
    given = info.get("usage") or []
    if isinstance(given, str):
        given = [given]
    # Exporters name the folder absolutely; say it the way the user would type it.
    short = _shell_path(path)
    return [str(c).replace(str(path.absolute()), short) for c in given]


class ExportScreen(StageScreen):
    STAGE = "export"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "export", "Export"),
        Binding("space", "toggle_target", "Toggle", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="export-body"):
            with Vertical(id="targets", classes="panel"):
                yield Select([], id="run", prompt="no trained run", compact=True)
                yield SelectionList[str](
                    *[(_describe(f), f, f == "adapter") for f in export_formats()], id="formats"
                )
                yield Button("Export e", id="export", variant="primary", compact=True)
                yield ProgressBar(id="export-progress", show_eta=False, classes="hidden")
                yield Static("", id="export-status", classes="status")
            with VerticalScroll(id="export-log", classes="panel"):
                yield Markdown(id="results")

    def on_mount(self) -> None:
        self.query_one("#targets").border_title = "Targets (space toggles)"
        self.query_one("#export-log").border_title = "Exports, verification, commands"
        self.refresh_status()
        self.reload()
        self.query_one("#formats").focus()

    def reload(self) -> None:
        self.guarded("reading the runs", self._load)

    def _load(self) -> None:
        runs = [
            r for r in reversed(self.ws.list_runs()) if (self.ws.runs_dir / r / "adapter").is_dir()
        ]
        select = self.query_one("#run", Select)
        keep = select.value
        select.set_options([(r, r) for r in runs])
        if runs:
            select.value = keep if isinstance(keep, str) and keep in runs else runs[0]
        self.show_existing()

    def selected_run(self) -> str | None:
        value = self.query_one("#run", Select).value
        return value if isinstance(value, str) else None

    @on(Select.Changed, "#run")
    def show_existing(self) -> None:
        run = self.selected_run()
        md = self.query_one("#results", Markdown)
        if run is None:
            md.update("Nothing to export yet: train a run first (press 3).")
            return
        folder = self.ws.exports_dir / run
        parts = []
        for fmt_dir in sorted(folder.iterdir()) if folder.is_dir() else []:
            manifest = fmt_dir / "manifest.json"
            if fmt_dir.name.startswith(".") or not manifest.is_file():
                continue
            info = json.loads(manifest.read_text(encoding="utf-8"))
            info.pop("files", None)
            info.pop("created", None)
            parts.append(self._result_md(fmt_dir.name, run, fmt_dir, info))
        md.update("\n\n".join(parts) or f"No exports of {run} yet: choose targets and press e.")

    def _result_md(self, fmt: str, run: str, path: Path, info: dict[str, Any]) -> str:
        verified = info.get("verified")
        mark = "✓ verified" if verified else ("✗ NOT verified" if verified is False else "written")
        shown = {k: v for k, v in info.items() if k not in ("format", "run", "path", "usage")}
        facts = " · ".join(f"{k}: {v}" for k, v in shown.items() if not isinstance(v, (dict, list)))
        lines = [f"### {fmt} — {mark}", "", f"`{_shell_path(path)}`", ""]
        if facts:
            lines += [facts, ""]
        cmds = usage(path, info)
        if cmds:
            lines += ["```bash", *cmds, "```"]
        return "\n".join(lines)

    def action_toggle_target(self) -> None:
        formats = self.query_one("#formats", SelectionList)
        if formats.highlighted is not None:
            formats.toggle(formats.get_option_at_index(formats.highlighted).value)

    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        run = self.selected_run()
        formats = list(self.query_one("#formats", SelectionList).selected)
        if run is None:
            self.notify("Train a run first: there is nothing to export.", severity="warning")
            return
        if not formats:
            self.notify("Choose at least one target (space toggles).", severity="warning")
            return
        from assistant_builder.export.registry import export

        self.query_one("#export", Button).disabled = True
        self.exporting: list[str] = []
        self.run_stage(
            "export",
            lambda on_event: export(self.ws, run, formats, on_event=on_event),
            "exporting",
            bar="#export-progress",
            total=len(formats),
        )

    def stage_progress(self, stage: str, ev: Progress) -> None:
        # The bar counts formats done: each "exporting X" starts the next one.
        if ev.message.startswith("exporting "):
            self.exporting.append(ev.message)
        done = max(len(self.exporting) - 1, 0)
        self.query_one("#export-progress", ProgressBar).update(progress=done)
        self.query_one("#export-status", Static).update(ev.message)

    def stage_done(self, stage: str, result: Any) -> None:
        self.query_one("#export", Button).disabled = False
        self.query_one("#export-status", Static).update("")
        if result is not None:
            self.notify(", ".join(result["exports"]) + " exported and verified", title="Export")
        self.refresh_status()
        self.show_existing()
