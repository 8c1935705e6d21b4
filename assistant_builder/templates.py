"""The folders shipped with the package (recipes/, data_templates/), and the starter data that
``init --demo`` copies into a workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace


def shipped_dir(name: str) -> Path:
    """A top-level folder of the repository shipped with the package: inside the wheel as
    ``_<name>`` (pyproject.toml's force-include), or the checkout's ``<name>/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / f"_{name}", here.parent / name):
        if candidate.is_dir():
            return candidate
    raise UserError(f"the shipped {name} folder is missing from this installation")


def templates_dir() -> Path:
    return shipped_dir("data_templates")


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
