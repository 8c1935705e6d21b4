"""Pilot tests: every screen's main path against the real core on the starter data (a fake
engine and a fake training child keep them fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.tui_fakes import (
    RUN_ID,
    FakeEngine,
    add_fake_run,
    fake_start,
    make_app,
    make_demo_ws,
    make_fixed_ws,
    settle,
    sync,
)
from textual.widgets import DataTable, Input, OptionList, Static, TextArea

from assistant_builder.compare.ratings import RatingStore
from assistant_builder.tui.widgets import LossChart


def text_of(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one(selector, Static).render())


@sync
async def test_home_shows_state_and_next_action_is_one_key(tmp_path, monkeypatch) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch, build=False)
    app = make_app(ws)
    async with app.run_test() as pilot:
        await pilot.pause()
        stages = app.screen.query_one("#stages", OptionList)
        assert [stages.get_option_at_index(i).id for i in range(5)] == [
            "sources", "dataset", "train", "compare", "export",
        ]  # fmt: skip
        first = str(stages.get_option_at_index(0).prompt)
        second = str(stages.get_option_at_index(1).prompt)
        assert "done" in first and "3 files" in first
        assert "next" in second
        assert "Dataset" in text_of(app, "#next")
        assert "3 sources" in text_of(app, "#fig-sources")
        await pilot.press("n")
        await pilot.pause()
        assert app.current_mode == "dataset"
        await pilot.press("escape")
        await pilot.pause()
        assert app.current_mode == "home"
        await pilot.press("3")
        await pilot.pause()
        await pilot.click("#stagebar", offset=(18, 0))  # the mouse works: " 2 Dataset"
        await pilot.pause()
        assert app.current_mode == "dataset"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        assert app.current_mode == "home"


@sync
async def test_sources_ingest_preview_and_skipped(tmp_path, monkeypatch) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch, ingest=False, build=False)
    (ws.root / "demo-data" / "notes.xyz").write_text("not a supported file")
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("1")
        await pilot.pause()
        assert app.screen.query_one("#files-table", DataTable).row_count == 0
        # A demo workspace offers its starter folder, focused: one Enter ingests it.
        assert app.screen.query_one("#path", Input).value == "ws/demo-data"
        await pilot.press("enter")
        await settle(app, pilot)
        files = app.screen.query_one("#files-table", DataTable)
        assert files.row_count == 3
        assert files.get_row_at(0)[0].startswith("demo-data/")  # short paths, no tmp prefix
        skipped = app.screen.query_one("#skipped-table", DataTable)
        assert skipped.row_count == 1
        assert "unsupported" in str(skipped.get_row_at(0)[2])
        files.focus()
        await pilot.press("enter")
        await pilot.pause()
        preview = app.screen.query_one("#preview-table", DataTable)
        assert preview.row_count > 0
        assert preview.get_row_at(0)[0]  # line numbers shown (provenance)
        # A path that does not exist is a notification, not a crash.
        app.screen.query_one("#path", Input).value = "no/such/folder"
        await pilot.press("i")
        await pilot.pause()
        assert any("no such file" in n.message for n in app._notifications)


@sync
async def test_dataset_filter_edit_approve_and_rebuild(tmp_path, monkeypatch) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch)
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        table = app.screen.query_one("#conversations", DataTable)
        total = table.row_count
        assert total == len((ws.dataset_dir / "conversations.jsonl").read_text().splitlines())
        await pilot.press("slash")
        for ch in "password":
            await pilot.press(ch)
        await pilot.pause()
        assert 0 < table.row_count < total
        await pilot.press("enter")  # leaves the search box for the table
        await pilot.press("a")
        await pilot.pause()
        edits = [json.loads(x) for x in (ws.dataset_dir / "edits.jsonl").read_text().splitlines()]
        assert edits[-1]["review"] == "approved"
        assert "approved" in str(table.get_row_at(0)[0])
        await pilot.press("enter")
        await pilot.pause()
        answer = app.screen.query_one("#answer", TextArea)
        answer.text = "Open Settings, then Account, then Change password."
        await pilot.press("ctrl+s")
        await pilot.pause()
        edits = [json.loads(x) for x in (ws.dataset_dir / "edits.jsonl").read_text().splitlines()]
        assert edits[-1]["review"] == "edited"
        assert edits[-1]["answer"] == "Open Settings, then Account, then Change password."
        await pilot.press("r")
        await settle(app, pilot)
        rows = [json.loads(x) for x in (ws.dataset_dir / "conversations.jsonl").open()]
        edited = [r for r in rows if r["meta"]["how"] == "edited"]
        assert len(edited) == 1
        assert edited[0]["messages"][-1]["content"].startswith("Open Settings, then Account")


@sync
async def test_dataset_rebuild_error_is_a_notification(tmp_path, monkeypatch) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch, ingest=False, build=False)
    app = make_app(ws)
    async with app.run_test() as pilot:
        await pilot.press("2")
        await pilot.press("r")
        await settle(app, pilot)
        assert app.is_running
        assert any("no sources ingested" in n.message for n in app._notifications)


@sync
async def test_train_validates_runs_and_records_history(tmp_path, monkeypatch) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch)
    app = make_app(ws, start_training=fake_start(steps=5, delay=0.02))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        lr = app.screen.query_one("#f-learning_rate", Input)
        lr.value = "5"  # the Recipe model says learning_rate < 1
        await pilot.pause()
        assert "learning_rate" in text_of(app, "#form-error")
        assert lr.has_class("-invalid")
        await pilot.press("s")
        await pilot.pause()
        assert not ws.list_runs()  # refused
        lr.value = "0.0005"
        app.screen.query_one("#f-max_steps", Input).value = "5"
        await pilot.pause()
        assert text_of(app, "#form-error") == ""
        await pilot.press("s")
        await settle(app, pilot)
        (run_id,) = ws.list_runs()
        recipe = (ws.runs_dir / run_id / "recipe.yaml").read_text()
        assert "max_steps: 5" in recipe and "learning_rate: 0.0005" in recipe
        assert app.screen.query_one("#loss-chart", LossChart).values == [2.0, 1.0, 2 / 3, 0.5, 0.4]
        chart = str(app.screen.query_one("#loss-chart", LossChart).render()).splitlines()
        assert chart[0].startswith("2.00 █")  # scaled from 0: the first, highest loss is full
        assert chart[-1].startswith("   0 █████")  # every step has a column
        history = app.screen.query_one("#history", DataTable)
        assert history.get_row_at(0)[:3] == [run_id, "completed", "5"]
        assert "completed" in text_of(app, "#train-status")


@sync
async def test_train_cancel_then_resume(tmp_path, monkeypatch) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch)
    app = make_app(ws, start_training=fake_start(steps=200, delay=0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("s")
        for _ in range(100):  # until the child has logged a step
            await pilot.pause(0.05)
            if app.screen.query_one("#loss-chart", LossChart).values:
                break
        assert "step" in text_of(app, "#train-status")
        await pilot.press("c")
        await settle(app, pilot)
        (run_id,) = ws.list_runs()
        metrics = json.loads((ws.runs_dir / run_id / "metrics.json").read_text())
        assert metrics["status"] == "cancelled" and metrics["steps"] < 200
        (ws.runs_dir / run_id / "metrics.json").unlink()  # as if it had stopped mid-run
        app.screen.reload()
        assert "resumable" in app.screen.query_one("#history", DataTable).get_row_at(0)[1]
        app.abapp_start = None
        app.start_training = fake_start(steps=3, delay=0.01)
        await pilot.press("h", "u")
        await settle(app, pilot)
        assert ws.list_runs() == [run_id]  # resumed in place, not a new run
        assert json.loads((ws.runs_dir / run_id / "metrics.json").read_text())["steps"] == 3


@sync
async def test_train_refuses_to_resume_a_completed_run(tmp_path, monkeypatch) -> None:
    ws = make_fixed_ws(tmp_path, monkeypatch)  # its run completed, and kept a checkpoint
    (ws.runs_dir / RUN_ID / "checkpoints" / "checkpoint-12").mkdir(parents=True)
    started: list[Path] = []
    app = make_app(ws, start_training=lambda run_dir, resume: started.append(run_dir))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        await pilot.press("h", "u")
        await settle(app, pilot)
        assert started == []
        messages = [n.message for n in app._notifications]
        assert any("already completed; nothing to resume" in m for m in messages)
        assert app.screen.query_one("#history", DataTable).get_row_at(0)[1] == "completed"


@sync
async def test_compare_blind_rating_reveal_undo_and_own_question(tmp_path, monkeypatch) -> None:
    import assistant_builder.compare.pair as pair_mod

    ws = make_demo_ws(tmp_path, monkeypatch)
    add_fake_run(ws)
    monkeypatch.setattr(pair_mod, "draw_swapped", lambda: True)  # tuned shown as A
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        n_eval = len((ws.dataset_dir / "eval.jsonl").read_text().splitlines())
        assert app.screen.query_one("#questions", OptionList).option_count == n_eval
        await pilot.press("enter")
        await settle(app, pilot)
        a, b = text_of(app, "#answer-a"), text_of(app, "#answer-b")
        assert b == "I am not sure."
        assert a and a != b
        assert app.screen.query_one("#pane-a").border_title == "A"  # blind until rated
        app.screen.query_one("#score-a", Input).value = "5"
        await pilot.press("a")
        await settle(app, pilot)
        with RatingStore(ws.ratings_db) as store:
            (row,) = store.ratings()
        assert row["verdict"] == "A" and row["winner"] == f"tuned:{RUN_ID}"
        assert row["score_a"] == 5 and row["swapped"] == 1 and row["rater"] == "tester"
        assert "tuned wins 100%" in text_of(app, "#summary")
        # rating moved on to the next question and answered it
        assert app.screen.query_one("#questions", OptionList).highlighted == 1
        await pilot.press("u")
        await pilot.pause()
        with RatingStore(ws.ratings_db) as store:
            assert store.ratings() == []
        await pilot.press("o")
        for ch in "Is there a dark mode?":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(app, pilot)
        assert text_of(app, "#answer-a") == "Tuned answer to: Is there a dark mode?"
        await pilot.press("x")
        await pilot.pause()
        with RatingStore(ws.ratings_db) as store:
            assert [r["question"] for r in store.ratings()] == ["Is there a dark mode?"]


@sync
async def test_rating_while_answers_stream_says_to_wait(tmp_path, monkeypatch) -> None:
    import threading

    from assistant_builder.compare.pair import PairAnswerer

    ws = make_fixed_ws(tmp_path, monkeypatch)
    release = threading.Event()

    class SlowEngine(FakeEngine):
        def stream(self, question: str, **kw: object) -> Iterator[str]:
            release.wait(30)  # the answers are still coming
            yield from super().stream(question, **kw)  # type: ignore[arg-type]

    app = make_app(ws, answerer_factory=lambda w, r: PairAnswerer(w, r, engine=SlowEngine(w)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert "Wait for both answers, then rate them." in messages
        assert not any("Answer a question first" in m for m in messages)
        release.set()
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        with RatingStore(ws.ratings_db) as store:
            assert [r["verdict"] for r in store.ratings()] == ["A"]


@sync
async def test_export_runs_real_pipeline_with_fake_exporter(tmp_path, monkeypatch) -> None:
    import assistant_builder.export.registry as export_mod

    def fake_adapter(ws, run_dir, tmp, on_event):  # type: ignore[no-untyped-def]
        (tmp / "adapter_config.json").write_text("{}")
        return {"verified": True, "checked_questions": 3, "usage": "vllm serve B {path}"}

    monkeypatch.setattr(export_mod, "export_adapter", fake_adapter)
    ws = make_demo_ws(tmp_path, monkeypatch)
    add_fake_run(ws)
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        await pilot.press("e")  # the release check cannot judge the fake run: refused
        await settle(app, pilot)
        await pilot.press("f")  # export anyway (tests/tui/test_tui_release.py: the check)
        await settle(app, pilot)
        manifest = ws.exports_dir / RUN_ID / "adapter" / "manifest.json"
        assert json.loads(manifest.read_text())["verified"] is True
        from textual.widgets import Markdown

        md = app.screen.query_one("#results", Markdown).source
        assert "adapter — ✓ verified" in md
        assert f"vllm serve B ws/exports/{RUN_ID}/adapter" in md  # path as the user types it
        assert str(tmp_path) not in md


def test_first_screen_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "from assistant_builder.workspace import Workspace\n"
        "from assistant_builder.tui.app import AssistantBuilderApp\n"
        "async def main():\n"
        f"    app = AssistantBuilderApp(Workspace({str(tmp_path / 'ws')!r}))\n"
        "    async with app.run_test() as pilot:\n"
        "        await pilot.pause()\n"
        "        assert type(app.screen).__name__ == 'HomeScreen'\n"
        "        print('torch' in sys.modules, 'transformers' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False False"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@sync
async def test_every_screen_opens_at_size(tmp_path, monkeypatch, size) -> None:
    ws = make_demo_ws(tmp_path, monkeypatch)
    add_fake_run(ws)
    app = make_app(ws)
    async with app.run_test(size=size) as pilot:
        for key in "123450":
            await pilot.press(key)
            await pilot.pause()
        assert app.is_running
        assert [n.message for n in app._notifications] == []


@sync
async def test_compare_pits_tuned_against_tuned_with_retrieval(tmp_path, monkeypatch) -> None:
    import assistant_builder.compare.pair as pair_mod

    ws = make_demo_ws(tmp_path, monkeypatch)
    add_fake_run(ws)
    monkeypatch.setattr(pair_mod, "draw_swapped", lambda: False)  # the first system is A
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("enter")  # base vs tuned
        await settle(app, pilot)
        await pilot.press("s")  # next pairing: tuned vs tuned+retrieval
        await settle(app, pilot)
        assert app.screen.pairing == 1
        await pilot.press("enter")  # the same question, answered again for the new pairing
        await settle(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
    with RatingStore(ws.ratings_db) as store:
        (row,) = store.ratings()
    assert (row["model_a"], row["model_b"]) == (f"tuned:{RUN_ID}", f"tuned:{RUN_ID}+retrieval")
    assert row["winner"] == f"tuned:{RUN_ID}+retrieval"
