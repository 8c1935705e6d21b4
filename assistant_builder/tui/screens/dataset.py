"""Dataset: the conversations in a table with search and filters; open one to edit it;
approve or reject; rebuild (which also writes questions for prose sections); stats."""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static, TextArea

from assistant_builder.dataset.review import Example, review_view
from assistant_builder.events import Progress
from assistant_builder.status import display_path
from assistant_builder.tui.common import StageScreen

STATE_STYLE = {"approved": "green", "rejected": "red", "edited": "cyan", "stale": "yellow"}


class EditScreen(ModalScreen[dict[str, Any] | None]):
    """Edit one example. Returns the review to record, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        # priority: the text areas would otherwise take these keys for themselves
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+a", "review('approved')", "Approve", priority=True),
        Binding("ctrl+r", "review('rejected')", "Reject", priority=True),
    ]

    def __init__(self, ex: Example) -> None:
        super().__init__()
        self.ex = ex

    def compose(self) -> ComposeResult:
        ex = self.ex
        where = f"{ex.source}:{ex.lines}" if ex.lines else ex.source
        with Vertical(id="editor"):
            yield Static(f"[b]{where}[/b] · made: {ex.how} · state: {ex.state} · {ex.split}")
            yield Label("Question")
            yield TextArea(ex.question, id="question", soft_wrap=True)
            yield Label("Answer")
            yield TextArea(ex.answer, id="answer", soft_wrap=True)
            with Horizontal(classes="toolbar"):
                yield Button("Save ^s", id="save", variant="primary", compact=True)
                yield Button("Approve ^a", id="approve", variant="success", compact=True)
                yield Button("Reject ^r", id="reject", variant="error", compact=True)
                yield Button("Cancel esc", id="cancel", compact=True)

    def _texts(self) -> tuple[str, str]:
        return (
            self.query_one("#question", TextArea).text.strip(),
            self.query_one("#answer", TextArea).text.strip(),
        )

    def action_save(self) -> None:
        q, a = self._texts()
        if (q, a) == (self.ex.question, self.ex.answer):
            self.dismiss(None)
        elif not q or not a:
            self.notify("Question and answer must not be empty.", severity="error")
        else:
            self.dismiss({"review": "edited", "question": q, "answer": a})

    def action_review(self, review: str) -> None:
        q, a = self._texts()
        result: dict[str, Any] = {"review": review}
        if (q, a) != (self.ex.question, self.ex.answer) or self.ex.has_text_edit:
            result.update(question=q, answer=a)  # an approval must not drop an earlier edit
        self.dismiss(result)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        actions = {"save": self.action_save, "cancel": lambda: self.dismiss(None)}
        if event.button.id in actions:
            actions[event.button.id]()
        elif event.button.id in ("approve", "reject"):
            self.action_review("approved" if event.button.id == "approve" else "rejected")


class DatasetScreen(StageScreen):
    STAGE = "dataset"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search", show=False),  # the search box says so
        Binding("enter", "edit", "Edit", show=True),
        Binding("a", "review('approved')", "Approve"),
        Binding("x", "review('rejected')", "Reject"),
        Binding("r", "rebuild('template')", "Rebuild"),
        Binding("g", "rebuild('model')", "Model Qs"),
        Binding("c", "clear_filters", "Clear filters", show=False),
        # Shown in the status line when the row has redactions (keeps the footer short).
        Binding("u", "unredact", "Keep redacted text", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.examples: list[Example] = []
        self.shown: list[Example] = []
        self.redactions: dict[str, list[dict[str, Any]]] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="filters", classes="toolbar"):
            yield Input(placeholder="/ search", id="search", compact=True)
            yield Select([], prompt="any source", id="f-source", compact=True)
            yield Select([], prompt="any state", id="f-state", compact=True)
            yield Select([], prompt="made any way", id="f-how", compact=True)
        yield ProgressBar(id="progress", show_eta=False, classes="hidden")
        yield DataTable(id="conversations", cursor_type="row", zebra_stripes=True, classes="panel")
        yield Static(id="stats", classes="status")

    def on_mount(self) -> None:
        table = self.query_one("#conversations", DataTable)
        table.add_column("State", width=8)
        table.add_column("Made", width=9)
        table.add_column("Split", width=5)
        table.add_column("Question", key="question")
        table.add_column("Source", key="source")
        self.refresh_status()
        self.reload()
        table.focus()

    def reload(self) -> None:
        self.guarded("reading the dataset", self._load)

    def _load(self) -> None:
        from assistant_builder.dataset.redact import row_redactions

        self.examples = review_view(self.ws)
        for ex in self.examples:  # sources as short as they can be said on screen
            ex.source = display_path(self.ws, ex.source) if ex.source else ""
        self.redactions = row_redactions(self.ws)
        for sel_id, values in (
            ("#f-source", sorted({e.source for e in self.examples if e.source})),
            ("#f-state", ["new", "approved", "edited", "rejected", "stale"]),
            ("#f-how", sorted({e.how for e in self.examples})),
        ):
            select = self.query_one(sel_id, Select)
            keep = select.value
            select.set_options([(v, v) for v in values])
            if isinstance(keep, str) and keep in values:
                select.value = keep
        self.apply_filters()

    def _filter_value(self, sel_id: str) -> str | None:
        value = self.query_one(sel_id, Select).value
        return value if isinstance(value, str) else None

    def apply_filters(self) -> None:
        needle = self.query_one("#search", Input).value.strip().lower()
        source, state, how = (self._filter_value(s) for s in ("#f-source", "#f-state", "#f-how"))
        self.shown = [
            e
            for e in self.examples
            if (not needle or e.matches(needle))
            and (source is None or e.source == source)
            and (state is None or e.state == state)
            and (how is None or e.how == how)
        ]
        table = self.query_one("#conversations", DataTable)
        row = table.cursor_row
        table.clear()
        # Keyed by position: the id is not unique across a dataset's rows (paraphrases share it).
        for n, e in enumerate(self.shown):
            style = STATE_STYLE.get(e.state)
            state = f"[{style}]{e.state}[/]" if style else e.state
            where = f"{e.source}:{e.lines}" if e.lines else e.source
            table.add_row(state, e.how, e.split, e.question, where, key=str(n))
        if self.shown:
            table.move_cursor(row=min(row, len(self.shown) - 1))
        self._stats()

    def _stats(self) -> None:
        ex = self.examples
        stats = self.query_one("#stats", Static)
        if not ex:
            stats.update("No dataset yet: press r to build it from the sources.")
            return
        split = Counter(e.split for e in ex)
        states = Counter(e.state for e in ex)
        reviewed = ", ".join(f"{k} {v}" for k, v in sorted(states.items()) if k != "new")
        stats.update(
            f"{len(self.shown)} of {len(ex)} shown · train {split['train']} · eval {split['eval']}"
            + (f" · {reviewed}" if reviewed else " · none reviewed")
            + " · Enter: edit"
            + self._redaction_line()
        )

    def _redaction_line(self) -> str:
        """What redaction replaced in the highlighted row, and how to undo a false positive."""
        ex = self.current() if self.is_mounted else None
        found = self.redactions.get(ex.id, []) if ex else []
        if not found:
            return ""
        shown = ", ".join(f"{f['placeholder']} ← {f['found']}" for f in found[:3])
        more = f" (+{len(found) - 3})" if len(found) > 3 else ""
        return f" · redacted: {shown}{more} (u: keep them)"

    @on(DataTable.RowHighlighted, "#conversations")
    def _row_highlighted(self) -> None:
        if self.examples:
            self._stats()

    def action_unredact(self) -> None:
        """A false positive: put the row's replaced values on the workspace allow-list."""
        ex = self.current()
        found = self.redactions.get(ex.id, []) if ex else []
        if not found:
            self.notify("Nothing was redacted in this row.", timeout=3)
            return
        from assistant_builder.dataset.redact import add_allowed

        values = sorted({f["found"] for f in found})

        def save() -> None:
            add_allowed(self.ws, values)

        self.guarded("saving the allow-list", save)
        self.notify(f"Allowed: {', '.join(values)}; rebuilding", timeout=4)
        self.action_rebuild()

    @on(Input.Changed, "#search")
    @on(Select.Changed)
    def _filters_changed(self) -> None:
        self.apply_filters()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one("#conversations", DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear_filters(self) -> None:
        self.query_one("#search", Input).value = ""
        for sel_id in ("#f-source", "#f-state", "#f-how"):
            self.query_one(sel_id, Select).clear()

    # -- review ------------------------------------------------------------------------
    def current(self) -> Example | None:
        table = self.query_one("#conversations", DataTable)
        if not self.shown or table.cursor_row < 0:
            return None
        return self.shown[min(table.cursor_row, len(self.shown) - 1)]

    @on(DataTable.RowSelected, "#conversations")
    def action_edit(self) -> None:
        ex = self.current()
        if ex is None:
            return

        def done(result: dict[str, Any] | None) -> None:
            if result:
                self.record(ex, result)

        self.app.push_screen(EditScreen(ex), done)

    def action_review(self, review: str) -> None:
        ex = self.current()
        if ex is None:
            return
        result: dict[str, Any] = {"review": review}
        if ex.has_text_edit:
            result.update(question=ex.question, answer=ex.answer)
        self.record(ex, result)

    def record(self, ex: Example, result: dict[str, Any]) -> None:
        from assistant_builder.dataset.build import record_edit

        def write() -> None:
            record_edit(self.ws, ex.id, sha256=ex.sha256, **result)
            self.notify(f"{result['review']}: {ex.question[:50]}", timeout=3)
            self._load()
            self.refresh_status()

        self.guarded("saving the review", write)

    # -- rebuild -----------------------------------------------------------------------
    def action_rebuild(self, strategy: str = "template") -> None:
        """Rebuild the split. 'model': the local model writes questions for prose sections
        (slow, so the progress bar counts them); 'template': questions from the headings."""
        from assistant_builder.dataset.build import BuildOptions, build_dataset

        opts = BuildOptions(question_strategy=strategy)
        self.run_stage(
            "build",
            lambda on_event: build_dataset(self.ws, opts, on_event=on_event),
            "building the dataset",
        )

    def stage_progress(self, stage: str, ev: Progress) -> None:
        super().stage_progress(stage, ev)
        if ev.message:
            self.query_one("#stats", Static).update(ev.message)

    def stage_done(self, stage: str, result: Any) -> None:
        if result is not None:
            report = result.to_json()
            dropped = ", ".join(f"{k} {v}" for k, v in report["dropped"].items()) or "none"
            self.notify(
                f"{report['train']} train, {report['eval']} eval; dropped: {dropped}",
                title="Dataset built",
            )
        self.refresh_status()
        self.reload()
