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

``--repeat N`` runs every configuration N times, in rounds whose order alternates, and
reports the median (and range) of each; the ratio is the median of the per-round ratios. On a
shared machine, throughput drifts by +-15% from one minute to the next: a single round can
flatter or wrong either side, paired rounds cancel most of that.

Model-FLOPs utilisation counts the FLOPs the model's training step needs per token, the same
for every configuration (so MFU ratios equal tokens/s ratios), as in PaLM's appendix B adapted
to LoRA:
- 4 x N for the frozen base, N = its parameters (the tied embedding counted once, as the LM
  head): forward 2N, plus 2N for the activation gradients that must flow back through every
  frozen layer to the LoRA weights below it. Frozen weights get no weight gradient (the other
  2N of full fine-tuning's 6N).
- 6 x N_lora for the LoRA weights, which are trained: forward, input and weight gradients.
- attention scores: per layer, QK^T and AV over the causal context, 4 x width x (T+1)/2 per
  token forward, x3 with the backward; T = the row's own length (padding is not counted).
The LM head is counted on every token, as the standard formula does, though our trainer
projects only the answer tokens (saved work, which shows up as speed). The peak is the best
fp32 GFLOP/s of a square product measured in the same run (before, between rounds and after)
through both kernel libraries torch has on CPU, ``torch.matmul`` (MKL) and oneDNN, since the
trainer uses oneDNN for its frozen matmuls: a peak from MKL alone would flatter it by ~30% on
AMD CPUs where MKL does not use AVX-512. Until 2026-11-28 only the 4 x N term was counted;
it is still printed as ``MFU (4N)``; until the oneDNN kernels, the peak was torch.matmul's.
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

OURS = "assistant-builder train"
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


def flops_per_token(plain: dict[str, Any], lengths: list[int]) -> dict[str, float]:
    """Model FLOPs per non-padding token (see the module docstring), from the plain script's
    model facts and the rows' token lengths."""
    base = plain["params"] - plain["trainable_params"]
    lora = plain["trainable_params"]
    # Sum over rows of 3 (fwd + bwd) x sum_t 4 x width x t = 6 x width x T(T+1) per layer.
    attn = sum(6 * plain["attention_width"] * t * (t + 1) for t in lengths) * plain["layers"]
    parts = {"base_4n": 4.0 * base, "lora_6n": 6.0 * lora, "attention": attn / sum(lengths)}
    return {**parts, "total": sum(parts.values()), "base_params": base, "lora_params": lora}


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


def summarise(res: dict, tokens: int, flops: dict[str, float], peak: float) -> dict[str, Any]:
    """One run's figures: rates, CPU seconds, peak RSS and MFU against ``peak`` GFLOP/s."""
    rates = _rates(res["begin"], res["ends"], tokens)
    s = res.pop("sampler")
    cpu = s.cpu_between(res["ends"][0][0], res["ends"][-1][0]) if len(res["ends"]) > 1 else None
    steady_tokens = res["ends"][-1][1] - res["ends"][0][1] if len(res["ends"]) > 1 else None
    row = {
        "command": res["cmd"],
        "tokens": tokens,
        "wall_seconds": res["wall"],
        **rates,
        "peak_rss_mb": s.peak_rss / 2**20,
        "cpu_seconds_after_step1": cpu,
        "tokens_per_cpu_s": steady_tokens / cpu if cpu and steady_tokens else None,
    }
    tps = row.get("tokens_per_s")
    row["mfu"] = flops["total"] * tps / (peak * 1e9) if tps else None
    row["mfu_4n"] = flops["base_4n"] * tps / (peak * 1e9) if tps else None
    return row


def _spread(row: dict[str, Any], key: str) -> str | None:
    """'median (min-max)' when there was more than one round."""
    v = row.get(key)
    lo, hi = row.get(f"{key}_range", [v, v])
    if v is None:
        return None
    fmt = (lambda x: f"{x:.0%}") if key.startswith("mfu") else (lambda x: f"{x:.3g}")
    return fmt(v) if lo == hi else f"{fmt(v)} ({fmt(lo)}-{fmt(hi)})"


def aggregate(name: str, runs: list[dict[str, Any]], base: list[dict[str, Any]]) -> dict:
    """Medians over the rounds; ratios are per round (same round's baseline), then the median."""
    out: dict[str, Any] = {"name": name, "rounds": runs}
    for key in ("tokens_per_s", "tokens_per_s_all", "tokens_per_cpu_s", "mfu", "mfu_4n"):
        vals = [r[key] for r in runs if r.get(key) is not None]
        if vals:
            out[key] = statistics.median(vals)
            out[f"{key}_range"] = [min(vals), max(vals)]
        ratios = [
            r[key] / b[key] for r, b in zip(runs, base, strict=True) if r.get(key) and b.get(key)
        ]
        if ratios and key.startswith("tokens"):
            out[f"ratio_{key}"] = statistics.median(ratios)
    out["steps_timed"] = runs[0].get("steps_timed")
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return out


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - a measurement script read top to bottom
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
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every configuration, order alternating; medians are reported",
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

    tokens = sum(lengths)
    default_run = None
    if args.default_steps:
        path = OUT / "train-rows-default.jsonl"
        write_jsonl(path, rows[:n_default])
        default_run = run_plain(path, args.default_steps, args.batch_size, False, env)

    plain_name = "plain TRL, bf16/GC off"
    configs: list[tuple[str, list[str] | None]] = [(plain_name, None), (OURS, [])]
    for v in args.variant:
        sets = [kv.strip() for kv in v.split(",") if kv.strip()]
        configs.append((f"{OURS}, {' '.join(sets)}", sets))
    raw: dict[str, list[dict]] = {name: [] for name, _ in configs}
    for rnd in range(max(1, args.repeat)):
        if rnd:
            peaks.append(matmul_peak())
        for name, overrides in configs if rnd % 2 == 0 else configs[::-1]:
            if overrides is None:
                res = run_plain(rows_path, args.steps, args.batch_size, True, env)
            else:
                res = run_ab(rows, args.steps, args.batch_size, args.threads, env, overrides)
            raw[name].append(res)
    peaks.append(matmul_peak())
    peak = max(pk["gflops"] for pk in peaks)
    flops = flops_per_token(raw[plain_name][0]["data"], lengths)

    per_run = {name: [summarise(r, tokens, flops, peak) for r in rs] for name, rs in raw.items()}
    results = [aggregate(name, rs, per_run[plain_name]) for name, rs in per_run.items()]
    if default_run is not None:
        row = summarise(default_run, sum(lengths[:n_default]), flops, peak)
        results.insert(0, aggregate("plain TRL (docs defaults: bf16 + GC)", [row], [row]))
        base_tps = results[1].get("tokens_per_s")
        if row.get("tokens_per_s") and base_tps:  # against the fair baseline's median
            results[0]["ratio_tokens_per_s"] = row["tokens_per_s"] / base_tps
    ours = next(r for r in results if r["name"] == OURS)
    record.update(
        steps=args.steps,
        batch_size=args.batch_size,
        threads=args.threads or "all",
        repeat=max(1, args.repeat),
        matmul_peak=peaks,
        peak_gflops=peak,
        base_params=flops["base_params"],
        flops_per_token=flops,
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
                "MFU (4N)",
                "peak RSS MB",
            ],
            [
                [
                    r["name"],
                    r["steps_timed"],
                    _spread(r, "tokens_per_s"),
                    r.get("tokens_per_s_all"),
                    r.get("tokens_per_cpu_s"),
                    r.get("ratio_tokens_per_s"),
                    r.get("ratio_tokens_per_cpu_s"),
                    _spread(r, "mfu"),
                    r.get("mfu_4n"),
                    r["peak_rss_mb"],
                ]
                for r in results
            ],
        )
    )
    print(
        f"\nrows {len(rows)} x median {record['data']['median_row_tokens']} tokens; "
        f"fp32 matmul peak {peak} GFLOP/s; {flops['total'] / 1e6:.0f} MFLOP per token "
        f"(4N {flops['base_4n'] / 1e6:.0f}, LoRA {flops['lora_6n'] / 1e6:.0f}, "
        f"attention {flops['attention'] / 1e6:.1f}); {record['repeat']} round(s), medians; "
        f"target ratio >= {TARGET_RATIO}: {record['targets']['ratio_met']}, "
        f"MFU >= {TARGET_MFU:.0%}: {record['targets']['mfu_met']}"
    )
    print(f"load: {record['uptime_before']}  ->  {record['uptime_after']}\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
