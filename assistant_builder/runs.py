"""The owner of a training run's files in the workspace: ``runs/<id>/``.

A run folder holds ``run.json`` (the resolved recipe and the base model), ``metrics.json``
(written when training ends), ``events.jsonl`` (the worker's progress), ``adapter/`` (the
trained PEFT adapter) and ``checkpoints/``. Every other module reads these through here, so the
format has one reader. The side names used by compare, ratings and the app live here too:
``base`` for the base model, ``tuned:<run id>`` for a run's adapter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError

BASE = "base"  # the side name of the base model (adapter switched off)
TUNED_PREFIX = "tuned:"

# A run id is a folder name the trainer made: letters, digits, dot, dash and underscore, not
# starting with a dot. Anything else (``..``, a slash, an absolute path) could point outside
# the workspace, so it is refused before any path is built from it.
_RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")


def tuned_name(run_id: str) -> str:
    """The side name of a run's tuned model, as stored in ratings.db."""
    return f"{TUNED_PREFIX}{run_id}"


def side_name(side: str) -> str:
    """``base`` stays ``base``; a run id becomes ``tuned:<run id>``."""
    return side if side == BASE or side.startswith(TUNED_PREFIX) else tuned_name(side)


def run_of(name: str) -> str | None:
    """The run id inside a side name, or None for the base model."""
    return name[len(TUNED_PREFIX) :] if name.startswith(TUNED_PREFIX) else None


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is a plain run name; a UserError if it could be a path."""
    if not _RUN_ID.fullmatch(run_id) or run_id in {".", ".."}:
        raise UserError(f"{run_id!r} is not a run id (a run is named by its folder under runs/)")
    return run_id


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} is missing") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path} cannot be read: {e}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} does not hold a JSON object")
    return data


@dataclass(frozen=True)
class Run:
    """One run folder. Paths only; files are read on demand."""

    dir: Path

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def adapter_dir(self) -> Path:
        return self.dir / "adapter"

    @property
    def checkpoints_dir(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def events_path(self) -> Path:
        return self.dir / "events.jsonl"

    def info(self) -> dict[str, Any]:
        """run.json: the resolved recipe, its name and the base model."""
        return _read_json(self.dir / "run.json")

    def base_model(self) -> str:
        base = self.info().get("base_model")
        if not isinstance(base, str):
            raise UserError(f"{self.dir / 'run.json'} names no base model")
        return base

    def metrics(self) -> dict[str, Any] | None:
        """metrics.json, or None while the run has not finished."""
        path = self.dir / "metrics.json"
        return _read_json(path) if path.is_file() else None

    def has_adapter(self) -> bool:
        return (self.adapter_dir / "adapter_config.json").is_file()
