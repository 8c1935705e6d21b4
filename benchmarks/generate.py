"""Generation speed: a question set answered batched versus one question at a time.

    python benchmarks/generate.py [--questions 64] [--max-new-tokens 48] [--batch-size 16]
                                  [--adapter DIR] [--single-sample N] [--fused-rounds N]

Uses the product's Engine (assistant_builder.models.engine) with the answer cache off, greedy, as
the base model (adapter switched off) and as tuned. Without ``--adapter`` the tuned side is a
LoRA adapter r=16 on every linear layer with random, non-zero B (so it changes the answers and
costs what a trained one costs). Questions: the user questions of the starter FAQ dataset
(``init --demo`` → ``ingest`` → ``dataset``), the first 64 distinct ones, repeated if fewer.

Batched answers are the same text as one-at-a-time ones (left padding is masked; checked
here as ``same_text``), so the speed-up is free. ``--single-sample N`` answers only the first
N questions one at a time and compares rates (questions/s), to keep the run short on a slow
or shared machine.

``--fused-rounds N`` also answers the set batched as tuned N times each with the Engine's
fused LoRA layers (assistant_builder/fast_lora.py, on by default on CPU) and with PEFT's own
forward, alternating, and reports the median tokens/s of each and whether the texts agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, build_dataset, finish_record, read_rows, start_record, table

TARGET = 4.0


def questions(n: int) -> list[str]:
    ds = build_dataset(OUT / "train-data-ws")
    rows = read_rows(ds) + read_rows(ds.with_name("eval.jsonl"))
    seen: list[str] = []
    for r in rows:
        q = next(m["content"] for m in r["messages"] if m["role"] == "user")
        if q not in seen:
            seen.append(q)
    return [seen[i % len(seen)] for i in range(n)]


def fused_vs_peft(engine: Any, qs: list[str], settings: Any, rounds: int) -> dict[str, Any]:
    """Tuned side, batched: fused LoRA layers against PEFT's forward, rounds alternating."""
    import statistics

    from peft.tuners.lora import Linear as LoraLinear

    layers = [m for m in engine.model.modules() if isinstance(m, LoraLinear)]
    fused = {m: vars(m)["forward"] for m in layers if "forward" in vars(m)}
    rates: dict[str, list[float]] = {"fused": [], "peft": []}
    texts: dict[str, list[str]] = {}
    for rnd in range(rounds):
        for mode in ("fused", "peft") if rnd % 2 == 0 else ("peft", "fused"):
            for m, forward in fused.items():  # without the override PEFT's own forward runs
                if mode == "fused":
                    m.forward = forward  # type: ignore[method-assign]
                else:
                    vars(m).pop("forward", None)
            r = timed(engine, qs, True, settings)
            rates[mode].append(r["tokens_per_s"])
            texts[mode] = r["texts"]
    for m, forward in fused.items():
        m.forward = forward  # type: ignore[method-assign]
    same = sum(a == b for a, b in zip(texts["fused"], texts["peft"], strict=True)) / len(qs)
    return {
        "fused_layers": len(fused),
        "lora_layers": len(layers),
        "tokens_per_s": rates,
        "median_fused": statistics.median(rates["fused"]),
        "median_peft": statistics.median(rates["peft"]),
        "same_text": same,
    }


def random_adapter(path: Path, seed: int = 0) -> Path:
    """A LoRA adapter (r=16, all-linear) whose B matrices are random instead of zero."""
    import torch
    from peft import LoraConfig, get_peft_model

    from assistant_builder.models.loading import load_model

    torch.manual_seed(seed)
    model = get_peft_model(
        load_model("default"),
        LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.02)
    model.save_pretrained(str(path))
    return path


def timed(engine: Any, qs: list[str], tuned: bool, settings: Any) -> dict[str, Any]:
    t, c = time.perf_counter(), time.process_time()
    answers = engine.answer(qs, system_prompt=None, tuned=tuned, settings=settings)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    tokens = sum(a.new_tokens for a in answers)
    return {
        "questions": len(qs),
        "wall": wall,
        "cpu": cpu,
        "new_tokens": tokens,
        "questions_per_s": len(qs) / wall,
        "tokens_per_s": tokens / wall,
        "texts": [a.text for a in answers],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="batched vs one-at-a-time answering")
    p.add_argument("--questions", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=16, help="the Engine's default")
    p.add_argument("--single-sample", type=int, help="answer only N questions one at a time")
    p.add_argument(
        "--fused-rounds",
        type=int,
        default=0,
        help="also time the tuned side with fused LoRA layers vs PEFT's forward, N rounds each",
    )
    p.add_argument("--adapter", type=Path, help="a trained adapter folder for the tuned side")
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/out/generate.json)")
    args = p.parse_args(argv)

    record = start_record()
    from assistant_builder.models.engine import Engine, GenSettings

    qs = questions(args.questions)
    adapter = args.adapter or random_adapter(OUT / "gen-random-adapter")
    t = time.perf_counter()
    engine = Engine("default", adapter, cache=None)  # no answer cache: every answer is computed
    record["load_seconds"] = time.perf_counter() - t
    batched = GenSettings(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    single = GenSettings(max_new_tokens=args.max_new_tokens, batch_size=1)
    n_single = min(args.single_sample or len(qs), len(qs))
    results = []
    for side, tuned in (("base", False), ("tuned", True)):
        b = timed(engine, qs, tuned, batched)
        s = timed(engine, qs[:n_single], tuned, single)
        same = sum(x == y for x, y in zip(b["texts"], s["texts"], strict=False)) / n_single
        results.append(
            {
                "side": side,
                "batched": b,
                "single": s,
                "same_text": same,
                "speedup": b["questions_per_s"] / s["questions_per_s"],
            }
        )
    for r in results:
        for k in ("batched", "single"):
            r[k].pop("texts")
    if args.fused_rounds:
        record["fused_vs_peft"] = fused_vs_peft(engine, qs, batched, args.fused_rounds)
    record.update(
        questions=len(qs),
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        single_sample=n_single,
        adapter=str(adapter) if args.adapter else "random LoRA r=16, B ~ N(0, 0.02)",
        results=results,
        target=TARGET,
        target_met=all(r["speedup"] >= TARGET for r in results),
    )
    path = finish_record(record, "generate", args.out)
    print(
        table(
            [
                "side",
                "batched q/s",
                "batched tokens/s",
                "one-at-a-time q/s",
                "one-at-a-time tokens/s",
                "speed-up",
                "same text",
            ],
            [
                [
                    r["side"],
                    r["batched"]["questions_per_s"],
                    r["batched"]["tokens_per_s"],
                    r["single"]["questions_per_s"],
                    r["single"]["tokens_per_s"],
                    r["speedup"],
                    f"{r['same_text']:.0%}",
                ]
                for r in results
            ],
        )
    )
    print(
        f"\n{len(qs)} questions, max {args.max_new_tokens} new tokens, batch {args.batch_size}"
        f" (one at a time: {n_single}); target >= {TARGET}x: {record['target_met']}"
    )
    if "fused_vs_peft" in record:
        f = record["fused_vs_peft"]
        print(
            f"tuned, batched, {args.fused_rounds} rounds: fused LoRA layers "
            f"{f['median_fused']:.1f} tokens/s vs PEFT's forward {f['median_peft']:.1f} "
            f"({f['median_fused'] / f['median_peft']:.2f}x; {f['fused_layers']} of "
            f"{f['lora_layers']} layers fused); same text {f['same_text']:.0%}"
        )
    print(f"load: {record['uptime_before']}  ->  {record['uptime_after']}\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
