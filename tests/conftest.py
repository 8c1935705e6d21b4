"""Shared fixtures. Tests point the workspace and the model cache at temporary folders, except
that the converted default model is shared across the session (converting takes a while)."""

from __future__ import annotations

import os
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
