"""Shared pieces of the TUI tests: tiny real workspaces, a fast fake engine and a fake
training child (a real subprocess that writes the event log the real worker writes, so the real
``train.follow`` and ``TrainHandle.cancel`` are exercised). No tests in here."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant_builder.compare.pair import PairAnswerer
from assistant_builder.models.engine import Answer
from assistant_builder.runs import mark_adapter_complete
from assistant_builder.train.launch import TrainHandle
from assistant_builder.workspace import Workspace

RUN_ID = "20250101-120000-cpu-lora"

# The fake training child: the same files the real train_worker writes, in a fraction of a
# second per step; SIGTERM stops it at the next step with status "cancelled" (like the real one).
FAKE_WORKER = r"""
import json, signal, sys, time
from pathlib import Path
from typing import Any
run_dir = Path(sys.argv[1]); steps = int(sys.argv[2]); delay = float(sys.argv[3])
stop = {"now": False}
signal.signal(signal.SIGTERM, lambda *a: stop.update(now=True))
log = open(run_dir / "events.jsonl", "a")
def emit(kind, **d):
    log.write(json.dumps({"event": kind, "time": 0, **d}) + "\n"); log.flush()
emit("mode", mode="lora", why="fake worker for UI tests")
emit("begin", max_steps=steps, epochs=1)
done = 0
for step in range(1, steps + 1):
    time.sleep(delay)
    done = step
    emit("log", step=step, max_steps=steps, loss=2.0 / step, tokens_per_second=100.0,
         eta=delay * (steps - step), epoch=step / steps, elapsed=delay * step, tokens=100 * step)
    if stop["now"]:
        (run_dir / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
        break
emit("eval", step=done, max_steps=steps, eval_loss=1.5)
(run_dir / "adapter").mkdir(exist_ok=True)
(run_dir / "adapter" / "adapter_config.json").write_text("{}")
# The marker the real save writes last (assistant_builder.runs.ADAPTER_MARKER).
marker = {"files": {"adapter_config.json": 2}}
(run_dir / "adapter" / "COMPLETE.json").write_text(json.dumps(marker))
status = "cancelled" if stop["now"] else "completed"
metrics = {"run": run_dir.name, "mode": "lora", "status": status,
           "steps": done, "train_loss": 2.0 / max(done, 1), "eval_loss": 1.5,
           "tokens_per_second": 100.0, "adapter": str(run_dir / "adapter")}
(run_dir / "metrics.json").write_text(json.dumps(metrics))
emit("end", **metrics)
"""


def fake_start(steps: int = 5, delay: float = 0.05):
    def start(run_dir: Path, resume: bool) -> TrainHandle:
        proc = subprocess.Popen(
            [sys.executable, "-c", FAKE_WORKER, str(run_dir), str(steps), str(delay)]
        )
        return TrainHandle(run_dir.name, run_dir, proc)

    return start


class FakeEngine:
    """The Engine's answering methods, at once: base says it does not know, a run's adapter
    repeats the question's reference (from the eval split)."""

    cache = None

    def __init__(self, ws: Workspace) -> None:
        refs = {}
        for line in (ws.dataset_dir / "eval.jsonl").read_text(encoding="utf-8").splitlines():
            msgs = json.loads(line)["messages"]
            refs[msgs[-2]["content"]] = msgs[-1]["content"]
        self.refs = refs

    def _text(self, question: str, adapter: str) -> str:
        if adapter == "base":
            return "I am not sure."
        return self.refs.get(question, f"Tuned answer to: {question}")

    def stream(self, question: str, *, adapter: str, **_: object) -> Iterator[str]:
        words = self._text(question, adapter).split(" ")
        for n, word in enumerate(words):
            yield word if n == 0 else " " + word

    def answer(self, questions: list[str], *, adapter: str, **_: object) -> list[Answer]:
        return [Answer(self._text(q, adapter), True, 5) for q in questions]

    def token_lengths(self, texts: list[str]) -> list[int]:
        return [len(t.split()) for t in texts]


def fake_answerer(ws: Workspace, run_id: str) -> PairAnswerer:
    """The core's blind-pair answerer on :class:`FakeEngine`."""
    return PairAnswerer(ws, run_id, engine=FakeEngine(ws))


def quick_estimate(
    ws: Workspace, recipe: Any, tokenizer: Any = None, conversations: Any = None
) -> tuple[Any, Any]:
    """estimate_run's answer for a small dataset at an assumed speed, without a tokenizer."""
    from assistant_builder.train.budget import plan

    return plan(10_000, 100, recipe.epochs, (200.0, "assumed"), None), recipe


def make_demo_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, ingest: bool = True,
                 build: bool = True) -> Workspace:  # fmt: skip
    """A real workspace with the starter data, named 'ws' inside tmp_path (the current folder),
    so no temporary path ever appears on screen."""
    from assistant_builder.dataset.build import build_dataset
    from assistant_builder.sources.ingest import ingest_paths
    from assistant_builder.templates import copy_demo_data

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSISTANT_BUILDER_WORKSPACE", "ws")
    # The Train screen's estimate reads the base model's tokenizer (converting the default model
    # into the test session's empty cache takes a minute); these tests are about the screens.
    monkeypatch.setattr("assistant_builder.train.preflight.estimate_run", quick_estimate)
    ws = Workspace(Path("ws"))
    ws.create()
    copy_demo_data(ws)
    if ingest:
        ingest_paths(ws, [Path("ws/demo-data")])
    if build:
        build_dataset(ws)
    return ws


