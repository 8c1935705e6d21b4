"""The Train stage, parent side: prepare ``runs/<id>/``, start the training child process, follow
its ``events.jsonl`` and turn the lines into progress events.

The run folder is self-contained: the resolved recipe, a copy of the dataset split it trained
on (with its hash), the environment, the event log, metrics, the loss plot and the adapter.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant_builder.dataset.build import dataset_hash
from assistant_builder.dataset.conversations import read_conversations
from assistant_builder.errors import UserError, one_line
from assistant_builder.events import Cancelling, OnTrainEvent, TrainStarted, ignore, train_event
from assistant_builder.runs import Run, open_run
from assistant_builder.train import distributed
from assistant_builder.train.answer_cut import KEY, cuts
from assistant_builder.train.recipe import Recipe
from assistant_builder.workspace import Workspace, atomic_write_json, atomic_write_text


class TrainingFailed(Exception):
    """The child process ended with an error; the message says why and what was kept."""


@dataclass
class TrainHandle:
    run_id: str
    run_dir: Path
    process: subprocess.Popen[bytes]
    events_from: int = 0

    def cancel(self) -> None:
        """Ask the child to save a checkpoint and stop at the end of the current step."""
        if self.process.poll() is None:
            if distributed.is_launched(self.run_dir):
                distributed.request_stop(self.run_dir)  # ranks must stop at the same step
            else:
                self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Stop the child now, without saving (what was checkpointed before stays)."""
        if self.process.poll() is None:
            if distributed.is_launched(self.run_dir):
                distributed.kill_all(self.process)
            else:
                self.process.kill()


# -- helpers shared with the child process (light: no torch import) -----------------------------
def to_prompt_completion(
    rows: list[dict[str, Any]], paraphrase_answer_tokens: int = 0
) -> list[dict[str, Any]]:
    """Conversations → TRL's conversational prompt/completion form, so the loss is computed on
    the assistant's last answer and its end-of-turn token only, never on the prompt. Both halves
    go through the tokenizer's own chat template (the one inference and export use). With
    ``paraphrase_answer_tokens`` a paraphrase row carries its cut (answer_cut.py)."""
    out = []
    for r, cut in zip(rows, cuts(rows, paraphrase_answer_tokens), strict=True):
        row = {"prompt": r["messages"][:-1], "completion": r["messages"][-1:]}
        out.append({**row, KEY: cut} if cut else row)
    return out


def resolve_mode(recipe: Recipe, cuda: bool) -> tuple[str, str]:
    """(mode, why) for the recipe on a machine with or without a CUDA GPU."""
    if recipe.mode == "auto":
        if cuda:
            return "qlora", "CUDA GPU found: QLoRA (4-bit nf4 base, double quant, bf16 compute)"
        return "lora", "no CUDA GPU: plain LoRA in fp32 (QLoRA on CPU measured ~13x slower)"
    if recipe.mode == "qlora" and not cuda:
        return "qlora", "recipe forces QLoRA on CPU: it works but is ~13x slower than LoRA"
    return recipe.mode, f"recipe sets mode={recipe.mode}"


def is_out_of_memory(e: BaseException) -> bool:
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        return True
    text = str(e).lower()
    return "out of memory" in text or "can't allocate memory" in text


def describe_failure(e: BaseException, recipe: Recipe | None) -> str:
    """One line for the user: what went wrong and, for out-of-memory, what to change."""
    if is_out_of_memory(e):
        where = ""
        if recipe is not None:
            where = (
                f" (batch_size={recipe.batch_size}, max_seq_length={recipe.max_seq_length},"
                f" gradient_checkpointing={str(recipe.gradient_checkpointing).lower()})"
            )
        return (
            f"out of memory{where}: lower batch_size (raise grad_accum to keep the effective "
            "batch), lower max_seq_length, or set gradient_checkpointing=true"
        )
    return one_line(e)


