"""The app's Compare screen answers through the core ``compare`` uses: on the tiny real model,
a question asked in the app gets exactly the text ``compare --ask`` gives for it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.tiny_models import make_run, tiny_assets
from support.tui_fakes import RUN_ID, make_app, make_fixed_ws, settle, sync
from textual.widgets import Static

from assistant_builder.cli.main import main
from assistant_builder.compare.pair import PairAnswerer
from assistant_builder.compare.ratings import RatingStore

QUESTION = "Can I share a notebook with my team?"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_assets(tmp_path_factory)


@sync
async def test_app_answers_exactly_as_compare_ask(tmp_path, monkeypatch, tiny, capsys) -> None:
    import assistant_builder.compare.pair as pair_mod

    ws = make_fixed_ws(tmp_path, monkeypatch)
    shutil.rmtree(ws.runs_dir / RUN_ID)  # the fixed workspace's fake run has no weights
    make_run(ws, "run1", tiny["base"], tiny["a1"])
    monkeypatch.setattr(pair_mod, "draw_swapped", lambda: True)  # tuned shown as A
    app = make_app(ws, answerer_factory=PairAnswerer)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(app, pilot)
        await pilot.press("o", *QUESTION, "enter")
        for _ in range(10):  # loading the model in the worker can take a while on a busy machine
            await settle(app, pilot)
            if not app.screen.busy:
                break
        shown = [str(app.screen.query_one(f"#answer-{p}", Static).render()) for p in "ab"]
    with RatingStore(ws.ratings_db) as store:
        (pair,) = store.pending("tester")
    assert [pair.answer_a, pair.answer_b] == shown and shown[0] != shown[1]

    # A fresh answer cache: the CLI has to generate the text again, not read the app's.
    (ws.cache_dir / "answers.sqlite").unlink()
    args = ["compare", "--workspace", str(ws.root), "--json", "--ask", QUESTION]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    (row,) = [json.loads(line) for line in Path(summary["answers"]).read_text().splitlines()]
    assert [row["tuned"]["text"], row["base"]["text"]] == shown
    assert summary["pairs_added"] == 0  # the app's pair is the same pair: not asked twice
