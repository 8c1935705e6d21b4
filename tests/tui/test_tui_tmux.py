"""Smoke test of the installed entry point in a real terminal: tmux runs `assistant-builder`,
we press keys and read the screen back. Skipped (with the reason) where tmux is missing."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.tui_fakes import make_demo_ws


def _entry_point() -> str | None:
    beside = Path(sys.executable).with_name("assistant-builder")
    return str(beside) if beside.is_file() else shutil.which("assistant-builder")


def test_entry_point_in_tmux(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install -y tmux)")
    exe = _entry_point()
    if exe is None:
        pytest.skip("the assistant-builder entry point is not installed")
    make_demo_ws(tmp_path, monkeypatch)
    socket = f"ab-test-{tmp_path.name}"
    tmux = ["tmux", "-L", socket]
    cmd = f"cd {shlex.quote(str(tmp_path))} && TERM=xterm-256color exec {shlex.quote(exe)}"
    cmd += " --workspace ws"

    def screen() -> str:
        out = subprocess.run([*tmux, "capture-pane", "-p", "-t", "ab"], capture_output=True)
        return out.stdout.decode("utf-8", "replace")

    def wait_for(text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{screen()}")

    def keys(*k: str) -> None:
        subprocess.run([*tmux, "send-keys", "-t", "ab", *k], check=True)

    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "ab", "-x", "100", "-y", "30", cmd], check=True
    )
    try:
        home = wait_for("Stages")
        assert "✓ 1 Sources" in home and "→ 3 Train" in home  # sources and dataset are done
        assert str(tmp_path) not in home
        keys("2")
        dataset = wait_for("Question")
        assert "How do I change my password?" in dataset
        keys("1")
        sources = wait_for("Files (3)")
        assert "demo-data/faq.csv" in sources
        keys("?")
        wait_for("add files or folders")
        keys("Escape", "Escape")
        wait_for("Stages")
        keys("C-q")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            alive = subprocess.run([*tmux, "has-session", "-t", "ab"], capture_output=True)
            if alive.returncode != 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the app did not quit on Ctrl+Q")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
