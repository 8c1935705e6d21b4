"""Review, under Compare: the rated pairs (with their verdict and note), and a reviewer turns
one into a training row (with the corrected answer) or a golden question, or writes a free
question and its answer. The list is ``compare.review``; the promotion is the same
``compare.promote.promote`` the ``promote`` command calls."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Static, TextArea

from assistant_builder.runs import BASE
from assistant_builder.tui.common import StageScreen

VERDICTS = {"tie": "tie", "both_bad": "both bad"}
TARGET_WORDS = {"dataset": "a training row", "golden": "a golden question"}
KIND_WORDS = {
    "correction": "the correction in the rating's note",
    "preferred": "the answer the rater preferred",
}


def _verdict(pair: Any) -> str:
    """The verdict un-blinded: which model won, or tie / both bad."""
    if pair.verdict in ("A", "B"):
        model = pair.models[0 if pair.verdict == "A" else 1]
        return "base won" if model == BASE else "tuned won"
    return VERDICTS.get(pair.verdict, pair.verdict)


class ReviewScreen(StageScreen):
    STAGE = "compare"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+t", "promote('dataset')", "Training row"),
        Binding("ctrl+g", "promote('golden')", "Golden question"),
        Binding("ctrl+n", "new_question", "New question"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pairs: dict[str, Any] = {}  # row key → compare.review.RatedPair
        self.selected: Any = None  # the RatedPair in the editor; None: a free question

    def compose_body(self) -> ComposeResult:
        with Vertical(id="review-body"):
            yield DataTable(id="review-items", cursor_type="row", zebra_stripes=True)
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
        self.query_one("#review-editor").border_title = "Promote"
        self.refresh_status()
        self.reload()
        table.focus()

    def reload(self) -> None:
        self.guarded("reading the ratings", self._load)

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
            self._show(list(self.pairs.values())[table.cursor_row])  # rows in dict order
        else:
            table.border_subtitle = "no rated pairs yet: rate some on Compare"
            self.action_new_question()

    @on(DataTable.RowHighlighted, "#review-items")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        pair = self.pairs.get(str(event.row_key.value))
        # Only the reviewer's own moves: a reload moves the cursor too, and must not replace
        # a free question being written.
        if pair is not None and event.data_table.has_focus:
            self._show(pair)

    def _show(self, pair: Any) -> None:
        self.selected = pair
        question = self.query_one("#review-question", Input)
        question.value, question.disabled = pair.question, True
        self.query_one("#review-answer", TextArea).text = pair.answer
        rated = f"pair {pair.pair_id}, rated {_verdict(pair)} by {pair.rater}"
        if pair.answer:
            how = f"{rated}. The answer is {KIND_WORDS[pair.answer_kind]}; edit it to correct it."
        else:
            how = f"{rated}, with no correction: write the right answer."
        self.query_one("#review-source", Static).update(how)

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
        pair = self.selected
        if not answer:
            self.notify("Write the answer first: it is what the row teaches.", severity="warning")
            return
        try:
            if pair is not None:
                # Unchanged, the core takes the rated answer itself (and says so in provenance).
                given = None if pair.answer and answer == pair.answer.strip() else answer
                result = promote(
                    self.ws, pair_id=pair.pair_id, answer=given, to=to, reviewer=self.abapp.rater
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
