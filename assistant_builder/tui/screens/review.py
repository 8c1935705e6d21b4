"""Review, under Compare: the rated pairs (with their verdict and note) and the served
conversations (each turn with its feedback and the run that answered, redacted as everything
that leaves the log is), and a reviewer turns one into a training row (with the corrected
answer) or a golden question, or writes a free question and its answer. The lists are
``compare.review`` and ``serve.review``; the promotions are the same ``compare.promote.promote``
and ``serve.review.promote_served`` the ``promote`` command calls."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Static, TabbedContent, TabPane, TextArea

from assistant_builder.runs import BASE
from assistant_builder.tui.common import StageScreen

VERDICTS = {"tie": "tie", "both_bad": "both bad"}
TARGET_WORDS = {"dataset": "a training row", "golden": "a golden question"}
KIND_WORDS = {
    "correction": "the correction in the rating's note",
    "preferred": "the answer the rater preferred",
}
SERVED_KIND_WORDS = {
    "correction": "the correction given with the thumbs-down",
    "served reply (thumbs-up)": "the served reply, which got a thumbs-up",
}


def _verdict(pair: Any) -> str:
    """The verdict un-blinded: which model won, or tie / both bad."""
    if pair.verdict in ("A", "B"):
        model = pair.models[0 if pair.verdict == "A" else 1]
        return "base won" if model == BASE else "tuned won"
    return VERDICTS.get(pair.verdict, pair.verdict)


def _thread(turns: list[Any], selected: Any) -> Text:
    """A served conversation as the reviewer reads it: each turn's question, reply, feedback
    and sources, the selected turn marked."""
    first = turns[0]
    out = Text()
    out.append(f"{first.conversation}\n", style="bold")
    runs = sorted({t.run for t in turns})
    out.append(f"answered by {', '.join(runs)} · {first.created[:16].replace('T', ' ')}\n")
    for t in turns:
        mark = "▶ " if t.turn == selected.turn else "  "
        style = "bold" if t.turn == selected.turn else ""
        out.append(f"\n{mark}{t.turn}. Q: ", style=style)
        out.append(f"{t.question}\n", style=style)
        out.append("   A: ", style="dim")
        out.append(f"{t.reply}\n", style=style)
        for rating, correction in t.feedback:
            out.append(f"   {'thumbs up' if rating == 'up' else 'thumbs down'}", style="italic")
            out.append(f": {correction}\n" if correction else "\n", style="italic")
        if t.sources:
            out.append(f"   sources: {'; '.join(t.sources)}\n", style="dim")
    return out


class ReviewScreen(StageScreen):
    STAGE = "compare"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+t", "promote('dataset')", "Training row"),
        Binding("ctrl+g", "promote('golden')", "Golden question"),
        Binding("ctrl+n", "new_question", "New question"),
        Binding("ctrl+l", "switch_list", "Pairs / served"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pairs: dict[str, Any] = {}  # row key → compare.review.RatedPair
        self.served: dict[str, Any] = {}  # row key → serve.review.ServedTurn
        # The RatedPair or ServedTurn in the editor; None: a free question.
        self.selected: Any = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="review-body"):
            with TabbedContent(id="review-lists"):
                with TabPane("Rated pairs", id="pairs"):
                    yield DataTable(id="review-items", cursor_type="row", zebra_stripes=True)
                with TabPane("Served conversations", id="served"), Horizontal(id="served-body"):
                    yield DataTable(id="served-items", cursor_type="row", zebra_stripes=True)
                    with VerticalScroll(id="served-thread-box", classes="panel"):
                        yield Static("", id="served-thread")
            with Vertical(id="review-editor", classes="panel"):
                yield Static("", id="review-source", classes="hint")
                yield Input(id="review-question", placeholder="question", compact=True)
                yield TextArea(id="review-answer")
                with Horizontal(classes="toolbar"):
                    yield Button("Training row ^t", id="to-dataset", variant="primary",
                                 compact=True)  # fmt: skip
                    yield Button("Golden question ^g", id="to-golden", compact=True)
                    yield Button("New question ^n", id="new-question", compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#review-items", DataTable)
        table.border_title = "Rated pairs (newest first)"
        table.add_columns("verdict", "question", "note", "promoted to")
        served = self.query_one("#served-items", DataTable)
        served.border_title = "Served turns (newest conversation first)"
        # The question last: a long one runs past the table's edge, not the promotion state.
        served.add_columns("conversation", "turn", "feedback", "promoted to", "question")
        self.query_one("#served-thread-box").border_title = "Conversation"
        self.query_one("#review-editor").border_title = "Promote"
        self.refresh_status()
        self.reload()
        if not self.pairs and self.served:  # nothing rated yet, but customers were served
            self.action_switch_list()
        elif self.pairs:
            table.focus()

    def reload(self) -> None:
        self.guarded("reading the ratings", self._load)
        self.guarded("reading the served conversations", self._load_served)
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("pairs").label = f"Rated pairs ({len(self.pairs)})"  # type: ignore[assignment]
        tabs.get_tab("served").label = (  # type: ignore[assignment]
            f"Served conversations ({len(self.served)})"
        )
        self._show_current()

    def _load(self) -> None:
        from assistant_builder.compare.review import rated_pairs

        table = self.query_one("#review-items", DataTable)
        keep = table.cursor_row
        table.clear()
        self.pairs = {}
        for pair in rated_pairs(self.ws):
            key = f"pair:{pair.pair_id}"
            self.pairs[key] = pair
            table.add_row(
                _verdict(pair), pair.question, pair.note, ", ".join(pair.promoted), key=key
            )
        if self.pairs:
            table.move_cursor(row=min(keep, len(self.pairs) - 1))
        else:
            table.border_subtitle = "no rated pairs yet: rate some on Compare"

    def _load_served(self) -> None:
        from assistant_builder.serve.review import served_turns

        table = self.query_one("#served-items", DataTable)
        keep = table.cursor_row
        table.clear()
        self.served = {}
        for t in served_turns(self.ws):
            key = f"served:{t.conversation}:{t.turn}"
            self.served[key] = t
            table.add_row(t.conversation[:8], f"{t.turn}/{t.turns}", t.verdict,
                          ", ".join(t.promoted), t.question, key=key)  # fmt: skip
        if self.served:
            table.move_cursor(row=min(keep, len(self.served) - 1))
        else:
            table.border_subtitle = "none yet: `assistant-builder serve` logs them"
            self.query_one("#served-thread", Static).update("")

    def _show_current(self) -> None:
        """The editor follows the shown list's cursor; with an empty list, a free question."""
        served = self.query_one(TabbedContent).active == "served"
        items, table = (self.served, "#served-items") if served else (self.pairs, "#review-items")
        if served and self.served:
            # The thread panel shows the cursor's conversation even before it is promoted.
            self._thread_of(list(self.served.values())[self.query_one(table, DataTable).cursor_row])
        if items:
            row = self.query_one(table, DataTable).cursor_row
            self._show(list(items.values())[row])  # rows in dict order
        else:
            self.action_new_question()

    def action_switch_list(self) -> None:
        tabs = self.query_one(TabbedContent)
        served = tabs.active != "served"
        # No focus left in the pane being hidden: TabbedContent would show that pane again.
        self.set_focus(None)
        tabs.active = "served" if served else "pairs"
        if self.served if served else self.pairs:
            table = self.query_one("#served-items" if served else "#review-items", DataTable)
            # After the switch has shown it: focus on a hidden pane's widget would switch back.
            self.call_after_refresh(table.focus)

    @on(TabbedContent.TabActivated, "#review-lists")
    def _tab_activated(self) -> None:
        self._show_current()

    @on(DataTable.RowHighlighted, "#review-items")
    @on(DataTable.RowHighlighted, "#served-items")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = str(event.row_key.value)
        item = self.pairs.get(key) or self.served.get(key)
        # Only the reviewer's own moves: a reload moves the cursor too, and must not replace
        # a free question being written.
        if item is not None and event.data_table.has_focus:
            self._show(item)

    def _thread_of(self, turn: Any) -> None:
        turns = [t for t in self.served.values() if t.conversation == turn.conversation]
        self.query_one("#served-thread", Static).update(_thread(turns, turn))

    def _show(self, item: Any) -> None:
        self.selected = item
        question = self.query_one("#review-question", Input)
        question.value, question.disabled = item.question, True
        self.query_one("#review-answer", TextArea).text = item.answer
        if item.source.startswith("promoted:conversation:"):
            self._thread_of(item)
            how = self._served_hint(item)
        else:
            rated = f"pair {item.pair_id}, rated {_verdict(item)} by {item.rater}"
            if item.answer:
                kind = KIND_WORDS[item.answer_kind]
                how = f"{rated}. The answer is {kind}; edit it to correct it."
            else:
                how = f"{rated}, with no correction: write the right answer."
        self.query_one("#review-source", Static).update(how)

    @staticmethod
    def _served_hint(turn: Any) -> str:
        served = (
            f"conversation {turn.conversation[:8]}, turn {turn.turn} of {turn.turns}, "
            f"answered by {turn.run}"
        )
        if turn.answer:
            kind = SERVED_KIND_WORDS[turn.answer_kind]
            how = f"{served}. The answer is {kind}; edit it to correct it."
        else:
            how = f"{served}, {turn.answer_kind}: write the right answer."
        if turn.turn > 1:
            how += " It follows earlier turns: the row keeps this question alone."
        return how

    def action_new_question(self) -> None:
        """A free question: the reviewer writes the question and its answer."""
        self.selected = None
        question = self.query_one("#review-question", Input)
        question.value, question.disabled = "", False
        self.query_one("#review-answer", TextArea).text = ""
        self.query_one("#review-source", Static).update(
            "A question of your own: write it and its answer, then promote it."
        )
        question.focus()

    @on(Button.Pressed, "#new-question")
    def _new_pressed(self) -> None:
        self.action_new_question()

    @on(Button.Pressed, "#to-dataset")
    def _to_dataset(self) -> None:
        self.action_promote("dataset")

    @on(Button.Pressed, "#to-golden")
    def _to_golden(self) -> None:
        self.action_promote("golden")

    def action_promote(self, to: str) -> None:
        from assistant_builder.compare.promote import promote

        answer = self.query_one("#review-answer", TextArea).text.strip()
        item = self.selected
        if not answer:
            self.notify("Write the answer first: it is what the row teaches.", severity="warning")
            return
        # Unchanged, the core takes the rated or served answer itself (and says so in
        # provenance).
        given = None if item is not None and item.answer and answer == item.answer.strip() else (
            answer)  # fmt: skip
        try:
            if item is not None and item.source.startswith("promoted:conversation:"):
                from assistant_builder.serve.review import promote_served

                result = promote_served(self.ws, item.conversation, item.turn, given, to=to,
                                        reviewer=self.abapp.rater)  # fmt: skip
            elif item is not None:
                result = promote(
                    self.ws, pair_id=item.pair_id, answer=given, to=to, reviewer=self.abapp.rater
                )
            else:
                question = self.query_one("#review-question", Input).value
                result = promote(
                    self.ws, question=question, answer=answer, to=to, reviewer=self.abapp.rater
                )
        except Exception as e:
            self.fail("promoting", e)
            return
        self._promoted(to, result)

    def _promoted(self, to: str, result: dict[str, Any]) -> None:
        again = " (it replaced the earlier one)" if result["replaced"] else ""
        then = " It joins the training data at the next dataset rebuild (2, r)." if to == (
            "dataset") else " eval and the release check ask it from now on."  # fmt: skip
        self.notify(
            f"{result['row']['question']!r} is now {TARGET_WORDS[to]}{again}.{then}",
            title="Promoted",
        )
        free = self.selected is None
        self.reload()
        if free:
            self.action_new_question()  # ready for the next one

    def action_back(self) -> None:
        self.dismiss()
