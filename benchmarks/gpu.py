"""QLoRA on a CUDA GPU: assistant-builder's QLoRA recipes against a plain TRL + bitsandbytes
script, tokens/s and peak GPU memory. On a machine without CUDA it says so and exits 0.

    python benchmarks/gpu.py [--steps 10] [--models default Qwen/Qwen2.5-0.5B-Instruct]

For each model, the same rows (starter FAQ dataset, steps x batch rows) and steps through
- ``plain TRL + bnb``: benchmarks/plain_trl.py --qlora (nf4, double quant, bf16 compute, TRL's
  defaults otherwise: bf16, gradient checkpointing, batch size from the recipe);
- ``assistant-builder train --recipe R`` with R the model's QLoRA recipe (``RECIPES`` below;
  another model runs smollm2-135m-qlora with ``--set base_model=MODEL``).
Peak GPU memory is sampled with nvidia-smi for each process tree (the same method for both),
and the plain script also reports torch's max_memory_allocated. Hub models download on first
use (the machine needs network access or a filled Hugging Face cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    OUT,
    PY,
    build_dataset,
    finish_record,
    read_rows,
    start_record,
    table,
    take_rows,
    token_lengths,
    write_jsonl,
)

RECIPES = {
    "default": "smollm2-135m-qlora",
    "Qwen/Qwen2.5-0.5B-Instruct": "qwen2.5-0.5b-qlora",
    "Qwen/Qwen2.5-1.5B-Instruct": "qwen2.5-1.5b-qlora",
    "HuggingFaceTB/SmolLM2-360M-Instruct": "smollm2-360m-qlora",
}


class GpuSampler:
    """Peak GPU memory (MiB) of a process tree, from nvidia-smi every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval, self.peak_mib = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                pids = {self.pid, *(c.pid for c in psutil.Process(self.pid).children(True))}
            except psutil.Error:
                break
            q = subprocess.run(
                [
                    "nvidia-smi",
                    "--query-compute-apps=pid,used_memory",
                    "--format=csv,noheader,nounits",
                ],
                capture_output=True,
                text=True,
            ).stdout
            used = sum(
                int(m)
                for line in q.splitlines()
                if line.strip()
                for pid, m in [line.split(",")]
                if int(pid) in pids
            )
            self.peak_mib = max(self.peak_mib, used)
            self._stop.wait(self.interval)


def _run(
    cmd: list[str], env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], float, int]:
    t = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with GpuSampler(proc.pid) as s:
        out, err = proc.communicate()
    done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed:\n{err[-2000:]}")
    return done, time.time() - t, s.peak_mib


def bench_model(
    model: str, rows: list[dict[str, Any]], steps: int, batch: int, env: dict[str, str]
) -> list[dict[str, Any]]:
    tokens = sum(token_lengths(rows))
    data = OUT / "gpu-rows.jsonl"
    write_jsonl(data, rows)
    res_path = OUT / "gpu-plain.json"
    cmd = [
        PY,
        "benchmarks/plain_trl.py",
        str(data),
        "--qlora",
        "--model",
        model,
        "--steps",
        str(steps),
        "--batch-size",
        str(batch),
        "--out",
        str(res_path),
        "--output-dir",
        str(OUT / "plain-trl-tmp"),
    ]
    _, wall, peak = _run(cmd, env)
    plain = json.loads(res_path.read_text())
    ends = plain["step_ends"]
    out = [
        {
            "model": model,
            "name": "plain TRL + bitsandbytes",
            "wall_seconds": wall,
            "tokens_per_s": tokens / (ends[-1][0] - plain["begin"]),
            "peak_gpu_mib_smi": peak,
            "peak_gpu_allocated_gb": plain.get("peak_gpu_allocated_gb"),
            "gpu": plain.get("gpu"),
        }
    ]

    ws = OUT / "gpu-ab-ws"
    shutil.rmtree(ws, ignore_errors=True)
    cli = [PY, "-m", "assistant_builder", "--workspace", str(ws), "--json"]
    subprocess.run([*cli, "init"], check=True, capture_output=True)
    write_jsonl(ws / "dataset" / "train.jsonl", rows)
    recipe = RECIPES.get(model, "smollm2-135m-qlora")
    sets = [f"max_steps={steps}", f"batch_size={batch}"]
    if model not in RECIPES:
        sets.append(f"base_model={model}")
    done, wall, peak = _run(
        [*cli, "train", "--recipe", recipe, *[a for s in sets for a in ("--set", s)]], env
    )
    metrics = json.loads(done.stdout)
    events = [json.loads(x) for x in (ws / "runs" / metrics["run"] / "events.jsonl").open()]
    begin = next(e["time"] for e in events if e["event"] == "begin")
    last = [e["time"] for e in events if e["event"] == "log"][-1]
    out.append(
        {
            "model": model,
            "name": f"assistant-builder train --recipe {recipe}",
            "wall_seconds": wall,
            "tokens_per_s": tokens / (last - begin),
            "peak_gpu_mib_smi": peak,
            "mode": metrics.get("mode"),
        }
    )
    out[-1]["ratio"] = out[-1]["tokens_per_s"] / out[0]["tokens_per_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="QLoRA tokens/s and peak GPU memory vs plain TRL")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8, help="the QLoRA recipes' batch size")
    p.add_argument("--models", nargs="+", default=["default", "Qwen/Qwen2.5-0.5B-Instruct"])
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/out/gpu.json)")
    args = p.parse_args(argv)

    record = start_record()
    import torch

    if not torch.cuda.is_available():
        record["skipped"] = "no CUDA GPU on this machine: nothing measured"
        path = finish_record(record, "gpu", args.out)
        print(f"skipped: {record['skipped']} (wrote {path})")
        return 0
    record["gpu"] = torch.cuda.get_device_name(0)
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    rows = take_rows(read_rows(build_dataset(OUT / "train-data-ws")), args.steps * args.batch_size)
    results = []
    for model in args.models:
        results += bench_model(model, rows, args.steps, args.batch_size, env)
    record.update(steps=args.steps, batch_size=args.batch_size, results=results)
    path = finish_record(record, "gpu", args.out)
    print(
        table(
            ["model", "configuration", "tokens/s", "ratio", "peak GPU MiB (nvidia-smi)"],
            [
                [r["model"], r["name"], r["tokens_per_s"], r.get("ratio"), r["peak_gpu_mib_smi"]]
                for r in results
            ],
        )
    )
    print(f"\nGPU: {record['gpu']}; {args.steps} steps x {args.batch_size} rows\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
