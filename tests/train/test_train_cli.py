"""`assistant-builder train` as a user drives it: Ctrl-C saves a checkpoint and exits cleanly
with the run id and the resume command; `train --resume RUN` finishes the run; `--json` prints
one summary object. On the tiny Llama, but through two CLI processes and their training
children, so it is marked slow."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from support.cli import cli_command
from support.train_data import conversations, write_jsonl


@pytest.mark.slow
def test_ctrl_c_cancels_with_a_checkpoint_and_resume_finishes(
    workspace: Any, tiny_model: str, run_cli
) -> None:
    write_jsonl(workspace.dataset_dir / "train.jsonl", conversations(12))
    # Enough steps that Ctrl-C lands before the end even when the tiny model trains fast (30
    # steps finished between the first progress line and the signal in a warm full run).
    sets = [f"base_model={tiny_model}", "max_steps=200", "batch_size=4", "lora_r=4"]
    sets += ["lora_alpha=8", "max_seq_length=128", "threads=1", "eval_each_epoch=false"]
    args = [x for s in sets for x in ("--set", s)]
    proc = subprocess.Popen(
        cli_command(workspace.root, "train", *args, "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it: the default handler, whatever the test process
        # inherited (a child started with SIGINT ignored keeps ignoring it, by POSIX rule).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        logs = list(workspace.runs_dir.glob("*/events.jsonl"))
        if logs and '"event": "log"' in logs[0].read_text():
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    summary = json.loads(out)  # exactly one JSON object on stdout
    run = summary["run"]
    assert summary["status"] == "cancelled" and summary["steps"] < 200
    assert summary["resume_command"] == f"assistant-builder train --resume {run}"
    assert f"Resume with: assistant-builder train --resume {run}" in " ".join(err.split())
    assert (workspace.runs_dir / run / "checkpoints" / summary["checkpoint"]).is_dir()
    assert "Traceback" not in err

    bad = run_cli(workspace.root, "train", "--resume", run, "--set", "epochs=1", "--json")
    assert bad.returncode == 2 and "drop --recipe/--set" in bad.stderr

    done = run_cli(workspace.root, "train", "--resume", run, "--json", timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    final = json.loads(done.stdout)
    assert (final["run"], final["status"], final["steps"]) == (run, "completed", 200)
    assert Path(final["adapter"], "adapter_model.safetensors").is_file()
