"""Compare: blind A/B rating of base and tuned answers, streamed side by side.

For each question the core's blind-pair answerer (``compare.pair``, the engine, answer cache and
answer budget ``compare`` uses) draws which model is shown as A, streams the two answers into the
panes and stores the pair in ratings.db; and one key records the verdict (a, b, t, x) with
optional 1-5 scores and a note. Only then are the models named. The summary shows win rates
with 95% intervals and reference metrics over the rated pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from assistant_builder.runs import BASE, tuned_name
from assistant_builder.tui.common import StageScreen

VERDICT_WORDS = {"A": "A is better", "B": "B is better", "tie": "a tie", "both_bad": "both bad"}


@dataclass
class Item:
    question: str
    reference: str = ""
    source: str | None = None
    pair_id: int | None = None
    revealed: tuple[str, str, str] | None = None  # (model_a, model_b, verdict)
    own: bool = False


class CompareScreen(StageScreen):
    STAGE = "compare"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "verdict('A')", "A"),
        Binding("b", "verdict('B')", "B"),
        Binding("t", "verdict('tie')", "Tie"),
        Binding("x", "verdict('both_bad')", "Both bad"),
        Binding("u", "undo", "Undo"),
        Binding("o", "ask", "Ask"),
        Binding("r", "review", "Review"),
        Binding("s", "systems", "Systems", show=False),
        Binding("g", "answer", "Answer", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Item] = []
        self.run_id: str | None = None
        self.store: Any = None
        self.answerer: Any = None  # compare.pair.PairAnswerer of the current run
        self.pairing = 0  # which compare.pair.PAIRINGS the blind pairs pit (s cycles)
        self.busy = False

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="compare-top"):
            yield OptionList(id="questions")
            yield Static(id="summary", classes="panel")
        with Horizontal(classes="toolbar"):
            yield Input(placeholder="o: ask both models your own question", id="ask", compact=True)
        with Horizontal(id="panes"):
            with VerticalScroll(id="pane-a", classes="pane"):
                yield Static(id="answer-a")
            with VerticalScroll(id="pane-b", classes="pane"):
                yield Static(id="answer-b")
        with Horizontal(id="rating-bar", classes="toolbar"):
            yield Label("score A")
            yield Input(id="score-a", classes="score", placeholder="1-5", compact=True)
            yield Label(" B")
            yield Input(id="score-b", classes="score", placeholder="1-5", compact=True)
            yield Input(id="note", placeholder="note (optional)", compact=True)

    def on_mount(self) -> None:
        self.query_one("#questions").border_title = "Questions (Enter: answer)"
        self.query_one("#summary").border_title = "Verdict"
        self.refresh_status()
        self.reload()
        self.query_one("#questions").focus()

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()
        if self.answerer is not None:
            self.answerer.close()

    # -- loading -----------------------------------------------------------------------
    def reload(self) -> None:
        self.guarded("reading the questions", self._load)

    def _load(self) -> None:
        from assistant_builder.compare.answers import eval_questions
        from assistant_builder.compare.ratings import RatingStore
        from assistant_builder.errors import UserError

        run_id = self.ws.latest_run()
        if run_id != self.run_id and self.answerer is not None:
            self.answerer.close()
            self.answerer = None
        self.run_id = run_id
        if self.store is None:
            self.store = RatingStore(self.ws.ratings_db)
        own = [i for i in self.items if i.own]
        try:
            qs = eval_questions(self.ws)
        except UserError:
            qs = []
        self.items = [Item(q.question, q.reference or "", q.source) for q in qs] + own
        if run_id is not None:
            self._attach_pairs(run_id)
        self._fill_list()
        self._summary()
        self._highlighted()

    def _attach_pairs(self, run_id: str) -> None:
        from assistant_builder.compare.pair import PAIRINGS, RETRIEVAL, system_model_name

        tuned = tuned_name(run_id)
        names = {system_model_name(run_id, s) for s in PAIRINGS[self.pairing]}

        def ours(row: dict[str, Any]) -> bool:
            models = {row["model_a"], row["model_b"]}
            if self.pairing == 0:  # base vs tuned, and the CLI's pairs against other runs
                return tuned in models and not any(m.endswith(RETRIEVAL) for m in models)
            return models == names

        by_q = {i.question: i for i in self.items}
        for row in self.store.ratings():
            if ours(row) and row["rater"] == self.abapp.rater:
                item = by_q.get(row["question"])
                if item is None:
                    item = Item(row["question"], row["reference"], row["source"], own=True)
                    self.items.append(item)
                    by_q[item.question] = item
                item.pair_id = row["pair_id"]
                item.revealed = (row["model_a"], row["model_b"], row["verdict"])
        # Stored but unrated pairs: matched by question (the blind view carries no model names).
        for pair in self.store.pending(self.abapp.rater):
            item = by_q.get(pair.question)
            if item is not None and item.pair_id is None:
                a, b = self.store.pair_models(pair.id)
                if ours({"model_a": a, "model_b": b}):
                    item.pair_id = pair.id

    def _fill_list(self) -> None:
        ol = self.query_one("#questions", OptionList)
        keep = ol.highlighted
        ol.clear_options()
        for i, item in enumerate(self.items):
            mark = "●" if item.revealed else ("◐" if item.pair_id else "○")
            suffix = "  (yours)" if item.own else ""
            ol.add_option(Option(f"{mark} {item.question}{suffix}", id=str(i)))
        if self.items:
            ol.highlighted = min(keep or 0, len(self.items) - 1)

    def _summary(self) -> None:
        panel = self.query_one("#summary", Static)
        if self.run_id is None:
            panel.update("Nothing to compare yet.")
            return
        from assistant_builder.metrics import score_answers

        tuned = tuned_name(self.run_id)
        o = self.store.verdict(tuned, BASE)["overall"]
        rated = sum(1 for i in self.items if i.revealed)
        lines = [f"rated {rated} of {len(self.items)} · rater {self.abapp.rater}"]
        if o["n"]:
            lo, hi = o["win"]["ci95"]
            lines.append(f"tuned wins {o['win']['rate']:.0%} (95% {lo:.0%}-{hi:.0%})")
            lines.append(self._out_of_scope())
            lines.append(
                f"ties {o['tie']['rate']:.0%} · losses {o['loss']['rate']:.0%}"
                f" · both bad {o['both_bad']['rate']:.0%}"
            )
            lines.append({"x_better": "→ tuned is better", "y_better": "→ base is better"}.get(
                o["conclusion"], "→ inconclusive so far"))  # fmt: skip
            rows = [r for r in self.store.ratings() if tuned in (r["model_a"], r["model_b"])]
            rows = [r for r in rows if r["reference"]]
            if rows:

                def side(name: str) -> float:
                    ans = [r["answer_a"] if r["model_a"] == name else r["answer_b"] for r in rows]
                    return score_answers(ans, [r["reference"] for r in rows])["rouge_l"]

                lines.append(f"ROUGE-L base {side(BASE):.2f} · tuned {side(tuned):.2f}")
        else:
            lines.append("a/b: which answer is better")
            lines.append("t: tie · x: both bad")
            lines.append(self._out_of_scope())
        panel.update("\n".join(lines))

    def _out_of_scope(self) -> str:
        """The hand-off rate on off-domain probes from the run's last release check: the check
        answers every probe and golden question with the model, too slow to redo per rating."""
        from assistant_builder.compare.release_check import last_check

        found = last_check(self.ws, self.run_id) if self.run_id else None
        if found is None:
            return "out-of-scope: not checked (5, c)"
        oos = found["out_of_scope"]
        if oos["rate"] is None:
            return "out-of-scope: no probes checked"
        return f"out-of-scope reply {oos['rate']:.0%} of {oos['n']}"

    # -- showing -----------------------------------------------------------------------
    def current(self) -> Item | None:
        ol = self.query_one("#questions", OptionList)
        if ol.highlighted is None or not self.items:
            return None
        return self.items[ol.highlighted]

    def _panes(self, a: str, b: str, title_a: str, title_b: str) -> None:
        self.query_one("#answer-a", Static).update(a)
        self.query_one("#answer-b", Static).update(b)
        self.query_one("#pane-a").border_title = title_a
        self.query_one("#pane-b").border_title = title_b

    def _titles(self, item: Item) -> tuple[str, str]:
        if not item.revealed:
            return "A", "B"
        model_a, model_b, verdict = item.revealed
        star = {"A": (" ★", ""), "B": ("", " ★")}.get(verdict, ("", ""))
        show = {BASE: "base"}
        return (
            f"A · {show.get(model_a, 'tuned')}{star[0]}",
            f"B · {show.get(model_b, 'tuned')}{star[1]}",
        )

    @on(OptionList.OptionHighlighted, "#questions")
    def _highlighted(self) -> None:
        item = self.current()
        if item is None or self.busy:
            return
        if self.run_id is None:
            self._panes("No trained run yet: train one first (3).", "", "A", "B")
        elif item.pair_id is None:
            self._panes("Press Enter to answer this question with both models.", "", "A", "B")
        else:
            pair = self.store.pair(item.pair_id)
            self._panes(pair.answer_a, pair.answer_b, *self._titles(item))

    @on(OptionList.OptionSelected, "#questions")
    def action_answer(self) -> None:
        item = self.current()
        if item is None or self.run_id is None:
            self.notify(
                "Train a run first: there is no tuned model to compare.", severity="warning"
            )
            return
        if item.pair_id is not None or self.busy:
            return
        self.busy = True
        self._panes("", "", "A", "B")
        self.generate(item, self.run_id)

    @work(thread=True, exclusive=True, group="generate")
    def generate(self, item: Item, run_id: str) -> None:
        from assistant_builder.compare.questions import Question

        texts = {"a": "", "b": ""}

        def piece(pane: str, text: str) -> None:
            texts[pane] += text
            self.app.call_from_thread(self._stream_to, pane, texts[pane] or "…")

        self.app.call_from_thread(self._stream_to, "a", "…")  # the model may load first
        try:
            if self.answerer is None:
                self.answerer = self.abapp.answerer_factory(self.ws, run_id)
            self._set_systems()
            question = Question(item.question, item.reference or None, item.source)
            pair = self.answerer.answer_pair(self.store, question, piece)
            item.pair_id = pair.id
            for pane, text in (("a", pair.answer_a), ("b", pair.answer_b)):
                self.app.call_from_thread(self._stream_to, pane, text)
        except Exception as e:
            self.fail_from_thread("answering", e)
        self.app.call_from_thread(self._generated)

    def _stream_to(self, pane: str, text: str) -> None:
        self.query_one(f"#answer-{pane}", Static).update(text)
        self.query_one(f"#pane-{pane}", VerticalScroll).scroll_end(animate=False)

    def _generated(self) -> None:
        self.busy = False
        self._fill_list()

    # -- rating ------------------------------------------------------------------------
    def _score(self, widget_id: str) -> int | None:
        raw = self.query_one(widget_id, Input).value.strip()
        if not raw:
            return None
        if not raw.isdigit() or not 1 <= int(raw) <= 5:
            raise ValueError(f"scores are whole numbers from 1 to 5, not {raw!r}")
        return int(raw)

    def action_verdict(self, verdict: str) -> None:
        item = self.current()
        if self.busy:
            self.notify("Wait for both answers, then rate them.", severity="warning")
            return
        if item is None or item.pair_id is None:
            self.notify("Answer a question first (Enter), then rate it.", severity="warning")
            return
        if item.revealed:
            self.notify("Already rated; u undoes your last rating.", severity="warning")
            return
        try:
            scores = self._score("#score-a"), self._score("#score-b")
            note = self.query_one("#note", Input).value.strip()
            reveal = self.store.rate(item.pair_id, self.abapp.rater, verdict, *scores, note=note)
        except Exception as e:
            self.fail("saving the rating", e)
            return
        item.revealed = (reveal.model_a, reveal.model_b, verdict)
        for wid in ("#score-a", "#score-b", "#note"):
            self.query_one(wid, Input).value = ""
        a_is = "base" if reveal.model_a == BASE else "tuned"
        b_is = "base" if reveal.model_b == BASE else "tuned"
        self.notify(f"You said {VERDICT_WORDS[verdict]}. A was {a_is}, B was {b_is}.")
        self._fill_list()
        self._summary()
        self._highlighted()
        self.query_one("#questions").focus()
        self._advance()

    def _advance(self) -> None:
        """Go to the next unrated question and start answering it (keeps rating flowing)."""
        ol = self.query_one("#questions", OptionList)
        start = ol.highlighted or 0
        for j in list(range(start + 1, len(self.items))) + list(range(start)):
            if not self.items[j].revealed:
                ol.highlighted = j
                if self.items[j].pair_id is None:
                    self.action_answer()
                return

    def action_undo(self) -> None:
        try:
            pair_id = self.store.undo_last(self.abapp.rater)
        except Exception as e:
            self.fail("undoing", e)
            return
        if pair_id is None:
            self.notify("Nothing to undo.", severity="warning")
            return
        for i, item in enumerate(self.items):
            if item.pair_id == pair_id:
                item.revealed = None
                self.query_one("#questions", OptionList).highlighted = i
        self.notify("Rating undone: rate it again.")
        self._fill_list()
        self._summary()
        self._highlighted()

    def _set_systems(self) -> None:
        from assistant_builder.compare.pair import PAIRINGS

        if self.answerer is not None and hasattr(self.answerer, "set_systems"):
            self.answerer.set_systems(PAIRINGS[self.pairing])

    def action_systems(self) -> None:
        """Pit the next two systems against each other (base vs tuned, tuned vs
        tuned+retrieval, ...): every question can be asked again for the new pairing."""
        from assistant_builder.compare.pair import PAIRINGS

        if self.busy:
            self.notify("Wait for both answers first.", severity="warning")
            return
        self.pairing = (self.pairing + 1) % len(PAIRINGS)
        self._set_systems()
        for item in self.items:
            item.pair_id, item.revealed = None, None
        self.reload()
        first, second = PAIRINGS[self.pairing]
        self.notify(f"Blind pairs now: {first} vs {second} (s: next pairing)")

    def action_review(self) -> None:
        """The rated pairs, to promote into training rows or golden questions."""
        from assistant_builder.tui.screens.review import ReviewScreen

        self.app.push_screen(ReviewScreen())

    # -- your own question -------------------------------------------------------------
    def action_ask(self) -> None:
        self.query_one("#ask", Input).focus()

    @on(Input.Submitted, "#ask")
    def _asked(self, event: Input.Submitted) -> None:
        q = event.value.strip()
        if not q:
            return
        event.input.value = ""
        self.items.append(Item(q, own=True))
        self._fill_list()
        ol = self.query_one("#questions", OptionList)
        ol.highlighted = len(self.items) - 1
        ol.focus()
        self.action_answer()
