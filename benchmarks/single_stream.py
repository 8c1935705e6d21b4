"""Single-stream decode speed: one question at a time, the Engine's old path vs its fast path.

    python benchmarks/single_stream.py [--repeats 5] [--max-new-tokens 64] [--questions 2]
                                       [--check 8] [--adapter DIR] [--serve]

The product's Engine (assistant_builder.models.engine) on the default model with a LoRA adapter
(a random r=16 all-linear one with non-zero B unless ``--adapter``), answering as tuned,
streamed with ``Engine.stream``, greedy, the Engine's default repetition penalty (none for an
adapter since the penalty became per side; 1.1 before), answer cache off. Paths, measured in
one process, alternating (the order rotates every repeat):

- generate: transformers ``generate`` with the fused LoRA layers (the path before the fast loop)
- fast: the loop of assistant_builder/models/decode.py with its default decode threads (1)
- fast, 2 threads: the same loop with ``ASSISTANT_BUILDER_DECODE_THREADS=2`` (torch's default
  here), to show what the thread setting is worth on its own
- (``--serve``) serve's batcher with one request: the adapter merged into the weights, own
  decode loop, DynamicCache (the ``serve`` path)

Per path: time to first token (TTFT, from the call to the first text piece), tokens/s over the
whole answer including the prompt (as llama.cpp reports it), and CPU seconds per generated token
(``time.process_time``, all threads; affected less than wall time by other jobs on the
machine). Medians over ``--repeats`` x ``--questions`` answers. ``--check N`` first answers N
golden questions (benchmarks/golden/cloudnote.jsonl) with both Engine paths, up to
``--max-new-tokens``, and counts identical answers token for token.
Writes benchmarks/out/single_stream.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, ROOT, finish_record, start_record, table
from generate import random_adapter

QUESTIONS = [
    "How do I reset my password?",
    "Can I change my delivery address after ordering?",
    "What payment methods do you accept?",
    "Do you ship abroad?",
]
SYSTEM = "You are a helpful support assistant for our product. Answer briefly."


class Recorder:
    """Keeps the last finished answer of an Engine (its exact token count)."""

    def __init__(self, engine: Any) -> None:
        self.last: Any = None
        real = engine._finish

        def finish(ids: list[int]) -> Any:
            self.last = real(ids)
            return self.last

        engine._finish = finish


def engine_once(engine: Any, rec: Recorder, mode: str, q: str, settings: Any) -> dict[str, Any]:
    engine.fast_greedy = mode != "generate"
    os.environ["ASSISTANT_BUILDER_DECODE_THREADS"] = "2" if mode == "fast, 2 threads" else "1"
    t0, c0 = time.perf_counter(), time.process_time()
    first = None
    for _ in engine.stream(q, system_prompt=SYSTEM, tuned=True, settings=settings):
        first = first or time.perf_counter()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = rec.last.new_tokens + (1 if rec.last.stopped else 0)  # the end token was decoded too
    return {"ttft": (first or t0 + wall) - t0, "wall": wall, "cpu": cpu, "tokens": n}


def serve_once(batcher: Any, q: str, max_tokens: int) -> dict[str, Any]:
    import threading

    from assistant_builder.serve.batcher import Job

    prepared = batcher.prepare(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}], max_tokens
    )
    done = threading.Event()
    seen: dict[str, Any] = {}

    def emit(kind: str, value: Any) -> None:
        if kind == "delta":
            seen.setdefault("first", time.perf_counter())
        else:
            seen["info"] = value
            done.set()

    t0, c0 = time.perf_counter(), time.process_time()
    batcher.submit(Job(prepared.ids, max_tokens, emit))
    done.wait()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    info = seen["info"]
    n = info["completion_tokens"] + (1 if info["finish_reason"] == "stop" else 0)
    return {"ttft": seen.get("first", t0 + wall) - t0, "wall": wall, "cpu": cpu, "tokens": n}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "answers": len(rows),
        "ttft_median": round(statistics.median(r["ttft"] for r in rows), 3),
        "tokens_per_s_median": round(statistics.median(r["tokens"] / r["wall"] for r in rows), 2),
        "cpu_ms_per_token_median": round(
            statistics.median(1000 * r["cpu"] / r["tokens"] for r in rows), 1
        ),
        "tokens_median": statistics.median(r["tokens"] for r in rows),
    }


def check(engine: Any, n: int, settings: Any) -> dict[str, Any]:
    """Golden questions answered by both Engine paths; identical answers counted."""
    path = ROOT / "benchmarks" / "golden" / "cloudnote.jsonl"
    qs = [json.loads(line)["question"] for line in path.read_text().splitlines()[:n]]
    out: dict[str, list[Any]] = {}
    for mode in ("generate", "fast"):
        engine.fast_greedy = mode == "fast"
        out[mode] = [
            engine.answer([q], system_prompt=SYSTEM, tuned=True, settings=settings)[0] for q in qs
        ]
    same = [
        (a.text, a.new_tokens) == (b.text, b.new_tokens)
        for a, b in zip(out["generate"], out["fast"], strict=True)
    ]
    differ = [
        {"question": q, "generate": a.text, "fast": b.text}
        for q, a, b, s in zip(qs, out["generate"], out["fast"], same, strict=True)
        if not s
    ]
    return {"questions": len(qs), "identical": sum(same), "differ": differ}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--questions", type=int, default=2)
    p.add_argument("--check", type=int, default=8)
    p.add_argument("--adapter", type=Path)
    p.add_argument("--serve", action="store_true")
    args = p.parse_args(argv)

    from assistant_builder.models.engine import Engine, GenSettings

    record = start_record()
    adapter = args.adapter or OUT / "gen-random-adapter"
    if not (adapter / "adapter_config.json").is_file():
        random_adapter(adapter)
    engine = Engine("default", adapter)
    rec = Recorder(engine)
    settings = GenSettings(max_new_tokens=args.max_new_tokens, batch_size=1)
    modes = ["generate", "fast", "fast, 2 threads"]
    batcher = None
    if args.serve:
        from assistant_builder.serve.backend import TransformersBackend
        from assistant_builder.serve.batcher import Batcher

        batcher = Batcher(TransformersBackend("default", adapter), max_batch=16).start()
        modes.append("serve")
    if args.check:
        record["check"] = check(engine, args.check, settings)
    for mode in modes:  # warm-up: first calls allocate and fill caches
        if mode == "serve":
            serve_once(batcher, "Hello", 4)
        else:
            engine_once(engine, rec, mode, "Hello", GenSettings(max_new_tokens=4))
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for rep in range(args.repeats):
        order = modes[rep % len(modes) :] + modes[: rep % len(modes)]
        for q in QUESTIONS[: args.questions]:
            for mode in order:
                if mode == "serve":
                    rows[mode].append(serve_once(batcher, q, args.max_new_tokens))
                else:
                    rows[mode].append(engine_once(engine, rec, mode, q, settings))
        print(f"repeat {rep + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    if batcher is not None:
        batcher.stop()
    record["paths"] = {m: summary(r) for m, r in rows.items()}
    record["raw"] = rows
    base = record["paths"]["generate"]
    for s in record["paths"].values():
        s["speedup"] = round(s["tokens_per_s_median"] / base["tokens_per_s_median"], 2)
        s["cpu_ratio"] = round(base["cpu_ms_per_token_median"] / s["cpu_ms_per_token_median"], 2)
    record["args"] = vars(args) | {"adapter": str(args.adapter or "random LoRA r=16")}
    path = finish_record(record, "single_stream")
    print(
        table(
            ["path", "TTFT s", "tokens/s", "CPU ms/token", "vs generate (tokens/s)", "(CPU)"],
            [
                [
                    m,
                    s["ttft_median"],
                    s["tokens_per_s_median"],
                    s["cpu_ms_per_token_median"],
                    f"{s['speedup']}x",
                    f"{s['cpu_ratio']}x",
                ]
                for m, s in record["paths"].items()
            ],
        )
    )
    if args.check:
        c = record["check"]
        print(f"golden questions identical (generate vs fast): {c['identical']}/{c['questions']}")
    print(f"load: {record['uptime_before']} -> {record['uptime_after']}; {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
