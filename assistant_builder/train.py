"""The Train stage, parent side: prepare ``runs/<id>/``, start the training child process, follow
its ``events.jsonl`` and turn the lines into progress events.

The run folder is self-contained: the resolved recipe, a copy of the dataset split it trained
on (with its hash), the environment, the event log, metrics, the loss plot and the adapter.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant_builder.dataset import dataset_hash
from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.recipes import Recipe
from assistant_builder.workspace import Workspace, atomic_write_json, atomic_write_text


class TrainingFailed(Exception):
    """The child process ended with an error; the message says why and what was kept."""


@dataclass
class TrainHandle:
    run_id: str
    run_dir: Path
    process: subprocess.Popen[bytes]

    def cancel(self) -> None:
        """Ask the child to save a checkpoint and stop at the end of the current step."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)


def new_run_id(recipe: Recipe) -> str:
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{recipe.name}"


def _environment() -> dict[str, Any]:
    import importlib.metadata as md

    versions = {}
    for pkg in ("torch", "transformers", "trl", "peft", "bitsandbytes", "datasets"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": versions,
    }


def prepare_run(ws: Workspace, recipe: Recipe) -> tuple[str, Path]:
    import yaml

    ws.require()
    train_path = ws.dataset_dir / "train.jsonl"
    if not train_path.is_file() or train_path.stat().st_size == 0:
        raise UserError("no training data (run `assistant-builder dataset` first)")
    run_id = new_run_id(recipe)
    run_dir = ws.runs_dir / run_id
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = ws.runs_dir / f"{run_id}-{suffix}"
    run_id = run_dir.name
    (run_dir / "data").mkdir(parents=True)
    for split in ("train", "eval"):
        src = ws.dataset_dir / f"{split}.jsonl"
        if src.is_file():
            shutil.copyfile(src, run_dir / "data" / f"{split}.jsonl")
    header = f"# assistant-builder train --recipe {run_dir / 'recipe.yaml'}\n"
    atomic_write_text(
        run_dir / "recipe.yaml", header + yaml.safe_dump(recipe.model_dump(), sort_keys=False)
    )
    atomic_write_json(
        run_dir / "run.json",
        {
            "run": run_id,
            "created": datetime.now().isoformat(timespec="seconds"),
            "recipe": recipe.name,
            "base_model": recipe.base_model,
            "dataset_sha256": dataset_hash(train_path),
            "environment": _environment(),
        },
    )
    return run_id, run_dir


def start(run_dir: Path, resume: bool = False) -> TrainHandle:
    if resume:
        (run_dir / "RESUME").write_text("1")
    else:
        (run_dir / "RESUME").unlink(missing_ok=True)
    log = open(run_dir / "worker.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant_builder.train_worker", str(run_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        # Own process group: a Ctrl-C in the terminal reaches us, and we decide how to stop it.
        start_new_session=True,
    )
    log.close()
    return TrainHandle(run_dir.name, run_dir, proc)


def follow(handle: TrainHandle, on_event: OnEvent = ignore, poll: float = 0.2) -> dict[str, Any]:
    """Relay the child's events until it exits; return metrics.json, or raise TrainingFailed."""
    path = handle.run_dir / "events.jsonl"
    pos = 0
    error: str | None = None

    def drain() -> None:
        nonlocal pos, error
        if not path.is_file():
            return
        with open(path, encoding="utf-8") as f:
            f.seek(pos)
            while True:
                line = f.readline()
                if not line.endswith("\n"):
                    break
                pos = f.tell()
                ev = json.loads(line)
                kind = ev.pop("event")
                if kind == "error":
                    error = ev["message"]
                step, total = ev.get("step"), ev.get("max_steps")
                on_event(Progress("train", kind, done=step, total=total, data=ev))

    while handle.process.poll() is None:
        drain()
        time.sleep(poll)
    drain()
    metrics_path = handle.run_dir / "metrics.json"
    if handle.process.returncode != 0 or not metrics_path.is_file():
        kept = sorted(p.name for p in (handle.run_dir / "checkpoints").glob("checkpoint-*"))
        tail = ""
        log = handle.run_dir / "worker.log"
        if error is None and log.is_file():
            tail = log.read_text(errors="replace").strip().splitlines()[-1:][0:1]
            tail = tail[0] if tail else ""
        why = error or tail or f"exit status {handle.process.returncode}"
        keep = f"; kept checkpoints: {', '.join(kept)}" if kept else ""
        raise TrainingFailed(f"training run {handle.run_id} failed: {why}{keep}")
    metrics: dict[str, Any] = json.loads(metrics_path.read_text(encoding="utf-8"))
    return metrics


def train(
    ws: Workspace, recipe: Recipe, on_event: OnEvent = ignore, resume_run: str | None = None
) -> dict[str, Any]:
    """Run a training to the end (or until cancelled with Ctrl-C) and return its metrics."""
    if resume_run:
        run_dir = ws.run_dir(resume_run)
        if not list((run_dir / "checkpoints").glob("checkpoint-*")):
            raise UserError(f"run {resume_run} has no checkpoint to resume from")
        handle = start(run_dir, resume=True)
    else:
        _, run_dir = prepare_run(ws, recipe)
        handle = start(run_dir)
    on_event(Progress("train", "started", data={"run": handle.run_id}))
    try:
        return follow(handle, on_event)
    except KeyboardInterrupt:
        on_event(Progress("train", "cancelling: saving a checkpoint"))
        handle.cancel()
        return follow(handle, on_event)
