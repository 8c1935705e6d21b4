"""Export: choose targets (whatever ``export.registry.FORMATS`` offers), run them in a worker
with progress, and show each artifact's verification and the exact commands to use it (the
``usage`` its exporter checked and wrote into the manifest).

Before exporting, the screen runs the release check (``compare.release_check``, the one
``assistant-builder check`` and ``export`` run) in a worker and shows PASS/FAIL with its
reasons. A failing run, or one the check could not judge, is not exported unless the user then
presses "Export anyway" (``export --force``)."""

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
from textual.markup import escape
from textual.widgets import Button, Markdown, ProgressBar, Select, SelectionList, Static

from assistant_builder.events import Progress
from assistant_builder.tui.common import StageScreen, describe_error
from assistant_builder.tui.messages import StageFailed

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
        Binding("c", "check", "Check"),
        Binding("f", "export_anyway", "Export anyway", show=False),
        Binding("space", "toggle_target", "Toggle", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.exporting: list[str] = []
        self.export_after_check: list[str] | None = None  # targets waiting on the running check
        self.refused: str | None = None  # the run the check refused: "Export anyway" exports it
        self.check_error: str | None = None  # why the last check could not run
        self.checking: str | None = None  # the run the running check is about

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="export-body"):
            with Vertical(id="targets", classes="panel"):
                yield Select([], id="run", prompt="no trained run", compact=True)
                yield SelectionList[str](
                    *[(_describe(f), f, f == "adapter") for f in export_formats()], id="formats"
                )
                with Horizontal(id="export-buttons"):
                    yield Button("Export e", id="export", variant="primary", compact=True)
                    yield Button("Check c", id="check", compact=True)
                yield Button(
                    "Export anyway f", id="export-anyway", variant="error", compact=True,
                    classes="hidden",
                )  # fmt: skip
                yield ProgressBar(id="export-progress", show_eta=False, classes="hidden")
                yield Static("", id="export-status", classes="status")
            with VerticalScroll(id="export-log", classes="panel"):
                yield Static("", id="check-result")
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
        self._show_last_check(run)
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

    # -- the release check, then the export ------------------------------------------------
    def _targets(self) -> tuple[str, list[str]] | None:
        run = self.selected_run()
        formats = list(self.query_one("#formats", SelectionList).selected)
        if run is None:
            self.notify("Train a run first: there is nothing to export.", severity="warning")
            return None
        if not formats:
            self.notify("Choose at least one target (space toggles).", severity="warning")
            return None
        return run, formats

    def _busy(self, busy: bool) -> None:
        for button in ("#export", "#check", "#export-anyway"):
            self.query_one(button, Button).disabled = busy

    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        """The release check first; the export follows when the run passes."""
        chosen = self._targets()
        if chosen is not None:
            self._start_check(chosen[0], export_after=chosen[1])

    @on(Button.Pressed, "#check")
    def action_check(self) -> None:
        run = self.selected_run()
        if run is None:
            self.notify("Train a run first: there is nothing to check.", severity="warning")
            return
        self._start_check(run, export_after=None)

    def _start_check(self, run: str, export_after: list[str] | None) -> None:
        if self.query_one("#export", Button).disabled:
            return  # a check or an export is running
        from assistant_builder.compare.release_check import release_check

        self._busy(True)
        self.refused = None
        self.query_one("#export-anyway", Button).add_class("hidden")
        self.export_after_check = export_after
        self.checking = run
        self.query_one("#check-result", Static).update(f"Release check of {run}: running…")
        self.run_stage(
            "check",
            lambda on_event: release_check(self.ws, run, on_event=on_event),
            "checking",
            bar="#export-progress",
        )

    @on(Button.Pressed, "#export-anyway")
    def action_export_anyway(self) -> None:
        """``export --force``: only for the run the check just refused, after it said why."""
        chosen = self._targets()
        if chosen is None or self.query_one("#export", Button).disabled:
            return
        run, formats = chosen
        if self.refused != run:
            self.notify(
                "Export anyway follows a failed release check: press e.", severity="warning"
            )
            return
        self.notify(f"Exporting {run} although it failed the release check.", severity="warning")
        self._start_export(run, formats)

    def _start_export(self, run: str, formats: list[str]) -> None:
        from assistant_builder.export.registry import export

        self._busy(True)
        self.exporting = []
        self.run_stage(
            "export",
            lambda on_event: export(self.ws, run, formats, on_event=on_event),
            "exporting",
            bar="#export-progress",
            total=len(formats),
        )

    def on_stage_failed(self, message: StageFailed) -> None:
        # Runs before StageScreen's handler (Textual calls each class's, subclass first), which
        # then ends the stage: a check that could not judge the run is refused like a FAIL.
        if message.stage == "check":
            self.check_error = describe_error(message.error)

    def stage_progress(self, stage: str, ev: Progress) -> None:
        if stage == "check":
            super().stage_progress(stage, ev)
            self.query_one("#export-status", Static).update(ev.message)
            return
        # The bar counts formats done: each "exporting X" starts the next one.
        if ev.message.startswith("exporting "):
            self.exporting.append(ev.message)
        done = max(len(self.exporting) - 1, 0)
        self.query_one("#export-progress", ProgressBar).update(progress=done)
        self.query_one("#export-status", Static).update(ev.message)

    def stage_done(self, stage: str, result: Any) -> None:
        self.query_one("#export-status", Static).update("")
        self._busy(False)
        if stage == "check":
            self._checked(result)
            return
        if result is not None:
            self.notify(", ".join(result["exports"]) + " exported and verified", title="Export")
        self.refresh_status()
        self.show_existing()

    def _checked(self, result: dict[str, Any] | None) -> None:
        run, formats = self.checking, self.export_after_check
        self.export_after_check = None
        error, self.check_error = self.check_error, None
        if result is None:
            shown = "[b $text-error]✗ The release check could not run[/]: " + escape(
                error or "see the notification"
            )
        else:
            shown = check_markup(result)
        passed = result is not None and result["passed"]
        if not passed:
            self.refused = run
            self.query_one("#export-anyway", Button).remove_class("hidden")
            shown += (
                f"\n[b]{'Not exported. ' if formats is not None else ''}A run that does not pass"
                " is exported only with Export anyway (f)[/], as `export --force` does."
            )
        if not passed and formats is not None:
            self.notify(
                f"{run} was not exported: it did not pass the release check. "
                "Export anyway (f) exports it regardless.",
                title="Not exported",
                severity="warning",
                timeout=10,
            )
        self.query_one("#check-result", Static).update(shown)
        if passed and formats and run:
            self._start_export(run, formats)

    def _show_last_check(self, run: str | None) -> None:
        from assistant_builder.compare.release_check import last_check

        if run != self.refused:
            self.query_one("#export-anyway", Button).add_class("hidden")
        box = self.query_one("#check-result", Static)
        found = last_check(self.ws, run) if run else None
        if found is None:
            box.update(
                "No release check of this run yet: e checks it before exporting, c checks only."
                if run
                else ""
            )
            return
        box.update(check_markup(found, saved=Path(found["path"]).stem))


def _rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def check_markup(result: dict[str, Any], saved: str | None = None) -> str:
    """The verdict as the screen shows it: PASS/FAIL, its reasons, then the figures."""
    when = f" (saved {saved})" if saved else ""
    against = result.get("against") or "nothing exported yet"
    head = f"Release check of {result['run']} against {against}{when}: "
    if result["passed"]:
        lines = [head + "[b $text-success]✓ PASS[/]"]
    else:
        lines = [head + "[b $text-error]✗ FAIL[/]"]
        lines += [f"  • {escape(r)}" for r in result["reasons"]]
    g, prev = result.get("golden_rouge_l"), result.get("previous_rouge_l")
    golden = f"golden ROUGE-L {g:.3f}" if g is not None else "golden set"
    if prev is not None:
        golden += f" (last export {prev:.3f})"
    fr, oos = result["false_refusals"], result["out_of_scope"]
    lines.append(
        f"{golden} · {len(result.get('regressions', []))} regressed · "
        f"false refusals {_rate(fr['rate'])} of {fr['n']} · "
        f"out-of-scope reply {_rate(oos['rate'])} of {oos['n']} probes"
        + ("" if oos.get("gated", True) else " (not gated)")
    )
    return "\n".join(lines)
