"""Starter data (data_templates/) that ``init --demo`` copies into a workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace


def templates_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data_templates", here.parent / "data_templates"):
        if candidate.is_dir():
            return candidate
    raise UserError("the data_templates folder is missing from this installation")


# The demo team's own contact, which its FAQ quotes: it must survive redaction.
DEMO_ALLOW = ("support@cloudnote.example",)


def copy_demo_data(ws: Workspace) -> list[Path]:
    """Copy the starter files into ``<workspace>/demo-data``; existing files are kept. The
    demo's support address goes on the workspace's redaction allow-list."""
    from assistant_builder.dataset.redact import add_allowed

    add_allowed(ws, DEMO_ALLOW)
    dest = ws.root / "demo-data"
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for src in sorted(templates_dir().iterdir()):
        if src.is_file() and not src.name.startswith("."):
            target = dest / src.name
            if not target.exists():
                shutil.copyfile(src, target)
            copied.append(target)
    return copied