def last_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint with the highest step (see :meth:`Run.last_checkpoint`)."""
    return Run(run_dir).last_checkpoint()


def plot_loss(run_dir: Path) -> None:
    """loss.png from events.jsonl: train loss per logged step, eval loss per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, losses, esteps, elosses = [], [], [], []
    for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines():
        ev = json.loads(line)
        if ev["event"] == "log":
            steps.append(ev["step"])
            losses.append(ev["loss"])
        elif ev["event"] == "eval":
            esteps.append(ev["step"])
            elosses.append(ev["eval_loss"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, losses, label="train loss")
    if esteps:
        ax.plot(esteps, elosses, "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "loss.png", dpi=100)
    plt.close(fig)


def new_run_id(recipe: Recipe) -> str:
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{recipe.name}"


def _environment() -> dict[str, Any]:
    from assistant_builder import package_versions

    versions = package_versions(
        ("torch", "transformers", "trl", "peft", "bitsandbytes", "datasets")
    )
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": versions,
    }


def prepare_run(ws: Workspace, recipe: Recipe, from_run: str | None = None) -> tuple[str, Path]:
    """A new run folder; with ``from_run``, an update that starts from that run's adapter and
    trains on what changed since it (train/incremental.py) for the update's epochs."""
    import yaml

    from assistant_builder.train import preferences

    ws.require()
    distributed.check_world(recipe)
    update: dict[str, Any] = {}
    prefs = None
    if recipe.method == "dpo":  # its refusals (no --from, no pairs, ...) before any folder
        from assistant_builder.train.parent import resolve_parent

        parent = resolve_parent(ws, from_run, recipe) if from_run else None
        prefs = preferences.check_dpo(ws, recipe, parent)
        update = {"parent": parent}
    train_path = ws.dataset_dir / "train.jsonl"
    if not train_path.is_file() or train_path.stat().st_size == 0:
        raise UserError("no training data (run `assistant-builder dataset` first)")
    for split in ("train", "eval"):  # a bad row fails here, before a run folder exists
        if (ws.dataset_dir / f"{split}.jsonl").is_file():
            read_conversations(ws.dataset_dir / f"{split}.jsonl")
    if from_run and recipe.method == "sft":
        from assistant_builder.train import incremental

        parent, sel, recipe = incremental.plan_update(ws, recipe, from_run)
        update = {"parent": parent, "incremental": sel.to_json(parent["run"], recipe.replay_share)}
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
    # An update's rows; the whole split is kept for the next update's comparison.
    if "incremental" in update:
        from assistant_builder.train.incremental import DATASET_SNAPSHOT
        from assistant_builder.workspace import atomic_write_jsonl

        (run_dir / "data" / "train.jsonl").rename(run_dir / "data" / DATASET_SNAPSHOT)
        atomic_write_jsonl(run_dir / "data" / "train.jsonl", sel.rows)
        if recipe.update_guard and sel.guard:
            from assistant_builder.train.guard import GUARD_FILE

            atomic_write_jsonl(run_dir / "data" / GUARD_FILE, sel.guard)
    from assistant_builder.retrieval.raft import add_to_run

    retrieval = add_to_run(ws, recipe, run_dir)
    if prefs is not None:
        update["preferences"] = preferences.add_to_run(run_dir, prefs)
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
            "world": distributed.world(recipe),
            "retrieval": retrieval,
            **update,
        },
    )
    distributed.write_config(run_dir, recipe)
    return run_id, run_dir


def start(run_dir: Path, resume: bool = False) -> TrainHandle:
    if resume:
        (run_dir / "RESUME").write_text("1")
    else:
        (run_dir / "RESUME").unlink(missing_ok=True)
    events = run_dir / "events.jsonl"
    # A resumed run appends to the same log: relay only this attempt's events.
    events_from = events.stat().st_size if events.is_file() else 0
    cmd = distributed.worker_command(run_dir)  # accelerate's launcher for several processes
    log = open(run_dir / "worker.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Own process group: a Ctrl-C in the terminal reaches us, and we decide how to stop it.
        start_new_session=True,
    )
    log.close()
    return TrainHandle(run_dir.name, run_dir, proc, events_from)


