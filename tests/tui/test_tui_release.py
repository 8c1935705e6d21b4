"""Pilot tests of the release check and promotion in the app: the Export screen checks before
it exports (the real ``release_check`` on a fake engine), the Compare verdict shows the last
check's out-of-scope rate, and the review view promotes through the real ``promote``."""

from __future__ import annotations

import json

from support.tui_fakes import (
    RUN_ID,
    add_fake_run,
    checkable,
    make_app,
    make_demo_ws,
    settle,
    sync,
)
from textual.widgets import Button, DataTable, Input, Static, TextArea

from assistant_builder.compare.ratings import RatingStore
from assistant_builder.workspace import read_jsonl


def text_of(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one(selector, Static).render())


def _fake_adapter_export(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import assistant_builder.export.registry as export_mod

    def fake_adapter(ws, run_dir, tmp, on_event):  # type: ignore[no-untyped-def]
        (tmp / "adapter_config.json").write_text("{}")
        return {"verified": True, "usage": "vllm serve B {path}"}

    monkeypatch.setattr(export_mod, "export_adapter", fake_adapter)


@sync
async def test_export_refuses_a_failing_run_until_export_anyway(tmp_path, monkeypatch) -> None:
    _fake_adapter_export(monkeypatch)
    ws = make_demo_ws(tmp_path, monkeypatch)
    add_fake_run(ws)
    checkable(ws, monkeypatch)
    # The team's own probes gate the hand-off rate; the fake model never hands off.
    (ws.root / "checks").mkdir()
    probes = ["Will it snow in Oslo?", "Who painted the Mona Lisa?"]
    (ws.root / "checks" / "out-of-scope.jsonl").write_text(
        "".join(json.dumps({"question": q}) + "\n" for q in probes)
    )
    manifest = ws.exports_dir / RUN_ID / "adapter" / "manifest.json"
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        assert "No release check of this run yet" in text_of(app, "#check-result")
        anyway = app.screen.query_one("#export-anyway", Button)
        assert not anyway.display
        await pilot.press("f")  # nothing refused yet: no export without a check
        await pilot.pause()
        assert "Export anyway follows a failed release check: press e." in [
            n.message for n in app._notifications
        ]
        await pilot.press("e")
        await settle(app, pilot)
        assert not manifest.exists()
        shown = text_of(app, "#check-result")
        assert "✗ FAIL" in shown and "out-of-scope reply on 0% of off-domain probes" in shown
        assert "Not exported" in shown and "Export anyway (f)" in shown
        assert anyway.display
        messages = [n.message for n in app._notifications]
        assert any("was not exported" in m for m in messages)
        (saved,) = (ws.runs_dir / RUN_ID / "checks").glob("*.json")  # the core saved it
        assert json.loads(saved.read_text())["passed"] is False
        await pilot.press("f")
        await settle(app, pilot)
        assert json.loads(manifest.read_text())["verified"] is True
        # The Compare verdict shows the out-of-scope rate of that check.
        await pilot.press("4")
        await settle(app, pilot)
        assert "out-of-scope reply 0% of 2" in text_of(app, "#summary")


@sync
async def test_export_of_a_passing_run_follows_the_check(tmp_path, monkeypatch) -> None:
    _fake_adapter_export(monkeypatch)
    ws = make_demo_ws(tmp_path, monkeypatch)
    add_fake_run(ws)
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert "out-of-scope: not checked" in text_of(app, "#summary")
        await pilot.press("5")
        await pilot.pause()
        await pilot.press("e")  # the run has no data of its own to check with
        await settle(app, pilot)
        assert "could not run" in text_of(app, "#check-result")
        assert "no training data to check with" in text_of(app, "#check-result")
        assert not (ws.exports_dir / RUN_ID).exists()
        checkable(ws, monkeypatch)
        await pilot.press("e")
        await settle(app, pilot)
        assert "✓ PASS" in text_of(app, "#check-result")
        assert not app.screen.query_one("#export-anyway", Button).display
        assert (ws.exports_dir / RUN_ID / "adapter" / "manifest.json").is_file()


@sync
async def test_review_promotes_pairs_and_free_questions(tmp_path, monkeypatch) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch)
    add_fake_run(ws)
    tuned = f"tuned:{RUN_ID}"
    with RatingStore(ws.ratings_db) as store:
        won = store.add_pair("Is there a dark mode?", "", "faq", "base", "No.", tuned, "Yes.",
                             swapped=False)  # fmt: skip
        store.rate(won.id, "ann", "B")
        bad = store.add_pair("Can I print?", "", "faq", tuned, "Maybe.", "base", "No idea.",
                             swapped=False)  # fmt: skip
        store.rate(bad.id, "ann", "both_bad", note="Yes: File, then Print.")
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("r")
        await settle(app, pilot)
        table = app.screen.query_one("#review-items", DataTable)
        assert table.row_count == 2
        assert table.get_row_at(0)[:3] == ["both bad", "Can I print?", "Yes: File, then Print."]
        assert table.get_row_at(1)[0] == "tuned won"
        assert app.screen.query_one("#review-answer", TextArea).text == "Yes: File, then Print."
        assert "correction" in text_of(app, "#review-source")
        await pilot.press("ctrl+g")  # the correction, unchanged, becomes a golden question
        await settle(app, pilot)
        (golden,) = read_jsonl(ws.root / "checks" / "golden.jsonl")
        assert golden["reference"] == "Yes: File, then Print."
        assert golden["source"] == f"promoted:pair:{bad.id}"
        assert golden["promoted"]["answer"] == "correction"
        assert golden["promoted"]["reviewer"] == "tester"
        assert table.get_row_at(0)[3] == "golden"
        await pilot.press("down")  # the won pair: its preferred answer, edited by the reviewer
        await settle(app, pilot)
        assert app.screen.query_one("#review-answer", TextArea).text == "Yes."
        app.screen.query_one("#review-answer", TextArea).text = "Yes: Settings, then Dark."
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        (row,) = read_jsonl(ws.dataset_dir / "promoted.jsonl")
        assert (row["question"], row["answer"]) == ("Is there a dark mode?",
                                                    "Yes: Settings, then Dark.")  # fmt: skip
        assert row["promoted"]["answer"] == "written by the reviewer"
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "CompareScreen"


@sync
async def test_review_promotes_a_free_question(tmp_path, monkeypatch) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch)
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("r")
        await settle(app, pilot)
        assert app.screen.query_one("#review-items", DataTable).row_count == 0
        question = app.screen.query_one("#review-question", Input)
        assert question.has_focus and not question.disabled  # nothing rated: a free question
        await pilot.pause()
        question = app.screen.query_one("#review-question", Input)
        assert question.has_focus and not question.disabled
        for ch in "Is it free?":
            await pilot.press(ch)
        await pilot.press("ctrl+t")  # no answer yet: refused, nothing written
        await pilot.pause()
        assert any("Write the answer first" in n.message for n in app._notifications)
        assert not (ws.dataset_dir / "promoted.jsonl").exists()
        app.screen.query_one("#review-answer", TextArea).text = "Yes, for one device."
        await pilot.press("ctrl+t")
        await pilot.pause()
        (row,) = read_jsonl(ws.dataset_dir / "promoted.jsonl")
        assert (row["question"], row["answer"]) == ("Is it free?", "Yes, for one device.")
        assert row["source"] == "promoted:question"
        assert question.value == "" and not question.disabled  # ready for the next one