def add_fake_run(ws: Workspace, run_id: str = RUN_ID) -> Path:
    """A finished run as train_worker leaves it (adapter folder, run.json, metrics.json)."""
    from assistant_builder.dataset.build import dataset_hash

    run_dir = ws.runs_dir / run_id
    (run_dir / "adapter").mkdir(parents=True)
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    mark_adapter_complete(run_dir / "adapter")  # as the real save leaves it
    (run_dir / "run.json").write_text(json.dumps({
        "run": run_id, "recipe": "cpu-lora", "base_model": "default",
        "dataset_sha256": dataset_hash(ws.dataset_dir / "train.jsonl"),
    }))  # fmt: skip
    (run_dir / "metrics.json").write_text(json.dumps({
        "run": run_id, "status": "completed", "steps": 12, "train_loss": 1.234, "last_loss": 0.012,
        "eval_loss": 1.5, "tokens_per_second": 70.0,
    }))  # fmt: skip
    return run_dir


def make_app(ws: Workspace, **kw):  # type: ignore[no-untyped-def]
    from assistant_builder.tui.app import AssistantBuilderApp

    kw.setdefault("answerer_factory", fake_answerer)
    kw.setdefault("start_training", fake_start())
    kw.setdefault("browse_root", ws.root)
    kw.setdefault("rater", "tester")
    return AssistantBuilderApp(ws, **kw)


