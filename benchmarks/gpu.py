"""QLoRA on CUDA GPUs: assistant-builder's GPU recipes against a plain TRL + bitsandbytes
script on 1.5B and 3B shapes, tokens/s, peak GPU memory and MFU; with several GPUs, our recipe
on 1, 2, 4 ... N of them (``train --processes N``). Without CUDA it says so and exits 0.

    python benchmarks/gpu.py --steps 20 --batch-size 16 --shapes qwen2.5-1.5b qwen2.5-3b

(``--models ID_OR_DIR ...`` adds real models, ``--no-scaling`` skips the multi-GPU runs.)

For each model, the same rows (starter FAQ dataset, steps x batch rows) and steps through
- ``plain TRL + bnb``: benchmarks/plain_trl.py --qlora (nf4, double quant, bf16 compute, TRL's
  defaults otherwise: bf16, gradient checkpointing, padded batches);
- ``assistant-builder train --recipe R`` with R the model's QLoRA recipe (``SHAPE_RECIPES`` /
  ``RECIPES`` below; another model runs qwen2.5-1.5b-qlora with ``--set base_model=MODEL``),
  at the same batch size, logging once.
``--shapes`` are random-weight models with the real configs (benchmarks/random_model.py, bf16,
written once under benchmarks/out/): speed and memory depend on shapes, not on weight values,
and nothing is downloaded. ``--models`` are hub ids (downloaded on first use) or folders.
Peak GPU memory is sampled with nvidia-smi for each process tree (the same method for both);
MFU is model FLOPs per token (``flops_per_token``: 4N for the frozen base, forward and input
gradients; 6N for LoRA; causal attention) x tokens/s over the GPU's dense bf16 peak
(``PEAK_BF16_TFLOPS``, the vendors' spec sheets), per GPU.
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
    "Qwen/Qwen2.5-3B-Instruct": "qwen2.5-3b-qlora",
    "Qwen/Qwen2.5-7B-Instruct": "qwen2.5-7b-qlora",
    "meta-llama/Llama-3.1-8B-Instruct": "llama3.1-8b-qlora",
    "HuggingFaceTB/SmolLM2-360M-Instruct": "smollm2-360m-qlora",
}
SHAPE_RECIPES = {"qwen2.5-1.5b": "qwen2.5-1.5b-qlora", "qwen2.5-3b": "qwen2.5-3b-qlora"}
# Dense bf16 tensor-core peaks (TFLOP/s) from NVIDIA's spec sheets, matched against
# torch.cuda.get_device_name in this order (the first substring that matches).
PEAK_BF16_TFLOPS = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
)


def peak_flops(gpu_name: str) -> float | None:
    """The GPU's dense bf16 peak in FLOP/s, or None for a GPU not in the table."""
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in gpu_name:
            return tflops * 1e12
    return None


