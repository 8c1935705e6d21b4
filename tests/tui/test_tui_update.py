"""The Train screen's "continue from" run: an update (``train --from``) from the app, through
the same core checks; the training child is the fake one (tests/train/ trains real updates)."""

from __future__ import annotations

import json
import shutil

import yaml
from support.tui_fakes import RUN_ID, fake_start, make_app, make_fixed_ws, settle, sync
from textual.widgets import Select


@sync
async def test_train_continues_from_a_finished_run(tmp_path, monkeypatch) -> None:
    from assistant_builder.train.recipe import load_recipe

    ws = make_fixed_ws(tmp_path, monkeypatch)
    parent = ws.runs_dir / RUN_ID  # a completed run: give it its recipe and its data copy
    (parent / "recipe.yaml").write_text(yaml.safe_dump(load_recipe("cpu-lora").model_dump()))
    (parent / "data").mkdir()
    shutil.copyfile(ws.dataset_dir / "train.jsonl", parent / "data" / "train.jsonl")
    app = make_app(ws, start_training=fake_start(steps=3, delay=0.01))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        app.screen.query_one("#from-run", Select).value = RUN_ID
        await pilot.press("s")
        await settle(app, pilot)
        assert ws.list_runs() == [RUN_ID]  # refused before any run folder
        assert any("nothing changed since run" in n.message for n in app._notifications)

        rows = [json.loads(x) for x in (ws.dataset_dir / "train.jsonl").read_text().splitlines()]
        rows[0]["messages"][-1]["content"] = "An edited answer."
        (ws.dataset_dir / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        app.screen.query_one("#from-run", Select).value = RUN_ID
        await pilot.press("s")
        await settle(app, pilot)
        (new,) = [r for r in ws.list_runs() if r != RUN_ID]
        info = json.loads((ws.runs_dir / new / "run.json").read_text())
        assert info["parent"]["run"] == RUN_ID
        assert info["incremental"]["counts"]["changed"] == 1
        assert any(f"update of run {RUN_ID}: 1 changed" in n.message for n in app._notifications)
