"""Training on several processes through accelerate (train/distributed.py), proved on CPU:
two processes of the tiny model talk over gloo. Each process start imports torch, transformers
and TRL, so a two-process run costs tens of seconds on a loaded 2-core machine: the CI test
makes one reference run and one two-process run (cancelled after its first step, then
resumed); the two-machine launch on localhost is marked slow."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.train_data import conversations, events, recipe, write_jsonl

from assistant_builder.errors import UserError
from assistant_builder.train import distributed
from assistant_builder.train.launch import TrainingFailed, follow, prepare_run, start, train
from assistant_builder.train.recipe import load_recipe

ROWS = 16
# The two-process loss is TRL's (DDP needs the model's forward), the reference's the selective
# loss (the same to ~5 decimals), and the gradients are averaged over processes in another
# order: float rounding. Measured: step 1 equal to all digits, step 2 1e-6 apart; the loss
# moves ~3e-2 a step here.
LOSS_TOLERANCE = 1e-4


@pytest.fixture
def ws(workspace: Any) -> Any:
    write_jsonl(workspace.dataset_dir / "train.jsonl", conversations(ROWS))
    return workspace


def _losses(run_dir: Path) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events(run_dir) if e["event"] == "log"}


def _fingerprints(run_dir: Path) -> list[set[str]]:
    shards = json.loads((run_dir / distributed.SHARDS).read_text())
    return [set(r["fingerprints"]) for r in shards["ranks"]]


@pytest.mark.skipif(distributed.cpu_cores() < 2, reason="two processes need two CPU cores")
def test_two_cpu_processes_split_the_rows_match_one_process_and_resume(
    ws: Any, tiny_model: str
) -> None:
    # The reference: one process, a batch of 8, one epoch of 16 rows = 2 steps.
    one = train(ws, recipe(tiny_model, batch_size=8, epochs=1, eval_each_epoch=False))
    assert (one["steps"], one["world_size"], one["effective_batch"]) == (2, 1, 8)
    one_dir = ws.runs_dir / one["run"]
    assert not (one_dir / distributed.CONFIG).exists()

    # Two processes of 4 rows each: the same global batch of 8.
    r = recipe(tiny_model, batch_size=4, epochs=1, eval_each_epoch=False, processes=2)
    run_id, run_dir = prepare_run(ws, r)
    config = (run_dir / distributed.CONFIG).read_text()
    assert config.startswith("# on machine R (0..0): accelerate launch --config_file")
    assert "num_processes: 2" in config and "distributed_type: MULTI_GPU" in config
    handle = start(run_dir)
    handle.cancel()  # before the first step ends: every rank stops after step 1, checkpointed
    first = follow(handle)
    assert (first["status"], first["steps"]) == ("cancelled", 1)
    assert first["checkpoint"] == "checkpoint-1"
    assert first["rows_per_rank"] == [4, 4]

    done = train(ws, r, resume_run=run_id)
    assert (done["status"], done["steps"], done["world_size"]) == ("completed", 2, 2)
    assert done["effective_batch"] == 8 and done["rows_per_rank"] == [8, 8]
    assert json.loads((run_dir / "run.json").read_text())["world"]["world_size"] == 2
    assert [e["checkpoint"] for e in events(run_dir) if e["event"] == "resume"] == ["checkpoint-1"]

    # Really distributed: each rank trained on its own half of the rows, the two halves are
    # the whole epoch.
    rank0, rank1 = _fingerprints(run_dir)
    assert len(rank0) == len(rank1) == ROWS // 2 and not rank0 & rank1
    (everything,) = _fingerprints(one_dir)
    assert rank0 | rank1 == everything and len(everything) == ROWS

    # The same global batch gives the same losses, step 1 before the cancel, step 2 after.
    ref, got = _losses(one_dir), _losses(run_dir)
    assert sorted(got) == [1, 2]
    for step in (1, 2):
        assert got[step] == pytest.approx(ref[step], abs=LOSS_TOLERANCE), step
    assert ref[1] != pytest.approx(ref[2], abs=10 * LOSS_TOLERANCE)  # the check can fail

    # Rank 0 alone wrote the adapter and the events (one begin per attempt, not per rank).
    assert (Path(done["adapter"]) / "adapter_model.safetensors").is_file()
    assert not (Path(done["adapter"]) / "training_args.bin").exists()
    assert [e["event"] for e in events(run_dir)].count("begin") == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.skipif(distributed.cpu_cores() < 2, reason="two machines' processes need two cores")
def test_two_machines_on_localhost_one_rendezvous(ws: Any, tiny_model: str) -> None:
    r = recipe(
        tiny_model,
        batch_size=4,
        epochs=1,
        eval_each_epoch=False,
        nodes=2,
        main_address=f"127.0.0.1:{_free_port()}",
        join_timeout=120,
    )
    _, run_dir = prepare_run(ws, r)
    handle = start(run_dir)  # machine 0, as `assistant-builder train` starts it
    # Machine 1: the command the run's config opens with, with R=1 (the workspace is shared).
    line = (run_dir / distributed.CONFIG).read_text().splitlines()[0].split(": ", 1)[1]
    assert line == distributed.machine_command(run_dir, r)
    other = subprocess.Popen(
        distributed.launch_command(run_dir, r, machine_rank=1),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        m = follow(handle)
    finally:
        other.wait(timeout=120)
    assert other.returncode == 0
    assert (m["status"], m["world_size"], m["nodes"], m["rows_per_rank"]) == (
        "completed",
        2,
        2,
        [8, 8],
    )
    rank0, rank1 = _fingerprints(run_dir)
    assert len(rank0 | rank1) == ROWS and not rank0 & rank1


@pytest.mark.slow
def test_a_machine_that_never_joins_fails_after_join_timeout(ws: Any, tiny_model: str) -> None:
    r = recipe(tiny_model, nodes=2, main_address=f"127.0.0.1:{_free_port()}", join_timeout=5)
    _, run_dir = prepare_run(ws, r)
    handle = start(run_dir)
    timer = threading.Timer(120, handle.kill)  # the test's own bound, far above join_timeout
    timer.start()
    try:
        with pytest.raises(TrainingFailed, match=r"only 1 of 2 processes joined within \d+ s"):
            follow(handle)
    finally:
        timer.cancel()
    assert "--machine_rank R" in str(distributed.explain_failure(run_dir))


# -- checks before anything starts (no process, no run folder) ---------------------------------
def test_more_processes_than_cores_or_gpus_is_refused(tmp_path: Path) -> None:
    r = recipe(str(tmp_path), processes=4)
    with pytest.raises(UserError, match=r"processes=4 but this machine has 2 CPU core\(s\)"):
        distributed.check_world(r, cuda=0, cores=2)
    with pytest.raises(UserError, match=r"processes=4 but this machine has 2 CUDA GPU\(s\)"):
        distributed.check_world(r, cuda=2, cores=64)
    distributed.check_world(r, cuda=4, cores=2)  # one per GPU
    distributed.check_world(recipe(str(tmp_path), processes=2), cuda=0, cores=2)


def test_strategies_the_machine_or_packages_cannot_run_are_refused(tmp_path: Path) -> None:
    fsdp = recipe(str(tmp_path), processes=2, strategy="fsdp")
    with pytest.raises(UserError, match=r"strategy=fsdp .* use strategy=ddp on CPU"):
        distributed.check_world(fsdp, cuda=0, cores=2)
    with pytest.raises(UserError, match=r"strategy=fsdp shards bf16 weights: set mode=lora"):
        distributed.check_world(fsdp, cuda=2, cores=2)  # mode auto = QLoRA on CUDA
    distributed.check_world(recipe(str(tmp_path), processes=2, strategy="fsdp", mode="lora"), 2, 2)
    ds = recipe(str(tmp_path), processes=2, strategy="deepspeed")
    if distributed.find_spec("deepspeed") is None:
        with pytest.raises(UserError, match=r"needs the deepspeed package \(pip install"):
            distributed.check_world(ds, cuda=2, cores=2)


def test_refused_world_leaves_no_run_folder(ws: Any, tiny_model: str) -> None:
    with pytest.raises(UserError, match=r"processes=1024 but this machine has"):
        prepare_run(ws, recipe(tiny_model, processes=1024))
    assert not ws.runs_dir.exists() or not any(ws.runs_dir.iterdir())


def test_several_machines_need_the_main_address(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("nodes: 2\n")
    with pytest.raises(UserError, match=r"nodes > 1 needs main_address=HOST:PORT"):
        load_recipe(str(p))
    with pytest.raises(UserError, match=r"main_address"):
        load_recipe(str(p), ["main_address=not an address"])


def test_accelerate_config_per_strategy(tmp_path: Path) -> None:
    r = recipe(str(tmp_path), processes=8, nodes=2, main_address="10.0.0.1:29500")
    cfg = distributed.accelerate_config(r)
    assert (cfg["num_processes"], cfg["num_machines"]) == (16, 2)
    assert cfg["main_process_ip"] == "10.0.0.1"
    assert cfg["main_process_port"] == 29500 and cfg["distributed_type"] == "MULTI_GPU"
    assert distributed.world(r)["effective_batch"] == r.batch_size * 16
    fsdp = distributed.accelerate_config(r.model_copy(update={"strategy": "fsdp"}))
    assert fsdp["distributed_type"] == "FSDP" and fsdp["fsdp_config"]["fsdp_version"] == 2
    ds = distributed.accelerate_config(r.model_copy(update={"strategy": "deepspeed"}))
    assert ds["deepspeed_config"]["zero_stage"] == 2
    cmd = distributed.machine_command(tmp_path, r, "1")
    assert cmd.startswith("accelerate launch --config_file") and "--machine_rank 1" in cmd
    # accelerate itself reads the config we write (unknown keys would be an error there).
    from accelerate.commands.config.config_args import load_config_from_file

    distributed.write_config(tmp_path, r)
    assert load_config_from_file(str(tmp_path / distributed.CONFIG)).num_processes == 16


def test_cli_refuses_more_processes_than_the_machine_has(ws: Any, tiny_model: str) -> None:
    cmd = [sys.executable, "-m", "assistant_builder", "--workspace", str(ws.root)]
    args = ["train", "--processes", "1000", "--set", f"base_model={tiny_model}", "--json"]
    r = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "processes=1000 but this machine has" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert not ws.runs_dir.exists() or not any(ws.runs_dir.iterdir())


def test_kill_reaches_workers_in_sessions_of_their_own(tmp_path: Path) -> None:
    """As torchrun starts them: a second Ctrl-C must not leave workers training."""
    import psutil

    pid_file = tmp_path / "worker.pid"
    script = (
        "import subprocess, sys, time\n"
        "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
        " start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(w.pid))\n"
        "time.sleep(120)\n"
    )
    launcher = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    for _ in range(300):
        if pid_file.is_file() and pid_file.read_text():
            break
        time.sleep(0.1)
    worker = psutil.Process(int(pid_file.read_text()))
    distributed.kill_all(launcher)  # type: ignore[arg-type]
    launcher.wait(timeout=30)
    worker.wait(timeout=30)
    assert not worker.is_running()
