"""The review view's served conversations: each turn with its feedback and the run that
answered, redacted as everything leaving the log is, promoted through the real
``serve.review.promote_served`` (the core of ``promote --conversation``) from a real
conversations.db."""

from __future__ import annotations

from support.tui_fakes import make_app, make_demo_ws, settle, sync
from textual.widgets import DataTable, Input, Static, TabbedContent, TextArea

from assistant_builder.compare.ratings import RatingStore
from assistant_builder.serve.conversations import open_log
from assistant_builder.workspace import Workspace, read_jsonl

SYSTEM = {"role": "system", "content": "You are the Lamp support assistant."}
Q1 = "My lamp flickers, I am jane.doe@example.com, what now?"
A1 = "Replace the bulb."
FIX1 = "Tighten the bulb first, jane.doe@example.com."
Q2 = "And the warranty?"
A2 = "The warranty lasts two years."
Q3 = "Thanks, bye"


def _serve_log(ws: Workspace) -> str:
    """A three-turn conversation as the server logs it: a thumbs-down with a correction, a
    thumbs-up, and a turn nobody rated."""
    log = open_log(ws.root)
    try:
        first = [SYSTEM, {"role": "user", "content": Q1}]
        cid = log.record("run-1", "c1", first, A1, "stop", (10, 3), 0.5,
                         sources=[{"file": "faq.md", "lines": "3-5", "url": None}])  # fmt: skip
        second = [*first, {"role": "assistant", "content": A1}, {"role": "user", "content": Q2}]
        log.record("run-1", "c2", second, A2, "stop", (20, 6), 0.4)
        third = [*second, {"role": "assistant", "content": A2}, {"role": "user", "content": Q3}]
        log.record("run-1", "c3", third, "Goodbye.", "stop", (30, 2), 0.1)
        log.feedback("c1", "down", FIX1)
        log.feedback("c2", "up")
    finally:
        log.close()
    return cid


def _text(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one(selector, Static).render())


def _first_turn_shown(app, table: DataTable) -> None:  # type: ignore[no-untyped-def]
    """The first turn, redacted on screen too: the address never leaves the log."""
    assert table.get_row_at(0)[4] == "My lamp flickers, I am <EMAIL>, what now?"
    thread = _text(app, "#served-thread")
    assert "jane.doe" not in thread and "answered by run-1" in thread
    assert "thumbs down: Tighten the bulb first, <EMAIL>." in thread
    assert "sources: faq.md:3-5" in thread and "Goodbye." in thread
    answer = app.screen.query_one("#review-answer", TextArea)
    assert answer.text == "Tighten the bulb first, <EMAIL>."
    hint = _text(app, "#review-source")
    assert "turn 1 of 3, answered by run-1" in hint and "correction" in hint


@sync
async def test_review_lists_served_turns_and_promotes_them(tmp_path, monkeypatch) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch)
    cid = _serve_log(ws)
    app = make_app(ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("r")
        await settle(app, pilot)
        # Nothing rated yet: the view opens on the served conversations.
        assert app.screen.query_one(TabbedContent).active == "served"
        table = app.screen.query_one("#served-items", DataTable)
        assert table.has_focus and table.row_count == 3
        assert [table.get_row_at(i)[1:3] for i in range(3)] == [
            ["1/3", "down, corrected"],
            ["2/3", "up"],
            ["3/3", ""],
        ]
        _first_turn_shown(app, table)
        answer = app.screen.query_one("#review-answer", TextArea)
        await pilot.press("ctrl+t")  # the correction, unchanged: the served answer's provenance
        await settle(app, pilot)
        (row,) = read_jsonl(ws.dataset_dir / "promoted.jsonl")
        assert row["question"] == "My lamp flickers, I am <EMAIL>, what now?"
        assert row["answer"] == "Tighten the bulb first, <EMAIL>."
        assert row["source"] == f"promoted:conversation:{cid}"
        assert row["promoted"]["turn"] == 1 and row["promoted"]["run"] == "run-1"
        assert row["promoted"]["answer"] == "correction"
        assert row["promoted"]["reviewer"] == "tester"
        assert table.get_row_at(0)[3] == "dataset" and table.get_row_at(1)[3] == ""
        await pilot.press("down")  # the thumbs-up reply becomes a golden question
        await settle(app, pilot)
        assert answer.text == A2 and "▶ 2. Q: And the warranty?" in _text(app, "#served-thread")
        assert "follows earlier turns" in _text(app, "#review-source")
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        (golden,) = read_jsonl(ws.root / "checks" / "golden.jsonl")
        assert (golden["question"], golden["reference"]) == (Q2, A2)
        assert golden["promoted"]["answer"] == "served reply (thumbs-up)"
        await pilot.press("down")  # no feedback: the reviewer writes the answer
        await settle(app, pilot)
        assert answer.text == "" and "no feedback: write the right answer" in _text(
            app, "#review-source"
        )
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert any("Write the answer first" in n.message for n in app._notifications)
        answer.text = "You are welcome!"
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        rows = list(read_jsonl(ws.dataset_dir / "promoted.jsonl"))
        assert rows[-1]["answer"] == "You are welcome!" and rows[-1]["promoted"]["turn"] == 3
        assert rows[-1]["promoted"]["answer"] == "written by the reviewer"
        assert [table.get_row_at(i)[3] for i in range(3)] == ["dataset", "golden", "dataset"]
        await pilot.press("ctrl+l")  # no rated pairs: the other list offers a free question
        await settle(app, pilot)
        assert app.screen.query_one(TabbedContent).active == "pairs"
        assert app.screen.query_one("#review-question", Input).has_focus


@sync
async def test_review_switches_between_pairs_and_served(tmp_path, monkeypatch) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch)
    _serve_log(ws)
    with RatingStore(ws.ratings_db) as store:
        pair = store.add_pair("Can I print?", "", "faq", "base", "No.", "tuned:r", "Yes.",
                              swapped=False)  # fmt: skip
        store.rate(pair.id, "ann", "B")
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("r")
        await settle(app, pilot)
        tabs = app.screen.query_one(TabbedContent)
        assert tabs.active == "pairs"  # rated pairs first, as before
        assert app.screen.query_one("#review-answer", TextArea).text == "Yes."
        assert "Served conversations (3)" in str(tabs.get_tab("served").label)
        await pilot.press("ctrl+l")
        await settle(app, pilot)
        assert tabs.active == "served"
        assert app.screen.query_one("#served-items", DataTable).has_focus
        assert app.screen.query_one("#review-question", Input).value.startswith("My lamp")
        await pilot.press("ctrl+l")
        await settle(app, pilot)
        assert tabs.active == "pairs"
        assert app.screen.query_one("#review-question", Input).value == "Can I print?"