def flops_per_token(config: dict[str, Any], lengths: list[int], lora_r: int = 16) -> float:
    """Model FLOPs per trained token of a QLoRA step on a decoder config (Llama/Qwen layout):
    4 x the frozen matmul weights (forward + input gradients; no weight gradients), 6 x the
    LoRA weights on every linear layer, causal attention over each row, the LM head."""
    h, inter = config["hidden_size"], config["intermediate_size"]
    layers, heads = config["num_hidden_layers"], config["num_attention_heads"]
    kv = config.get("num_key_value_heads", heads) * (h // heads)
    shapes = [(h, h), (h, kv), (h, kv), (h, h), (h, inter), (h, inter), (inter, h)]
    base = layers * sum(i * o for i, o in shapes) + h * config["vocab_size"]
    lora = layers * sum(lora_r * (i + o) for i, o in shapes)
    # Per row of T tokens and layer: QK^T and AV, forward and backward, causal: 6 x h x T(T+1).
    attention = sum(6 * h * t * (t + 1) for t in lengths) * layers / max(1, sum(lengths))
    return 4.0 * base + 6.0 * lora + attention


def mfu(tokens_per_s: float, flops_token: float, peak: float | None, gpus: int = 1) -> float | None:
    return tokens_per_s * flops_token / (peak * gpus) if peak else None


def scaling_counts(gpus: int) -> list[int]:
    """1, 2, 4 ... up to the GPUs present, and the total when it is not a power of two."""
    counts = [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= gpus]
    return counts + ([gpus] if gpus not in counts else [])


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


def run_plain(
    model: str, rows: list[dict[str, Any]], steps: int, batch: int, env: dict[str, str]
) -> dict[str, Any]:
    tokens = sum(token_lengths(rows))
    data = OUT / "gpu-rows.jsonl"
    write_jsonl(data, rows)
    res_path = OUT / "gpu-plain.json"
    cmd = [PY, "benchmarks/plain_trl.py", str(data), "--qlora", "--model", model]
    cmd += ["--steps", str(steps), "--batch-size", str(batch), "--out", str(res_path)]
    cmd += ["--output-dir", str(OUT / "plain-trl-tmp")]
    _, wall, peak = _run(cmd, env)
    plain = json.loads(res_path.read_text())
    ends = plain["step_ends"]
    return {
        "model": model,
        "name": "plain TRL + bitsandbytes",
        "gpus": 1,
        "wall_seconds": wall,
        "tokens_per_s": tokens / (ends[-1][0] - plain["begin"]),
        "peak_gpu_mib_smi": peak,
        "peak_gpu_allocated_gb": plain.get("peak_gpu_allocated_gb"),
        "gpu": plain.get("gpu"),
    }


def run_ours(
    model: str,
    recipe: str,
    rows: list[dict[str, Any]],
    steps: int,
    batch: int,
    env: dict[str, str],
    processes: int = 1,
) -> dict[str, Any]:
    """``assistant-builder train`` on ``processes`` GPUs; ``rows`` are split between them."""
    tokens = sum(token_lengths(rows))
    ws = OUT / "gpu-ab-ws"
    shutil.rmtree(ws, ignore_errors=True)
    cli = [PY, "-m", "assistant_builder", "--workspace", str(ws), "--json"]
    subprocess.run([*cli, "init"], check=True, capture_output=True)
    write_jsonl(ws / "dataset" / "train.jsonl", rows)
    # One log at the end: each log waits for the GPU (the recipes log every 10 steps).
    sets = [f"max_steps={steps}", f"batch_size={batch}", f"logging_steps={steps}"]
    sets += ["eval_each_epoch=false", f"processes={processes}", f"base_model={model}"]
    done, wall, peak = _run(
        [*cli, "train", "--recipe", recipe, *[a for s in sets for a in ("--set", s)]], env
    )
    metrics = json.loads(done.stdout)
    events = [json.loads(x) for x in (ws / "runs" / metrics["run"] / "events.jsonl").open()]
    begin = next(e["time"] for e in events if e["event"] == "begin")
    last = [e["time"] for e in events if e["event"] == "log"][-1]
    mode = next((e for e in events if e["event"] == "mode"), {})
    return {
        "model": model,
        "name": f"assistant-builder train --recipe {recipe}"
        + (f" --processes {processes}" if processes > 1 else ""),
        "gpus": processes,
        "wall_seconds": wall,
        "tokens_per_s": tokens / (last - begin),
        "peak_gpu_mib_smi": peak,
        "mode": metrics.get("mode"),
        "padding_free": mode.get("padding_free"),
        "effective_batch": metrics.get("effective_batch"),
    }


def with_mfu(
    result: dict[str, Any], config: dict[str, Any], lengths: list[int], peak: float | None
) -> dict[str, Any]:
    f = flops_per_token(config, lengths)
    return {
        **result,
        "flops_per_token": f,
        "mfu": mfu(result["tokens_per_s"], f, peak, result["gpus"]),
    }


def model_config(model: str) -> dict[str, Any]:
    from transformers import AutoConfig

    from assistant_builder.models.loading import resolve_base_model

    cfg: dict[str, Any] = AutoConfig.from_pretrained(resolve_base_model(model)).to_dict()
    return cfg


def shape_model(shape: str) -> str:
    """A random-weight model folder of ``shape`` (written once, bf16)."""
    import random_model

    from assistant_builder.models.default import default_checkpoint_dir

    target = OUT / f"shape-{shape}"
    if not (target / "config.json").is_file() or not any(target.glob("*.safetensors")):
        random_model.make(default_checkpoint_dir(), target, shape, False, dtype="bfloat16")
    return str(target)


def bench(args: argparse.Namespace, record: dict[str, Any]) -> list[dict[str, Any]]:
    import torch

    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    record["gpu"] = torch.cuda.get_device_name(0)
    gpus = torch.cuda.device_count()
    peak = peak_flops(record["gpu"])
    record.update(gpus=gpus, peak_bf16_flops=peak)
    all_rows = read_rows(build_dataset(OUT / "train-data-ws"))
    rows = take_rows(all_rows, args.steps * args.batch_size)
    lengths = token_lengths(rows)
    models = [(shape_model(s), SHAPE_RECIPES[s]) for s in args.shapes]
    models += [(m, RECIPES.get(m, "qwen2.5-1.5b-qlora")) for m in args.models]
    results = []
    for model, recipe in models:
        config = model_config(model)
        plain = with_mfu(
            run_plain(model, rows, args.steps, args.batch_size, env), config, lengths, peak
        )
        ours = with_mfu(
            run_ours(model, recipe, rows, args.steps, args.batch_size, env), config, lengths, peak
        )
        ours["ratio"] = ours["tokens_per_s"] / plain["tokens_per_s"]
        results += [plain, ours]
    if gpus > 1 and models and not args.no_scaling:
        model, recipe = models[-1]
        config = model_config(model)
        one = next(r for r in reversed(results) if r["model"] == model and r["gpus"] == 1)
        for n in scaling_counts(gpus)[1:]:
            # The same steps on each GPU: n times the rows.
            many = take_rows(all_rows, args.steps * args.batch_size * n)
            r = run_ours(model, recipe, many, args.steps, args.batch_size, env, processes=n)
            r = with_mfu(r, config, token_lengths(many), peak)
            r["scaling_efficiency"] = r["tokens_per_s"] / (n * one["tokens_per_s"])
            results.append(r)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="QLoRA tokens/s, peak GPU memory, MFU vs plain TRL")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16, help="rows per GPU and step, both sides")
    p.add_argument(
        "--shapes",
        nargs="*",
        default=["qwen2.5-1.5b", "qwen2.5-3b"],
        choices=sorted(SHAPE_RECIPES),
        help="random-weight models with these real configs",
    )
    p.add_argument("--models", nargs="*", default=[], help="hub ids or folders (real weights)")
    p.add_argument("--no-scaling", action="store_true", help="skip the 1..N GPU runs")
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/out/gpu.json)")
    args = p.parse_args(argv)

    record = start_record()
    import torch

    if not torch.cuda.is_available():
        record["skipped"] = "no CUDA GPU on this machine: nothing measured"
        path = finish_record(record, "gpu", args.out)
        print(f"skipped: {record['skipped']} (wrote {path})")
        return 0
    results = bench(args, record)
    record.update(steps=args.steps, batch_size=args.batch_size, results=results)
    path = finish_record(record, "gpu", args.out)
    print(table(TABLE_HEAD, [table_row(r) for r in results]))
    print(f"\nGPU: {record['gpu']} x {record['gpus']}; {args.steps} steps x {args.batch_size} rows")
    print(f"wrote {path}")
    return 0


TABLE_HEAD = ["model", "configuration", "GPUs", "tokens/s", "ratio", "MFU", "peak GPU MiB"]


def table_row(r: dict[str, Any]) -> list[Any]:
    mfu_pct = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-"
    ratio = r.get("ratio") or r.get("scaling_efficiency")
    return [
        Path(r["model"]).name,
        r["name"],
        r["gpus"],
        r["tokens_per_s"],
        ratio,
        mfu_pct,
        r["peak_gpu_mib_smi"],
    ]


if __name__ == "__main__":
    raise SystemExit(main())
