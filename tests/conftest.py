"""Shared fixtures. Tests point the workspace and the model cache at temporary folders: the
model cache is one folder per test session (converting the default model takes about a minute,
so it is done once per session, never in the user's real cache). Subprocesses inherit it.
Set ASSISTANT_BUILDER_TEST_CACHE to a folder of your own to keep the converted model between
sessions."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The tiny model, run and adapter fixtures of the export and serve tests.
pytest_plugins = ["support.export_run"]

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from assistant_builder.workspace import Workspace

    monkeypatch.setenv("ASSISTANT_BUILDER_WORKSPACE", str(tmp_path / "ws"))
    ws = Workspace(tmp_path / "ws")
    ws.create()
    return ws


@pytest.fixture
def run_cli():
    """``run_cli(ws, *args, stdin=None, env=None, timeout=120)``: the CLI in a subprocess."""
    from support.cli import run_cli

    return run_cli


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples not present at {SAMPLES}")
    return SAMPLES


def pytest_configure(config: pytest.Config) -> None:
    # Keep tests off the network: nothing may download from a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Hermetic model cache (models/default.py reads ASSISTANT_BUILDER_CACHE).
    kept = os.environ.get("ASSISTANT_BUILDER_TEST_CACHE")
    if kept:
        os.environ["ASSISTANT_BUILDER_CACHE"] = kept
    else:
        cache = tempfile.mkdtemp(prefix="assistant-builder-test-cache-")
        os.environ["ASSISTANT_BUILDER_CACHE"] = cache
        config.add_cleanup(lambda: shutil.rmtree(cache, ignore_errors=True))