def sync(fn):  # type: ignore[no-untyped-def]
    """Run an async test with asyncio.run (no async pytest plugin needed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


async def settle(app, pilot) -> None:  # type: ignore[no-untyped-def]
    """Wait for the app's own workers (not DirectoryTree's endless loader) and a refresh."""
    from textual.worker import WorkerState

    idle = 0
    for _ in range(600):  # 30 s at most
        await pilot.pause(0.05)
        busy = [
            w for w in app.workers
            if w.group != "_loader" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
        ]  # fmt: skip
        # Idle for a few polls in a row: a message on its way may still start a worker.
        idle = 0 if busy else idle + 1
        if idle >= 4:
            break
    await pilot.pause()


FIXED_PAIRS = [
    ("How do I change my password?", "Open Settings → Account → Change password.", 2),
    ("How do I delete my account?", "Open Settings → Account → Delete account.", 3),
    ("Can I use Cloudnote offline?", "Yes: notes are saved on your device first.", 4),
    ("How much does Cloudnote cost?", "Free for one device; Plus is $4 a month.", 5),
]


def make_fixed_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A small workspace written file by file, for snapshots: what the screens show must not
    change when the dataset pipeline learns new tricks (the Pilot tests use the real one)."""
    import os

    from assistant_builder.dataset.build import dataset_hash, make_conversation

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSISTANT_BUILDER_WORKSPACE", "ws")
    # The Train screen's estimate reads the base model's tokenizer (converting the default model
    # into the test session's empty cache takes a minute); these tests are about the screens.
    monkeypatch.setattr("assistant_builder.train.preflight.estimate_run", quick_estimate)
    ws = Workspace(Path("ws"))
    ws.create()
    src = ws.root / "demo-data" / "faq.csv"
    src.parent.mkdir()
    src.write_text("question,answer\n" + "".join(f'"{q}","{a}"\n' for q, a, _ in FIXED_PAIRS))
    sha = "ab" * 32
    items = [
        {"kind": "pair", "question": q, "answer": a, "source": "ws/demo-data/faq.csv",
         "format": "csv", "line_start": line, "line_end": line, "page": None, "sha256": sha}
        for q, a, line in FIXED_PAIRS
    ]  # fmt: skip
    (ws.sources_dir / "items").mkdir(parents=True)
    (ws.sources_dir / "items" / f"{sha}.jsonl").write_text(
        "".join(json.dumps(i) + "\n" for i in items)
    )
    (ws.sources_dir / "index.json").write_text(json.dumps({"files": {
        str(src.resolve()): {"path": "ws/demo-data/faq.csv", "sha256": sha, "format": "csv",
                             "pairs": 4, "sections": 0, "previous": [],
                             "ingested_at": "2099-01-01T00:00:00+00:00"},
    }}))  # fmt: skip
    states = ["approved", "new", "edited", "new"]
    rows = []
    for n, ((q, a, line), state) in enumerate(zip(FIXED_PAIRS, states, strict=True)):
        meta = {"id": f"id{n}", "group": f"g{n}", "how": "edited" if state == "edited" else
                "extracted", "review": state, "source": "ws/demo-data/faq.csv", "format": "csv",
                "line_start": line, "line_end": line, "page": None, "sha256": sha,
                "split": "eval" if n == 3 else "train"}  # fmt: skip
        rows.append(make_conversation(q, a, "You are a helpful support assistant.", meta))
    lines = {s: [json.dumps(r) + "\n" for r in rows if r["meta"]["split"] == s]
             for s in ("train", "eval")}  # fmt: skip
    (ws.dataset_dir / "conversations.jsonl").write_text("".join(lines["train"] + lines["eval"]))
    (ws.dataset_dir / "train.jsonl").write_text("".join(lines["train"]))
    (ws.dataset_dir / "eval.jsonl").write_text("".join(lines["eval"]))
    report = ws.dataset_dir / "report.json"
    report.write_text(json.dumps({"train": 3, "eval": 1, "dropped": {}, "groups": 4}))
    # The build came after the ingest (the home screen compares the two).
    os.utime(ws.sources_dir / "index.json", (1_000_000, 1_000_000))
    add_fake_run(ws)
    assert dataset_hash(ws.dataset_dir / "train.jsonl")
    return ws


def checkable(ws: Workspace, monkeypatch: pytest.MonkeyPatch, run_id: str = RUN_ID) -> None:
    """Make the fake run checkable by the real release check: its own copy of the split (as
    training leaves it) and :class:`FakeEngine` in place of the model."""
    import shutil

    import assistant_builder.models.engine as engine_mod

    data = ws.runs_dir / run_id / "data"
    data.mkdir(exist_ok=True)
    for split in ("train", "eval"):
        shutil.copyfile(ws.dataset_dir / f"{split}.jsonl", data / f"{split}.jsonl")
    monkeypatch.setattr(engine_mod, "Engine", lambda *a, **kw: FakeEngine(ws))