def _failure(handle: TrainHandle, error: str | None) -> TrainingFailed:
    code = handle.process.returncode
    if error is None and code is not None and code < 0:
        sig = signal.Signals(-code).name
        error = f"the training process was killed ({sig})" + (
            ": most likely out of memory (lower batch_size or max_seq_length)"
            if code == -signal.SIGKILL
            else ""
        )
    if error is None:
        error = distributed.explain_failure(handle.run_dir)
    if error is None:
        log = handle.run_dir / "worker.log"
        lines = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
        error = lines[-1] if lines else f"exit status {code}"
    ckpt = last_checkpoint(handle.run_dir)
    keep = (
        f"; kept {ckpt.name} (resume: assistant-builder train --resume {handle.run_id})"
        if ckpt
        else ""
    )
    return TrainingFailed(f"training run {handle.run_id} failed: {error}{keep}")


def follow(
    handle: TrainHandle, on_event: OnTrainEvent = ignore, poll: float = 0.2
) -> dict[str, Any]:
    """Relay the child's events until it exits; return metrics.json, or raise TrainingFailed."""
    path = handle.run_dir / "events.jsonl"
    pos = handle.events_from
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
                on_event(train_event(kind, ev))

    while handle.process.poll() is None:
        drain()
        time.sleep(poll)
    drain()
    metrics_path = handle.run_dir / "metrics.json"
    if handle.process.returncode != 0 or not metrics_path.is_file():
        raise _failure(handle, error)
    metrics: dict[str, Any] = json.loads(metrics_path.read_text(encoding="utf-8"))
    return metrics


StartChild = Callable[[Path, bool], TrainHandle]


def check_resumable(ws: Workspace, run_id: str) -> Path:
    """The folder of run ``run_id`` if it can be resumed; else a UserError saying why."""
    run = open_run(ws.runs_dir, run_id)
    if run.last_checkpoint() is None:
        raise UserError(f"run {run_id} has no checkpoint to resume from")
    if run.completed():
        raise UserError(f"run {run_id} already completed; nothing to resume")
    return run.dir


def launch(
    ws: Workspace,
    recipe: Recipe | None = None,
    resume: str | None = None,
    *,
    start_child: StartChild | None = None,
    from_run: str | None = None,
) -> TrainHandle:
    """Start a new run of ``recipe``, or resume run ``resume`` from its last checkpoint (a run
    that completed is refused), in a child process; ``from_run`` starts from that run's adapter
    (train/parent.py). The CLI and the app both start here; ``start_child`` is the app's seam
    for a fake child in tests (default: :func:`start`)."""
    start_child = start_child or start
    if resume:
        return start_child(check_resumable(ws, resume), True)
    if recipe is None:
        raise UserError("a new run needs a recipe")
    _, run_dir = prepare_run(ws, recipe, from_run)
    return start_child(run_dir, False)


def train(
    ws: Workspace,
    recipe: Recipe,
    on_event: OnTrainEvent = ignore,
    resume_run: str | None = None,
    from_run: str | None = None,
) -> dict[str, Any]:
    """Run a training to the end and return its metrics (``status`` "completed", or
    "cancelled" after Ctrl-C: a checkpoint is saved and ``resume_run`` continues from it).
    A second Ctrl-C while the checkpoint is being saved stops the child at once."""
    handle = launch(ws, recipe, resume_run, from_run=from_run)
    run_dir = handle.run_dir
    on_event(TrainStarted(handle.run_id, str(run_dir)))
    with _terminate_as_interrupt():
        return _follow_or_cancel(handle, on_event)


def _follow_or_cancel(handle: TrainHandle, on_event: OnTrainEvent) -> dict[str, Any]:
    try:
        return follow(handle, on_event)
    except KeyboardInterrupt:
        on_event(Cancelling(handle.run_id))
        handle.cancel()
        try:
            return follow(handle, on_event)
        except KeyboardInterrupt:
            handle.kill()
            handle.process.wait()
            raise _failure(handle, "stopped without saving (second Ctrl-C)") from None


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a service manager stopping us) stops the training like Ctrl-C does:
    the child is asked to save a checkpoint and stop, never left running on its own. Only the
    main thread can set signal handlers; elsewhere (the app's worker) the app cancels."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
