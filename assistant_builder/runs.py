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


def is_run_id(name: str) -> bool:
    """Whether ``name`` could be a run id (a plain folder name, never a path)."""
    return bool(_RUN_ID.fullmatch(name)) and name not in {".", ".."}


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
        return adapter_problem(self.adapter_dir) is None

    def last_checkpoint(self) -> Path | None:
        """The checkpoint with the highest step (names sort wrong as text: 100 < 50)."""
        ckpts = [p for p in self.checkpoints_dir.glob("checkpoint-*") if p.is_dir()]
        ckpts = [p for p in ckpts if p.name.split("-")[-1].isdigit()]
        return max(ckpts, key=lambda p: int(p.name.split("-")[-1]), default=None)

    def completed(self) -> bool:
        """Training ran to its end (a cancelled run has metrics.json too, and can resume)."""
        metrics = self.metrics()
        return metrics is not None and metrics.get("status") == "completed"

    def failed(self) -> bool:
        """The worker's last event is an error (the run stopped without metrics.json)."""
        if not self.events_path.is_file():
            return False
        lines = self.events_path.read_text(encoding="utf-8").strip().splitlines()
        try:
            last = json.loads(lines[-1]) if lines else {}
        except ValueError:  # a line cut short by a kill: not an error the worker reported
            return False
        return isinstance(last, dict) and last.get("event") == "error"

    def summary(self) -> dict[str, Any]:
        """What a run history shows about the run: metrics.json when it finished, else its
        status from the event log ("failed" or "stopped", with ", resumable" when a checkpoint
        exists)."""
        info: dict[str, Any] = {"run": self.id}
        try:
            info["recipe"] = str(self.info().get("recipe", "?"))
        except UserError:
            info["recipe"] = "?"
        metrics = self.metrics()
        if metrics is not None:
            return info | metrics
        info["status"] = "failed" if self.failed() else "stopped"
        if self.last_checkpoint() is not None:
            info["status"] += ", resumable"
        return info


def open_run(runs_dir: Path, run_id: str) -> Run:
    """The run ``run_id`` under ``runs_dir``; a UserError when it is not a run id or missing."""
    folder = runs_dir / check_run_id(run_id)
    if not folder.is_dir():
        raise UserError(f"no run {run_id!r} in {runs_dir}")
    return Run(folder)


# -- a completely written adapter -------------------------------------------------------------
# The trainer saves the adapter into ``adapter.partial/``, writes this marker (the size of every
# file) and only then renames the folder to ``adapter/``. A process killed during the save leaves
# ``adapter.partial/`` behind, which no reader takes for a finished adapter.
ADAPTER_MARKER = "COMPLETE.json"
PARTIAL_SUFFIX = ".partial"


def mark_adapter_complete(folder: Path) -> None:
    """Record the size of every file of a freshly saved adapter folder (the last write)."""
    from assistant_builder.workspace import atomic_write_json

    sizes = {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ADAPTER_MARKER
    }
    atomic_write_json(folder / ADAPTER_MARKER, {"files": sizes})


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is truncated or corrupt, read from its header; None if sound."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if size < 8 or n > size - 8:
                return f"{path.name} is truncated"
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        return f"{path.name} cannot be read ({e})"
    if not isinstance(header, dict):
        return f"{path.name} has no valid header"
    ends = [
        v["data_offsets"][1]
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and len(v.get("data_offsets", ())) == 2
    ]
    if 8 + n + max(ends, default=0) > size:
        return f"{path.name} is truncated"
    return None


def adapter_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a completely written adapter, or None if it is one.

    With the marker, every listed file must have its recorded size. Adapters saved before the
    marker existed count when their config is there and every safetensors file is whole.
    """
    if not folder.is_dir():
        return "it has no adapter (did the training finish?)"
    marker = folder / ADAPTER_MARKER
    if marker.is_file():
        try:
            files = json.loads(marker.read_text(encoding="utf-8"))["files"]
            for name, size in files.items():
                p = folder / name
                if not p.is_file() or p.stat().st_size != size:
                    return f"its adapter file {name} is missing or incomplete"
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return f"its adapter marker {ADAPTER_MARKER} cannot be read"
        return None
    if not (folder / "adapter_config.json").is_file():
        return "its adapter has no adapter_config.json (the save was interrupted)"
    weights = sorted(folder.glob("*.safetensors"))
    if not weights and not (folder / "adapter_model.bin").is_file():
        return "its adapter has no weights file (the save was interrupted)"
    for w in weights:
        problem = _safetensors_problem(w)
        if problem:
            return f"its adapter is damaged: {problem} (the save was interrupted)"
    return None


def require_adapter(run_dir: Path) -> Path:
    """The adapter folder of a run, or a UserError saying why it cannot be used."""
    problem = adapter_problem(run_dir / "adapter")
    if problem:
        raise UserError(f"run {run_dir.name}: {problem}; train again or pick another --run")
    return run_dir / "adapter"


def save_adapter(model: Any, tokenizer: Any, adapter: Path) -> None:
    """Save a PEFT model and its tokenizer so that ``adapter`` is either whole or absent."""
    import shutil

    partial = adapter.with_name(adapter.name + PARTIAL_SUFFIX)
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial))
    tokenizer.save_pretrained(str(partial))
    mark_adapter_complete(partial)
    if adapter.exists():  # a resumed run saves again: the new adapter replaces the old one
        old = adapter.with_name(adapter.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        adapter.rename(old)
        partial.rename(adapter)
        shutil.rmtree(old, ignore_errors=True)
    else:
        partial.rename(adapter)
