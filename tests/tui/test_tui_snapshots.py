"""SVG snapshots of every screen at fixed sizes (pytest-textual-snapshot). The workspace is
written file by file and sits at ./ws, so nothing on screen depends on the machine or the day.
Update after an intended visual change: pytest tests/tui/test_tui_snapshots.py --snapshot-update"""

from __future__ import annotations

import pytest
from support.tui_fakes import make_app, make_fixed_ws, settle

import assistant_builder.compare.pair as pair_mod


@pytest.fixture
def app(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pair_mod, "draw_swapped", lambda: True)  # tuned shown as A
    return make_app(make_fixed_ws(tmp_path, monkeypatch))


async def _settled(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot.app, pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_home(snap_compare, app, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app, terminal_size=size, run_before=_settled)


@pytest.mark.parametrize("key", ["1", "2", "5"])
def test_stage_screen(snap_compare, app, key) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app, press=[key], terminal_size=(80, 24), run_before=_settled)


def test_train(snap_compare, app) -> None:  # type: ignore[no-untyped-def]
    async def until_mode_known(pilot) -> None:  # type: ignore[no-untyped-def]
        from textual.widgets import Static

        await pilot.press("3")
        for _ in range(600):  # the hardware check imports torch in a worker: seconds
            await settle(pilot.app, pilot)
            if "checking" not in str(pilot.app.screen.query_one("#auto", Static).render()):
                break

    assert snap_compare(app, terminal_size=(80, 24), run_before=until_mode_known)


def test_dataset_editor(snap_compare, app) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app, press=["2", "enter"], terminal_size=(80, 24), run_before=_settled)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_compare_answered_then_rated(snap_compare, app, size) -> None:  # type: ignore[no-untyped-def]
    async def answer_and_rate(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("4", "enter")
        await settle(pilot.app, pilot)
        await pilot.press("a")
        await settle(pilot.app, pilot)

    assert snap_compare(app, terminal_size=size, run_before=answer_and_rate)


def test_help(snap_compare, app) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app, press=["question_mark"], terminal_size=(80, 24))
