"""Where a training step's time goes: torch.profiler over a few steps of the fair plain-TRL
baseline and of assistant-builder's trainer, the first step left out (warm-up).

    python benchmarks/profile_train.py [--steps 4] [--batch-size 4]

Self CPU time of every op on the training thread, put into buckets: the LM head and loss
(every op with a 49k-vocabulary dimension: the logits matmul, its gradient, log-softmax,
cross-entropy, TRL's entropy/accuracy side metrics), attention (SDPA), the other matmuls
(the linear layers and their LoRA paths), optimizer (everything under ``Optimizer.step`` and
``zero_grad``), dataloader (under the DataLoader's ``__next__``: collation, padding), other
ops (norms, activations, copies, autograd bookkeeping) and the rest of the wall time, spent
outside torch ops (Python in the Trainer/TRL/transformers, logging).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    OUT,
    PY,
    ROOT,
    build_dataset,
    finish_record,
    read_rows,
    start_record,
    table,
    take_rows,
    write_jsonl,
)

BUCKETS = [
    "LM head + loss (49k vocab)",
    "attention (SDPA)",
    "other matmuls (linear + LoRA)",
    "optimizer",
    "dataloader",
    "other ops",
    "outside torch ops",
]
_MATMULS = {
    "aten::mm",
    "aten::addmm",
    "aten::bmm",
    "aten::matmul",
    "aten::linear",
    "mkldnn::_linear_pointwise",  # the frozen matmuls through oneDNN (fast_lora.py)
}


def head_dims(vocab: int) -> set[int]:
    """Matrix widths that only the LM head has: the vocabulary, and the tiles TRL's chunked
    log-prob head cuts it into (32768 wide in TRL 1.x, the last tile the remainder)."""
    tile = 32768
    return {vocab, tile, vocab % tile} - {0} if vocab > tile else {vocab}


def _bucket(ev: Any, head: set[int]) -> str:
    parent = ev.cpu_parent
    while parent is not None:
        if parent.name.startswith("Optimizer."):
            return "optimizer"
        if parent.name.startswith("enumerate(DataLoader)"):
            return "dataloader"
        parent = parent.cpu_parent
    if ev.name.startswith("Optimizer."):
        return "optimizer"
    if ev.name.startswith("enumerate(DataLoader)"):
        return "dataloader"
    if any(head & set(s or []) for s in (ev.input_shapes or [])):
        return "LM head + loss (49k vocab)"
    if "scaled_dot_product" in ev.name or "attention" in ev.name:
        return "attention (SDPA)"
    if ev.name in _MATMULS:
        return "other matmuls (linear + LoRA)"
    return "other ops"


def profiled_train(trainer: Any, out: Path) -> None:
    """trainer.train() under torch.profiler; the first step is warm-up, the rest is recorded.
    Writes the buckets (seconds, share of the recorded wall time) and the top ops to ``out``."""
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule
    from transformers import TrainerCallback

    steps = trainer.args.max_steps
    head = head_dims(trainer.model.get_output_embeddings().weight.shape[0])
    marks: list[float] = []
    result: dict[str, Any] = {}

    def ready(prof: Any) -> None:
        buckets = dict.fromkeys(BUCKETS, 0.0)
        for ev in prof.events():
            if ev.device_type.name != "CPU":
                continue
            # A step's own self time is Python between ops (Trainer, TRL, transformers code).
            outside = ev.name.startswith("ProfilerStep")
            key = "outside torch ops" if outside else _bucket(ev, head)
            buckets[key] += ev.self_cpu_time_total / 1e6
        result["buckets"] = buckets
        result["top_ops"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20)

    with profile(
        activities=[ProfilerActivity.CPU],
        record_shapes=True,
        schedule=schedule(wait=0, warmup=1, active=steps - 1, repeat=1),
        on_trace_ready=ready,
    ) as prof:

        class Step(TrainerCallback):  # type: ignore[misc]
            def on_step_end(self, *a: Any, **k: Any) -> None:
                marks.append(time.time())
                prof.step()

        trainer.add_callback(Step())
        trainer.train()
    wall = marks[-1] - marks[0]
    # Time on the training thread not inside any recorded op (between steps, callbacks).
    result["buckets"]["outside torch ops"] += max(0.0, wall - sum(result["buckets"].values()))
    result.update(wall_seconds=wall, steps_recorded=steps - 1, threads=torch.get_num_threads())
    out.write_text(json.dumps(result, indent=2))


def _ab_side(rows_path: Path, steps: int, batch: int, out: Path) -> None:
    """assistant-builder's own trainer (train_worker.build_trainer), default recipe."""
    from assistant_builder.train.launch import prepare_run
    from assistant_builder.train.recipe import load_recipe
    from assistant_builder.train.worker import EventLog, build_trainer
    from assistant_builder.workspace import Workspace

    root = OUT / "profile-ab-ws"
    shutil.rmtree(root, ignore_errors=True)
    ws = Workspace(root)
    ws.create()
    shutil.copyfile(rows_path, ws.dataset_dir / "train.jsonl")
    recipe = load_recipe("cpu-lora", [f"max_steps={steps}", f"batch_size={batch}"])
    _, run_dir = prepare_run(ws, recipe)
    trainer, _ = build_trainer(run_dir, recipe, EventLog(run_dir / "events.jsonl"))
    profiled_train(trainer, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="profile training steps: plain TRL vs ours")
    p.add_argument("--steps", type=int, default=4, help="steps per side (the first is warm-up)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--ab-side", type=Path, help=argparse.SUPPRESS)  # internal: child mode
    p.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/out/profile.json)")
    args = p.parse_args(argv)
    if args.ab_side:
        _ab_side(args.rows, args.steps, args.batch_size, args.ab_side)
        return 0

    record = start_record()
    rows = take_rows(read_rows(build_dataset(OUT / "train-data-ws")), args.steps * args.batch_size)
    rows_path = OUT / "profile-rows.jsonl"
    write_jsonl(rows_path, rows)
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    sides = {
        "plain TRL, bf16/GC off": OUT / "profile-plain.json",
        "assistant-builder": OUT / "profile-ab.json",
    }
    common = ["--steps", str(args.steps), "--batch-size", str(args.batch_size)]
    cmds = [
        [
            PY,
            "benchmarks/plain_trl.py",
            str(rows_path),
            "--fair",
            *common,
            "--output-dir",
            str(OUT / "plain-trl-tmp"),
            "--profile",
            str(sides["plain TRL, bf16/GC off"]),
            "--out",
            str(OUT / "profile-plain-t.json"),
        ],
        [
            PY,
            "benchmarks/profile_train.py",
            *common,
            "--rows",
            str(rows_path),
            "--ab-side",
            str(sides["assistant-builder"]),
        ],
    ]
    for cmd in cmds:
        subprocess.run(cmd, check=True, cwd=ROOT, env=env, capture_output=True)
    results = {name: json.loads(path.read_text()) for name, path in sides.items()}
    record.update(steps=args.steps, batch_size=args.batch_size, results=results)
    path = finish_record(record, "profile", args.out)
    names = list(results)
    rows_out = []
    for b in BUCKETS:
        row: list[Any] = [b]
        for n in names:
            secs = results[n]["buckets"][b]
            row += [secs, f"{secs / results[n]['wall_seconds']:.0%}"]
        rows_out.append(row)
    rows_out.append(
        ["wall (recorded steps)", *[x for n in names for x in (results[n]["wall_seconds"], "")]]
    )
    print(table(["bucket", *[f"{n} {u}" for n in names for u in ("s", "share")]], rows_out))
    for n in names:
        print(f"\n## {n}: top ops by self CPU time\n{results[n]['top_ops']}")
    print(f"load: {record['uptime_before']}  ->  {record['uptime_after']}\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
