"""Training on a tiny randomly initialised Llama (hidden 64, 2 layers) that uses the default
model's tokenizer and chat template: the real TRL/PEFT path, end to end through the child
process, in seconds. The real-model property (the tuned model stops on its own) is in
test_train_slow.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.train_data import conversations, events, recipe, write_jsonl

from assistant_builder.errors import UserError
from assistant_builder.events import Progress, TrainLog
from assistant_builder.models.cpu.fast_lora import onednn_linear_works
from assistant_builder.train.launch import (
    TrainHandle,
    TrainingFailed,
    describe_failure,
    follow,
    last_checkpoint,
    prepare_run,
    resolve_mode,
    start,
    train,
)
from assistant_builder.train.recipe import Recipe
from assistant_builder.workspace import Workspace


@pytest.fixture
def ws(workspace: Any) -> Any:
    write_jsonl(workspace.dataset_dir / "train.jsonl", conversations(12))
    write_jsonl(workspace.dataset_dir / "eval.jsonl", conversations(4, offset=100))
    return workspace


def _kind(ev: Any) -> str:
    """A typed event's class name; an untyped one's kind (its message)."""
    return ev.message if isinstance(ev, Progress) else type(ev).__name__


def test_lora_run_end_to_end(ws: Any, tiny_model: str) -> None:
    seen: list[str] = []
    m = train(ws, recipe(tiny_model), on_event=lambda ev: seen.append(_kind(ev)))
    assert m["status"] == "completed" and m["mode"] == "lora"
    assert m["steps"] == 6 == m["max_steps"]  # 12 rows / batch 4 x 2 epochs
    run_dir = ws.runs_dir / m["run"]
    for name in ("recipe.yaml", "run.json", "events.jsonl", "metrics.json", "loss.png"):
        assert (run_dir / name).is_file(), name
    run = json.loads((run_dir / "run.json").read_text())
    assert len(run["dataset_sha256"]) == 64 and run["environment"]["packages"]["trl"]
    assert json.loads((run_dir / "metrics.json").read_text())["run"] == m["run"]

    evs = events(run_dir)
    mode = next(e for e in evs if e["event"] == "mode")
    assert mode["mode"] == "lora" and "no CUDA" in mode["why"]
    # Rows go unpadded on CPU too, with the per-row attention (varlen_attention.py).
    assert mode["padding_free"] is True
    fused = next(e for e in evs if e["event"] == "fused_lora")
    assert fused["layers"] == 2 * 7  # every projection of both layers (fast_lora.py)
    onednn = next(e for e in evs if e["event"] == "onednn_linear")
    assert onednn["head"] is onednn_linear_works()  # the frozen LM head through oneDNN
    logs = [e for e in evs if e["event"] == "log"]
    assert [e["step"] for e in logs] == [1, 2, 3, 4, 5, 6]
    for e in logs:
        for key in ("step", "loss", "learning_rate", "tokens_per_second", "eta"):
            assert e[key] is not None, key
    assert logs[-1]["eta"] == 0 and logs[0]["eta"] > 0
    evals = [e for e in evs if e["event"] == "eval"]
    assert [round(e["epoch"]) for e in evals] == [1, 2]  # eval-split loss each epoch
    assert m["eval_loss"] == evals[-1]["eval_loss"]
    assert {"TrainStarted", "Mode", "TrainBegin", "TrainLog", "EvalLoss", "end"} <= set(seen)

    # The adapter carries the tokenizer and the very chat template training used.
    adapter = Path(m["adapter"])
    assert (adapter / "adapter_model.safetensors").is_file()
    from assistant_builder.models.loading import load_tokenizer

    tuned_tok = load_tokenizer(str(adapter))
    assert tuned_tok.chat_template == load_tokenizer(tiny_model).chat_template
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    short = {name.rsplit(".", 1)[-1] for name in cfg["target_modules"]}
    assert cfg["r"] == 4 and short == {"q_proj", "k_proj", "v_proj", "o_proj"} | {
        "gate_proj",
        "up_proj",
        "down_proj",
    }  # all-linear: every projection, not the LM head


def test_cancel_saves_checkpoint_failure_keeps_it_and_resume_finishes(
    ws: Any, tiny_model: str
) -> None:
    r = recipe(tiny_model, max_steps=12, eval_each_epoch=False)
    run_id, run_dir = prepare_run(ws, r)
    handle = start(run_dir)

    def cancel_on_first_step(ev: Any) -> None:
        if isinstance(ev, TrainLog):
            handle.cancel()

    m = follow(handle, cancel_on_first_step)
    assert m["status"] == "cancelled" and 1 <= m["steps"] < 12
    ckpt = last_checkpoint(run_dir)
    assert ckpt is not None and ckpt.name == f"checkpoint-{m['steps']}"
    assert m["checkpoint"] == ckpt.name

    # A corrupted dataset copy: the resumed run fails, names the line and keeps the checkpoint.
    data = run_dir / "data" / "train.jsonl"
    good = data.read_text()
    data.write_text(good + "{not json\n")
    with pytest.raises(TrainingFailed, match=r"train.jsonl:13: not valid JSON.*kept checkpoint-"):
        train(ws, r, resume_run=run_id)
    assert last_checkpoint(run_dir) == ckpt

    data.write_text(good)
    m2 = train(ws, r, resume_run=run_id)
    assert m2["status"] == "completed" and m2["steps"] == 12
    resumed = [e for e in events(run_dir) if e["event"] == "resume"]
    assert resumed and resumed[-1]["checkpoint"] == ckpt.name
    with pytest.raises(UserError, match="already completed"):
        train(ws, r, resume_run=run_id)


def test_corrupted_dataset_is_refused_before_a_run_starts(ws: Any, tiny_model: str) -> None:
    path = ws.dataset_dir / "train.jsonl"
    rows = conversations(3)
    rows[1]["messages"] = rows[1]["messages"][:2]  # no assistant answer
    write_jsonl(path, rows)
    with pytest.raises(
        UserError, match=r"train.jsonl:2: a conversation must end with an assistant"
    ):
        prepare_run(ws, recipe(tiny_model))
    assert not ws.runs_dir.exists() or not any(ws.runs_dir.iterdir())


# -- failures inside the worker (in process: the same code the child runs) ----------------------
def _run_dir(tmp_path: Path, r: Recipe, rows: int = 12) -> Path:
    import yaml

    run_dir = tmp_path / "run"
    write_jsonl(run_dir / "data" / "train.jsonl", conversations(rows))
    write_jsonl(run_dir / "data" / "eval.jsonl", conversations(4, offset=100))
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(r.model_dump()))
    return run_dir


def test_impossible_setting_fails_with_the_cause(tmp_path: Path, tiny_model: str) -> None:
    from assistant_builder.train import worker as train_worker

    run_dir = _run_dir(tmp_path, recipe(tiny_model, max_seq_length=32, fit_long_rows=False))
    assert train_worker.run(run_dir) == 1
    err = [e for e in events(run_dir) if e["event"] == "error"][-1]
    assert "longer than max_seq_length=32" in err["message"]
    assert not (run_dir / "metrics.json").exists()


def test_out_of_memory_inside_the_worker_gives_advice(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from assistant_builder.train import worker as train_worker

    def boom(*a: Any, **k: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train_worker, "build_trainer", boom)
    run_dir = _run_dir(tmp_path, recipe(tiny_model, batch_size=16))
    assert train_worker.run(run_dir) == 1
    err = [e for e in events(run_dir) if e["event"] == "error"][-1]
    assert err["message"].startswith("out of memory (batch_size=16, max_seq_length=128")
    assert "grad_accum" in err["message"] and "OutOfMemoryError" in err["traceback"]


def test_describe_failure() -> None:
    r = Recipe(batch_size=8)
    assert describe_failure(MemoryError(), r).startswith("out of memory (batch_size=8")
    cpu_oom = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
    )
    assert describe_failure(cpu_oom, None).startswith("out of memory:")
    assert describe_failure(ValueError("bad\nmore"), r) == "ValueError: bad"
    assert (
        describe_failure(UserError("x.jsonl:3: not valid JSON"), r) == "x.jsonl:3: not valid JSON"
    )


def test_a_child_killed_by_the_kernel_is_reported_as_likely_oom(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    handle = TrainHandle("r1", tmp_path, proc)
    os.kill(proc.pid, signal.SIGKILL)
    with pytest.raises(TrainingFailed, match=r"killed \(SIGKILL\): most likely out of memory"):
        follow(handle, poll=0.05)


def test_resolve_mode() -> None:
    assert resolve_mode(Recipe(mode="auto"), cuda=False)[0] == "lora"
    assert "13x" in resolve_mode(Recipe(mode="auto"), cuda=False)[1]
    assert resolve_mode(Recipe(mode="auto"), cuda=True)[0] == "qlora"
    assert resolve_mode(Recipe(mode="qlora"), cuda=False) == (
        "qlora",
        "recipe forces QLoRA on CPU: it works but is ~13x slower than LoRA",
    )
    assert resolve_mode(Recipe(mode="lora"), cuda=True)[0] == "lora"


def test_follow_relays_only_new_events_of_a_resumed_run(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text(json.dumps({"event": "log", "loss": 1.0}) + "\n")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    seen: list[str] = []
    handle = TrainHandle(
        "r", tmp_path, proc, events_from=(tmp_path / "events.jsonl").stat().st_size
    )
    (tmp_path / "metrics.json").write_text("{}")
    time.sleep(0.01)
    follow(handle, lambda ev: seen.append(_kind(ev)), poll=0.05)
    assert seen == []


def test_launch_refuses_a_completed_run_and_a_run_without_checkpoint(tmp_path: Path) -> None:
    from assistant_builder.train.launch import launch

    ws = Workspace(tmp_path / "ws")
    ws.create()
    run_dir = ws.runs_dir / "r1"
    run_dir.mkdir(parents=True)
    started: list[tuple[Path, bool]] = []

    def start_child(folder: Path, resume: bool) -> Any:
        started.append((folder, resume))

    with pytest.raises(UserError, match="r1 has no checkpoint to resume from"):
        launch(ws, resume="r1", start_child=start_child)
    (run_dir / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    (run_dir / "metrics.json").write_text('{"status": "completed"}')
    with pytest.raises(UserError, match="r1 already completed; nothing to resume"):
        launch(ws, resume="r1", start_child=start_child)
    (run_dir / "metrics.json").write_text('{"status": "cancelled"}')
    launch(ws, resume="r1", start_child=start_child)
    assert started == [(run_dir, True)]


def test_event_log_lines_become_typed_events_and_one_eta_format() -> None:
    from assistant_builder.events import EvalLoss, Mode, format_eta, train_event

    assert train_event("mode", {"mode": "lora", "why": "no CUDA", "notes": ["x"]}) == Mode(
        "lora", "no CUDA", ("x",)
    )
    log = {"step": 3, "max_steps": 9, "loss": 0.5, "tokens_per_second": 70.0, "eta": 125.0}
    assert train_event("log", log) == TrainLog(3, 9, 0.5, 70.0, 125.0)
    assert train_event("eval", {"step": 9, "eval_loss": 0.4}) == EvalLoss(9, None, 0.4)
    other = train_event("end", {"status": "completed"})
    assert isinstance(other, Progress) and other.message == "end"
    assert [format_eta(s) for s in (None, 7, 125, 3725)] == ["?", "7s", "2m05s", "1h02m"]
