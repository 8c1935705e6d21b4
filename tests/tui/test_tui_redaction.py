"""The Dataset screen shows what redaction replaced in a row and lets a reviewer keep it."""

from __future__ import annotations

import json
from pathlib import Path

from support.tui_fakes import make_app, settle, sync
from textual.widgets import DataTable, Static

from assistant_builder.dataset.build import BuildOptions, build_dataset
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.workspace import Workspace

FAQ = """# FAQ

## Who handles refunds?

Write to dana.miller@partners.example and quote your order number.
"""


@sync
async def test_dataset_screen_shows_redactions_and_u_keeps_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ASSISTANT_BUILDER_WORKSPACE", str(tmp_path / "ws"))
    ws = Workspace(tmp_path / "ws")
    ws.create()
    (tmp_path / "faq.md").write_text(FAQ)
    ingest_paths(ws, [tmp_path / "faq.md"])
    build_dataset(ws, BuildOptions(variants=0, min_eval=0))
    app = make_app(ws)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        table = app.screen.query_one("#conversations", DataTable)
        assert table.row_count == 1
        stats = str(app.screen.query_one("#stats", Static).render())
        assert "redacted: <EMAIL> ← dana.miller@partners.example" in stats
        await pilot.press("u")
        await settle(app, pilot)
    allow = json.loads(ws.settings_path.read_text())["redaction"]["allow"]
    assert allow == ["dana.miller@partners.example"]
    rows = (ws.dataset_dir / "train.jsonl").read_text()
    assert "dana.miller@partners.example" in rows  # rebuilt with the value kept
    assert not json.loads((ws.dataset_dir / "redactions.json").read_text())["examples"]
    assert Path(ws.dataset_dir / "redactions.json").is_file()
