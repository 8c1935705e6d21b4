"""Training speed: assistant-builder's default CPU recipe against a plain TRL script, same run.

    python benchmarks/train.py [--steps 8] [--batch-size 4] [--default-steps 2] [--threads N]

Same model (the embedded default, fp32 weights), same rows (the starter FAQ from
data_templates through ``init --demo`` → ``ingest`` → ``dataset``, or ``--faq FILES``; the
first steps x batch rows, so every configuration sees exactly the same rows once), same number
of optimizer steps and batch size:

- ``plain TRL (docs defaults)``: benchmarks/plain_trl.py, the TRL quick-start; on CPU its
  defaults run bf16 autocast and gradient checkpointing. Very slow, so it runs ``--default-steps``.
- ``plain TRL, bf16/GC off``: the same script with ``bf16=False, gradient_checkpointing=False``;
  the fair baseline, the ratio is taken against it.
- ``assistant-builder train``: the real CLI, default recipe, ``--set max_steps=N`` (no eval
  split in this workspace, so the timed loop is training only).

Tokens are the non-padding tokens of the rows (each trainer's own count, which agree). The rate
"after step 1" leaves out the first step (allocator and kernel warm-up, and on a shared machine
its biggest outlier); "all steps" keeps it. CPU seconds are summed over the process tree.

Model-FLOPs utilisation counts 4 x N FLOPs per token, N = the base model's parameters (each
weight is a matmul once per token; the tied embedding counts once, as the LM head): forward
2N, backward 2N for the activation gradients that must flow back through every frozen layer
to the LoRA weights below it; the frozen weights get no weight gradient (the other 2N of the
usual 6N), the LoRA weight gradients are ~3% of N. Attention-score FLOPs (~2 x layers x
context x width per token, a few % at these lengths) are not counted. The peak is the best
fp32 torch.matmul GFLOP/s measured in the same run, before and after the trainings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    OUT,
    PY,
    build_dataset,
    finish_record,
    matmul_peak,
    read_rows,
    run_sampled,
    start_record,
    table,
    take_rows,
    token_lengths,
    write_jsonl,
)

TARGET_RATIO = 1.5
TARGET_MFU = 0.60


def _rates(begin: float, ends: list[tuple[float, int]], total_tokens: int) -> dict[str, Any]:
    """Rates from the step-end times and cumulative non-padding token counts."""
    out: dict[str, Any] = {"steps_timed": len(ends)}
    if not ends:
        return out
    out["step_seconds"] = [
        round(b[0] - a, 2) for a, b in zip([begin, *[e[0] for e in ends]], ends, strict=False)
    ]
    out["loop_seconds"] = ends[-1][0] - begin
    out["tokens_counted"] = ends[-1][1]
    out["tokens_per_s_all"] = total_tokens / out["loop_seconds"]
    if len(ends) >= 2:
        out["tokens_per_s"] = (ends[-1][1] - ends[0][1]) / (ends[-1][0] - ends[0][0])
    return out


def run_plain(rows_path: Path, steps: int, batch: int, fair: bool, env: dict[str, str]) -> dict:
    out = OUT / f"plain-{'fair' if fair else 'default'}.json"
    out.unlink(missing_ok=True)
    cmd = [PY, "benchmarks/plain_trl.py", str(rows_path), "--steps", str(steps)]
    cmd += ["--batch-size", str(batch), "--out", str(out)]
    cmd += ["--output-dir", str(OUT / "plain-trl-tmp")] + (["--fair"] if fair else [])
    r = run_sampled(cmd, env=env)
    if r["returncode"] != 0:
        sys.exit(f"plain TRL failed:\n{r['stderr'][-2000:]}")
    data = json.loads(out.read_text())
    ends = [(t, int(n)) for t, n in data["step_ends"]]
    return {
        "cmd": " ".join(cmd[1:]),
        "wall": r["wall"],
        "sampler": r["sampler"],
        "data": data,
        "begin": data["begin"],
        "ends": ends,
    }


def run_ab(
    rows: list[dict[str, Any]],
    steps: int,
    batch: int,
    threads: int | None,
    env: dict[str, str],
    more: list[str] | None = None,
) -> dict:
    ws = OUT / "train-ab-ws"
    shutil.rmtree(ws, ignore_errors=True)
    cli = [PY, "-m", "assistant_builder", "--workspace", str(ws), "--json"]
    subprocess.run([*cli, "init"], check=True, capture_output=True, cwd=OUT.parent.parent)
    write_jsonl(ws / "dataset" / "train.jsonl", rows)  # no eval split: the loop is training only
    sets = [f"max_steps={steps}", f"batch_size={batch}"]
    if threads:
        sets.append(f"threads={threads}")
    sets += more or []
    cmd = [*cli, "train", *[a for s in sets for a in ("--set", s)]]
    r = run_sampled(cmd, env=env)
    if r["returncode"] != 0:
        sys.exit(f"assistant-builder train failed:\n{r['stdout'][-1000:]}\n{r['stderr'][-2000:]}")
    metrics = json.loads(r["stdout"])
    events = [json.loads(x) for x in (ws / "runs" / metrics["run"] / "events.jsonl").open()]
    begin = next(e["time"] for e in events if e["event"] == "begin")
    ends = [(e["time"], int(e["tokens"])) for e in events if e["event"] == "log"]
    return {
        "cmd": "assistant-builder train " + " ".join(f"--set {s}" for s in sets),
        "wall": r["wall"],
        "sampler": r["sampler"],
        "data": metrics,
        "begin": begin,
        "ends": ends,
    }


def summarise(name: str, res: dict, tokens: int, n_params: int, peak: float) -> dict[str, Any]:
    rates = _rates(res["begin"], res["ends"], tokens)
    s = res.pop("sampler")
    cpu = s.cpu_between(res["ends"][0][0], res["ends"][-1][0]) if len(res["ends"]) > 1 else None
    steady_tokens = res["ends"][-1][1] - res["ends"][0][1] if len(res["ends"]) > 1 else None
    row = {
        "name": name,
        "command": res["cmd"],
        "tokens": tokens,
        "wall_seconds": res["wall"],
        **rates,
        "peak_rss_mb": s.peak_rss / 2**20,
        "cpu_seconds_after_step1": cpu,
        "tokens_per_cpu_s": steady_tokens / cpu if cpu and steady_tokens else None,
    }
    tps = row.get("tokens_per_s")
    row["mfu"] = 4 * n_params * tps / (peak * 1e9) if tps else None
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="training tokens/s: assistant-builder vs plain TRL")
    p.add_argument("--steps", type=int, default=8, help="optimizer steps per configuration")
    p.add_argument("--batch-size", type=int, default=4, help="the cpu-lora recipe's batch size")
    p.add_argument(
        "--default-steps",
        type=int,
        default=2,
        help="steps for the (very slow) TRL-defaults baseline; 0 skips it",
    )
    p.add_argument("--threads", type=int, help="OMP/torch threads for every run (default: all)")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=VAL[,KEY=VAL]",
        help="also run assistant-builder train with these recipe overrides (repeatable)",
    )
    p.add_argument("--faq", type=Path, nargs="*", help="source files instead of the starter FAQ")
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/out/train.json)")
    args = p.parse_args(argv)

    record = start_record()
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    peaks = [matmul_peak()]
    ds = build_dataset(OUT / "train-data-ws", args.faq)
    rows = take_rows(read_rows(ds), args.steps * args.batch_size)
    rows_path = OUT / "train-rows.jsonl"
    write_jsonl(rows_path, rows)
    lengths = token_lengths(rows)
    n_default = args.default_steps * args.batch_size
    record["data"] = {
        "source": [str(f) for f in args.faq] if args.faq else "data_templates",
        "rows": len(rows),
        "tokens": sum(lengths),
        "median_row_tokens": statistics.median(lengths),
        "max_row_tokens": max(lengths),
    }

    runs: dict[str, tuple[dict, int]] = {}
    if args.default_steps:
        path = OUT / "train-rows-default.jsonl"
        write_jsonl(path, rows[:n_default])
        runs["plain TRL (docs defaults: bf16 + GC)"] = (
            run_plain(path, args.default_steps, args.batch_size, False, env),
            sum(lengths[:n_default]),
        )
    runs["plain TRL, bf16/GC off"] = (
        run_plain(rows_path, args.steps, args.batch_size, True, env),
        sum(lengths),
    )
    runs["assistant-builder train"] = (
        run_ab(rows, args.steps, args.batch_size, args.threads, env),
        sum(lengths),
    )
    for v in args.variant:
        more = [kv.strip() for kv in v.split(",") if kv.strip()]
        runs[f"assistant-builder train, {' '.join(more)}"] = (
            run_ab(rows, args.steps, args.batch_size, args.threads, env, more),
            sum(lengths),
        )
    peaks.append(matmul_peak())
    peak = max(pk["gflops"] for pk in peaks)
    fair = runs["plain TRL, bf16/GC off"][0]["data"]
    n_params = fair["params"] - fair["trainable_params"]

    results = [summarise(name, res, tok, n_params, peak) for name, (res, tok) in runs.items()]
    base = next(r for r in results if r["name"] == "plain TRL, bf16/GC off")
    for r in results:
        for key in ("tokens_per_s", "tokens_per_s_all", "tokens_per_cpu_s"):
            if r.get(key) and base.get(key):
                r[f"ratio_{key}"] = r[key] / base[key]
    ours = next(r for r in results if r["name"] == "assistant-builder train")
    record.update(
        steps=args.steps,
        batch_size=args.batch_size,
        threads=args.threads or "all",
        matmul_peak=peaks,
        peak_gflops=peak,
        base_params=n_params,
        flops_per_token="4 x base params (fwd 2N + activation-grad 2N; LoRA grads ignored)",
        results=results,
        targets={
            "ratio": TARGET_RATIO,
            "mfu": TARGET_MFU,
            "ratio_met": (ours.get("ratio_tokens_per_s") or 0) >= TARGET_RATIO,
            "mfu_met": (ours.get("mfu") or 0) >= TARGET_MFU,
        },
    )
    path = finish_record(record, "train", args.out)

    print(
        table(
            [
                "configuration",
                "steps",
                "tokens/s (after step 1)",
                "tokens/s (all)",
                "tokens/CPU-s",
                "ratio",
                "ratio (CPU-s)",
                "MFU",
                "peak RSS MB",
            ],
            [
                [
                    r["name"],
                    r["steps_timed"],
                    r.get("tokens_per_s"),
                    r.get("tokens_per_s_all"),
                    r.get("tokens_per_cpu_s"),
                    r.get("ratio_tokens_per_s"),
                    r.get("ratio_tokens_per_cpu_s"),
                    r.get("mfu"),
                    r["peak_rss_mb"],
                ]
                for r in results
            ],
        )
    )
    print(
        f"\nrows {len(rows)} x median {record['data']['median_row_tokens']} tokens; "
        f"fp32 matmul peak {peak} GFLOP/s; N = {n_params / 1e6:.1f}M; "
        f"target ratio >= {TARGET_RATIO}: {record['targets']['ratio_met']}, "
        f"MFU >= {TARGET_MFU:.0%}: {record['targets']['mfu_met']}"
    )
    print(f"load: {record['uptime_before']}  ->  {record['uptime_after']}\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
