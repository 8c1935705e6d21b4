"""Sources: add files or folders, see what was extracted from each file (with file and lines)
and what was skipped and why."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    DataTable,
    DirectoryTree,
    Input,
    ProgressBar,
    Static,
    TabbedContent,
    TabPane,
)

from assistant_builder.events import Progress
from assistant_builder.status import display_path
from assistant_builder.tui.common import StageScreen
from assistant_builder.workspace import read_jsonl


def _short(text: str, n: int = 70) -> str:
    one = " ".join(str(text).split())
    return one if len(one) <= n else one[: n - 1] + "…"


def _lines(item: dict[str, Any]) -> str:
    if item.get("page"):
        return f"p.{item['page']}"
    a, b = item.get("line_start"), item.get("line_end")
    if a is None:
        return ""
    return f"{a}" if b in (None, a) else f"{a}-{b}"


class SourcesScreen(StageScreen):
    STAGE = "sources"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "ingest", "Ingest"),
        Binding("p", "focus_path", "Path"),
        Binding("t", "focus_tree", "Tree"),
        Binding("f", "show_tab('files')", "Files", show=False),
        Binding("k", "show_tab('skipped')", "Skipped"),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="toolbar"):
            yield Input(
                placeholder="File or folder to add (Enter ingests it)", id="path", compact=True
            )
            yield Button("Ingest", id="ingest", variant="primary", compact=True)
        yield ProgressBar(id="progress", show_eta=False, classes="hidden")
        yield Static("", id="sources-status", classes="status")
        with Horizontal(id="sources-body"):
            with Vertical(id="picker", classes="panel"):
                yield DirectoryTree(self.abapp.browse_root, id="tree")
            with TabbedContent(id="results", classes="panel"):
                with TabPane("Files", id="files"):
                    yield DataTable(id="files-table", cursor_type="row", zebra_stripes=True)
                with TabPane("Extracted", id="preview"):
                    yield DataTable(id="preview-table", cursor_type="row")
                with TabPane("Skipped", id="skipped"):
                    yield DataTable(id="skipped-table", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#picker").border_title = "Pick a file or folder"
        files = self.query_one("#files-table", DataTable)
        files.add_columns("File", "Format", "Pairs", "Sections")
        self.query_one("#preview-table", DataTable).add_columns(
            "Lines", "Kind", "Question", "Answer"
        )
        self.query_one("#skipped-table", DataTable).add_columns("File", "Line", "Reason")
        self.refresh_status()
        self.reload()
        table = self.query_one("#files-table", DataTable)
        demo = self.ws.root / "demo-data"
        if not table.row_count and demo.is_dir():
            # A demo workspace: its starter files are one Enter away.
            self._pick(demo.resolve())
            self.query_one("#path", Input).focus()
        else:
            (table if table.row_count else self.query_one(DirectoryTree)).focus()

    # -- data --------------------------------------------------------------------------
    def reload(self) -> None:
        self.guarded("reading the sources", self._fill)

    def _fill(self) -> None:
        from assistant_builder.sources.ingest import load_index

        files = self.query_one("#files-table", DataTable)
        files.clear()
        index = load_index(self.ws)["files"]
        for key, e in index.items():
            files.add_row(
                display_path(self.ws, e["path"]), e["format"], e["pairs"], e["sections"], key=key
            )
        skipped = self.query_one("#skipped-table", DataTable)
        skipped.clear()
        last = self.abapp.last_ingest or {}
        rows: list[dict[str, Any]] = list(last.get("skipped", []))  # type: ignore[call-overload]
        for s in rows:
            skipped.add_row(display_path(self.ws, s["path"]), s.get("line", ""), s["reason"])
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("skipped").label = f"Skipped ({len(rows)})"  # type: ignore[assignment]
        tabs.get_tab("files").label = f"Files ({len(index)})"  # type: ignore[assignment]
        status = self.query_one("#sources-status", Static)
        if not index:
            status.update("Nothing ingested yet: type a path above or pick one on the left.")
        else:
            pairs = sum(e["pairs"] for e in index.values())
            sections = sum(e["sections"] for e in index.values())
            status.update(
                f"{len(index)} files · {pairs} Q/A pairs · {sections} prose sections"
                " · Enter: preview"
            )

    def show_preview(self, key: str) -> None:
        from assistant_builder.sources.ingest import load_index

        entry = load_index(self.ws)["files"].get(key)
        if entry is None:
            return
        table = self.query_one("#preview-table", DataTable)
        table.clear()
        path = self.ws.sources_dir / "items" / f"{entry['sha256']}.jsonl"
        for i, item in enumerate(read_jsonl(path) if path.is_file() else []):
            if item.get("kind") == "pair":
                q, a = item["question"], item["answer"]
            else:
                q = " › ".join(item.get("heading_path") or []) or "(section)"
                a = item.get("text", "")
            table.add_row(_lines(item), item.get("kind", ""), _short(q, 40), _short(a), key=str(i))
        tabs = self.query_one(TabbedContent)
        name = Path(entry["path"]).name
        tabs.get_tab("preview").label = f"Extracted: {name}"  # type: ignore[assignment]
        tabs.active = "preview"
        table.focus()

    @on(DataTable.RowSelected, "#files-table")
    def _file_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.guarded("showing the file", lambda: self.show_preview(str(event.row_key.value)))

    # -- picking -----------------------------------------------------------------------
    def _pick(self, path: Path) -> None:
        try:
            shown = os.path.relpath(path, Path.cwd())
        except ValueError:  # another drive on Windows
            shown = str(path)
        if shown.startswith(".."):
            shown = str(path)
        self.query_one("#path", Input).value = shown

    @on(DirectoryTree.FileSelected)
    def _tree_file(self, event: DirectoryTree.FileSelected) -> None:
        self._pick(event.path)

    @on(DirectoryTree.DirectorySelected)
    def _tree_dir(self, event: DirectoryTree.DirectorySelected) -> None:
        self._pick(event.path)

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#ingest")
    def action_ingest(self) -> None:
        raw = self.query_one("#path", Input).value.strip()
        if not raw:
            self.notify(
                "Type a path or pick a file or folder on the left first.", severity="warning"
            )
            self.query_one("#path", Input).focus()
            return
        path = Path(raw).expanduser()
        if not path.exists():
            self.notify(f"{raw}: no such file or folder", title="Cannot ingest", severity="error")
            return
        from assistant_builder.sources.ingest import ingest_paths

        self.query_one("#ingest", Button).disabled = True
        self.run_stage(
            "ingest", lambda on_event: ingest_paths(self.ws, [path], on_event=on_event), "ingesting"
        )

    def stage_progress(self, stage: str, ev: Progress) -> None:
        super().stage_progress(stage, ev)
        if ev.message and ev.message != "done":
            text = ev.message.removeprefix("parsing ")
            self.query_one("#sources-status", Static).update(
                f"parsing {display_path(self.ws, text)}"
            )

    def stage_done(self, stage: str, result: Any) -> None:
        self.query_one("#ingest", Button).disabled = False
        if result is not None:
            report = result.to_json()
            self.abapp.last_ingest = report
            skipped = len(report["skipped"])
            self.notify(
                f"{report['documents']} documents: {report['pairs']} Q/A pairs, "
                f"{report['sections']} prose sections"
                + (f"; {skipped} skipped (k)" if skipped else ""),
                title="Ingested",
            )
        self.refresh_status()
        self.reload()

    # -- navigation --------------------------------------------------------------------
    def action_focus_path(self) -> None:
        self.query_one("#path", Input).focus()

    def action_focus_tree(self) -> None:
        self.query_one(DirectoryTree).focus()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        table_id = {"files": "#files-table", "skipped": "#skipped-table"}.get(tab)
        if table_id:
            self.query_one(table_id, DataTable).focus()
