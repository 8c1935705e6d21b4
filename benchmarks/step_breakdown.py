"""Where assistant-builder's CPU training step goes, timed inside the real trainer.

    python benchmarks/step_breakdown.py [--steps 12] [--batch-size 4]

profile_train.py uses torch.profiler, which adds a fixed cost to every op and so inflates the
many small ones (LoRA's rank-16 products, norms, rotary). Here the only instrumentation is a
timer around each oneDNN matmul call and around each fused LoRA layer's forward and backward
(a few microseconds on ~1300 calls a step), so the split is close to an uninstrumented step:

- frozen matmuls: oneDNN's linear kernel for the base weights, forward and input gradient, by
  weight shape, with the GFLOP/s each reached in place and its share of the fp32 matmul peak
  measured in the same run (benchmarks/_common.matmul_peak);
- LoRA products: the rest of the fused LoRA layers (the rank-r products, their in-place adds,
  reshapes, autograd bookkeeping of the fused node);
- LM head: the oneDNN head (answer tokens only, fast_lora.onednn_head);
- attention: the per-row SDPA calls (varlen_attention.py), forward, and backward from the
  gradient reaching their output to the last of q, k and v's gradients;
- everything else: norms, rotary, SiLU, residual adds, the loss, optimizer, the Trainer's loop.

Same rows, recipe and trainer as benchmarks/train.py's ``assistant-builder train`` (the
default cpu-lora recipe through train_worker.build_trainer), the first step left out.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    OUT,
    build_dataset,
    finish_record,
    matmul_peak,
    read_rows,
    start_record,
    table,
    take_rows,
    token_lengths,
    write_jsonl,
)
from train import flops_per_token  # type: ignore[import-not-found]


def timed_run(rows: list[dict[str, Any]], steps: int, batch: int, workdir: Path) -> dict[str, Any]:  # noqa: PLR0915 - a measurement script read top to bottom
    """Train ``steps`` steps of ``batch`` rows with the default recipe in a workspace under
    ``workdir``, timing the parts after the first step; the patched op, LoRA function and
    attention function are put back afterwards."""
    import torch
    from transformers import AttentionInterface, TrainerCallback

    import assistant_builder.models.cpu.fast_lora as fast_lora
    import assistant_builder.models.cpu.varlen_attention as varlen_attention
    from assistant_builder.train.launch import prepare_run
    from assistant_builder.train.recipe import load_recipe
    from assistant_builder.train.worker import EventLog, build_trainer
    from assistant_builder.workspace import Workspace

    root = workdir / "breakdown-ws"
    shutil.rmtree(root, ignore_errors=True)
    ws = Workspace(root)
    ws.create()
    write_jsonl(ws.dataset_dir / "train.jsonl", rows)

    on = {"timing": False}
    seconds: dict[str, float] = defaultdict(float)  # bucket -> seconds
    mm: dict[tuple[str, int, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])  # s, flop, n
    clock = time.perf_counter
    op = torch.ops.mkldnn._linear_pointwise

    def linear(x: Any, w: Any, *rest: Any) -> Any:
        t0 = clock()
        y = op(x, w, *rest)
        if on["timing"]:
            back = w.is_mkldnn or w.stride(-1) != 1  # a prepacked or transposed weight
            key = ("bwd" if back else "fwd", x.shape[-1], y.shape[-1])
            cell = mm[key]
            cell[0] += clock() - t0
            cell[1] += 2.0 * x.shape[0] * x.shape[1] * y.shape[1]
            cell[2] += 1
        return y

    make_fn = fast_lora._lora_fn
    attend = varlen_attention.varlen_sdpa_forward

    def timed_lora_fn(onednn: bool) -> Any:
        fn = make_fn(onednn)

        def timed(step: Any) -> Any:
            def run(ctx: Any, *args: Any) -> Any:
                t0 = clock()
                out = step(ctx, *args)
                seconds["lora layers"] += (clock() - t0) * on["timing"]
                return out

            return staticmethod(run)

        class Timed(fn):  # type: ignore[misc, valid-type]
            forward = timed(fn.forward)
            backward = timed(fn.backward)

        return Timed

    def timed_attention(*args: Any, **kw: Any) -> Any:
        """The attention function, its forward timed here and its backward from the gradient
        reaching its output to the last of q, k and v's gradients (tensor hooks)."""
        t0 = clock()
        out, weights = attend(*args, **kw)
        if not on["timing"]:
            return out, weights
        seconds["attention"] += clock() - t0
        if out.requires_grad:
            span: dict[str, float] = {}
            qkv = [t for t in args[1:4] if t.requires_grad]

            def begin(_: Any) -> None:
                span["begin"] = clock()

            def end(_: Any) -> None:
                span["ends"] = span.get("ends", 0) + 1
                if span["ends"] == len(qkv) and "begin" in span:
                    seconds["attention"] += clock() - span["begin"]

            out.register_hook(begin)
            for t in qkv:
                t.register_hook(end)
        return out, weights

    recipe = load_recipe("cpu-lora", [f"max_steps={steps}", f"batch_size={batch}"])
    _, run_dir = prepare_run(ws, recipe)
    # fast_lora's layers and its head look the op up when they are built (in build_trainer).
    torch.ops.mkldnn._linear_pointwise = linear  # type: ignore[attr-defined]
    fast_lora._lora_fn = timed_lora_fn
    try:
        trainer, _ = build_trainer(run_dir, recipe, EventLog(run_dir / "events.jsonl"))
        AttentionInterface.register(varlen_attention.NAME, timed_attention)
        marks: list[tuple[float, int]] = []

        class Mark(TrainerCallback):  # type: ignore[misc]
            def on_step_end(self, args: Any, state: Any, *a: Any, **k: Any) -> None:
                marks.append((clock(), state.num_input_tokens_seen))
                on["timing"] = True  # from the end of the first (warm-up) step

        trainer.add_callback(Mark())
        trainer.train()
    finally:
        torch.ops.mkldnn._linear_pointwise = op  # type: ignore[attr-defined]
        fast_lora._lora_fn = make_fn
        AttentionInterface.register(varlen_attention.NAME, attend)
    vocab = trainer.model.get_output_embeddings().weight.shape[0]
    cfg = trainer.model.config
    wall = marks[-1][0] - marks[0][0]
    head = sum(v[0] for k, v in mm.items() if vocab in k)
    frozen = {k: v for k, v in mm.items() if vocab not in k}
    base = sum(v[0] for v in frozen.values())
    return {
        "wall": wall,
        "steps_timed": len(marks) - 1,
        "tokens": marks[-1][1] - marks[0][1],
        "buckets": {
            "frozen matmuls (oneDNN)": base,
            "LoRA products + fused-layer overhead": seconds["lora layers"] - base,
            "LM head (oneDNN, answer tokens)": head,
            "attention (per-row SDPA, forward + backward)": seconds["attention"],
            "everything else": wall - seconds["lora layers"] - head - seconds["attention"],
        },
        "matmuls": [
            {"dir": d, "in": i, "out": o, "seconds": s, "gflop": f / 1e9, "calls": n}
            for (d, i, o), (s, f, n) in sorted(mm.items(), key=lambda kv: -kv[1][0])
        ],
        "vocab": vocab,
        "model": {  # what benchmarks/train.py's MFU counts (flops_per_token)
            "params": sum(p.numel() for p in trainer.model.parameters()),
            "trainable_params": sum(
                p.numel() for p in trainer.model.parameters() if p.requires_grad
            ),
            "layers": cfg.num_hidden_layers,
            "attention_width": cfg.num_attention_heads
            * (getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads),
        },
        "lengths": token_lengths(rows),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="time the parts of a CPU training step, in place")
    p.add_argument("--steps", type=int, default=12, help="steps (the first is warm-up)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/out/breakdown.json)")
    args = p.parse_args(argv)
    record = start_record()
    peaks = [matmul_peak()]
    rows = take_rows(read_rows(build_dataset(OUT / "train-data-ws")), args.steps * args.batch_size)
    res = timed_run(rows, args.steps, args.batch_size, OUT)
    peaks.append(matmul_peak())
    peak = max(pk["gflops"] for pk in peaks)
    record.update(steps=args.steps, batch_size=args.batch_size, peaks=peaks, peak_gflops=peak)
    record.update(res)
    path = finish_record(record, "breakdown", args.out)

    n = res["steps_timed"]
    tokens_s = res["tokens"] / res["wall"]
    print(f"{n} steps, {res['tokens'] / n:.0f} tokens a step, {tokens_s:.0f} tokens/s")
    print(
        table(
            ["part of the step", "ms/step", "share"],
            [[k, 1e3 * v / n, f"{v / res['wall']:.0%}"] for k, v in res["buckets"].items()],
        )
    )
    lines: list[list[Any]] = []
    layers = [m for m in res["matmuls"] if res["vocab"] not in (m["in"], m["out"])]
    heads = [m for m in res["matmuls"] if m not in layers]
    for m in layers + heads:
        rate = m["gflop"] / m["seconds"]
        shape = f"{m['in']} -> {m['out']}" + (" (LM head)" if m in heads else "")
        lines.append([m["dir"], shape, m["calls"] // n, 1e3 * m["seconds"] / n, rate])
        lines[-1].append(f"{rate / peak:.0%}")
    total_f = sum(m["gflop"] for m in layers)
    total_s = sum(m["seconds"] for m in layers)
    all_rate = total_f / total_s
    lines.insert(
        len(layers), ["all layers", "", "", 1e3 * total_s / n, all_rate, f"{all_rate / peak:.0%}"]
    )
    print(
        "\n"
        + table(["frozen matmul", "features", "calls/step", "ms/step", "GFLOP/s", "of peak"], lines)
    )
    flops = flops_per_token(res["model"], res["lengths"])
    mfu = flops["total"] * tokens_s / (peak * 1e9)
    print(
        f"fp32 matmul peak {peak} GFLOP/s (best of {len(peaks)}); "
        f"MFU of these steps {mfu:.0%} ({flops['total'] / 1e6:.0f} MFLOP a token, as train.py)"
        f"\nwrote {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
