"""serve under load: one client at a time versus 16 concurrent clients, a burst of 50, and
single-stream speed (time to first token, tokens/s) against the generation engine's stream.

    python benchmarks/serve_load.py [--max-tokens 32] [--sequential 8] [--rounds 2]
                                    [--burst 50] [--single 4] [--adapter DIR]

Serves the default model (SmolLM2-135M-Instruct) with a LoRA adapter (a random r=16 all-linear
one with non-zero B unless ``--adapter``) through the real server: uvicorn, the app, the
batcher, the conversation log, on a loopback port, with greedy answers of at most
``--max-tokens``. Clients are plain HTTP (urllib) threads.

- single: ``--single`` streamed requests one after another: time to first token and tokens/s
  (prompt included, as llama.cpp's figures are), next to the product's Engine.stream
  (transformers ``generate`` with the fused LoRA layers: the previous serve path).
- sequential: ``--sequential`` requests one after another (non-streaming).
- concurrent: 16 clients, each sending ``--rounds`` requests back to back.
- burst: ``--burst`` clients at once, one request each: all must be answered, none reset.

Throughput is completion tokens per wall second; the ratio concurrent / sequential is the
dynamic batching's gain. Writes benchmarks/out/serve_load.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, finish_record, start_record, table
from generate import random_adapter

QUESTIONS = [
    "How do I reset my password?",
    "Can I change my delivery address after ordering?",
    "What payment methods do you accept?",
    "Do you ship abroad?",
    "How long does a refund take?",
    "Can I cancel my subscription at any time?",
    "Where can I download my invoices?",
    "How do I contact support?",
    "Is my data stored in the EU?",
    "Can I add more users to my account?",
    "What happens when my trial ends?",
    "How do I export my notes?",
    "Why was my card declined?",
    "Can I use the app offline?",
    "How do I delete my account?",
    "Do you offer discounts for students?",
]


def make_run(root: Path, adapter: Path) -> tuple[Any, str]:
    from assistant_builder.workspace import Workspace

    ws = Workspace(root)
    if root.exists():
        shutil.rmtree(root)
    ws.create()
    run_dir = ws.runs_dir / "bench"
    run_dir.mkdir(parents=True)
    shutil.copytree(adapter, run_dir / "adapter")
    (run_dir / "run.json").write_text(json.dumps({"run": "bench", "base_model": "default"}))
    return ws, "bench"


def ask(url: str, question: str, max_tokens: int, stream: bool = False) -> dict[str, Any]:
    body = {
        "model": "bench",
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    req = urllib.request.Request(
        f"{url}/v1/chat/completions",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    t0 = time.perf_counter()
    first = None
    with urllib.request.urlopen(req, timeout=600) as r:
        if not stream:
            res = json.loads(r.read())
            tokens = res["usage"]["completion_tokens"]
        else:
            tokens = 0
            for line in r:
                if not line.startswith(b"data: {"):
                    continue
                chunk = json.loads(line[6:])
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    first = first or time.perf_counter()
                if chunk.get("usage"):  # the final chunk (stream_options.include_usage)
                    tokens = chunk["usage"]["completion_tokens"]
    done = time.perf_counter()
    return {"seconds": done - t0, "ttft": (first or done) - t0, "tokens": tokens}


def clients(url: str, n: int, rounds: int, max_tokens: int) -> dict[str, Any]:
    """``n`` threads, each asking ``rounds`` questions back to back."""
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        for r in range(rounds):
            try:
                res = ask(url, QUESTIONS[(k + r) % len(QUESTIONS)], max_tokens)
            except Exception as e:  # a reset or refused connection is what we count
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                continue
            with lock:
                results.append(res)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = sorted(r["seconds"] for r in results)
    tokens = sum(r["tokens"] for r in results)
    return {
        "clients": n,
        "requests": n * rounds,
        "answered": len(results),
        "errors": errors[:5],
        "error_count": len(errors),
        "wall": round(wall, 2),
        "tokens": tokens,
        "tokens_per_s": round(tokens / wall, 2),
        "p50": round(statistics.median(lat), 2) if lat else None,
        "p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 2) if lat else None,
    }


def single(url: str, n: int, max_tokens: int) -> dict[str, Any]:
    rows = [ask(url, QUESTIONS[k], max_tokens, stream=True) for k in range(n)]
    return {
        "ttft_median": round(statistics.median(r["ttft"] for r in rows), 3),
        "tokens_per_s": round(sum(r["tokens"] for r in rows) / sum(r["seconds"] for r in rows), 2),
    }


def engine_stream(adapter: Path, system: str, n: int, max_tokens: int) -> dict[str, Any]:
    """The previous serve path: Engine.stream (HF generate, fused LoRA), same questions and
    system prompt."""
    from assistant_builder.models.engine import Engine, GenSettings

    engine = Engine("default", adapter)
    settings = GenSettings(max_new_tokens=max_tokens, repetition_penalty=1.0, batch_size=1)
    ttfts, rates = [], []
    for q in QUESTIONS[:n]:
        t0 = time.perf_counter()
        first = None
        pieces = []
        for piece in engine.stream(q, system_prompt=system, tuned=True, settings=settings):
            first = first or time.perf_counter()
            pieces.append(piece)
        wall = time.perf_counter() - t0
        ttfts.append((first or t0 + wall) - t0)
        rates.append(len(engine.tokenizer("".join(pieces))["input_ids"]) / wall)
    return {
        "ttft_median": round(statistics.median(ttfts), 3),
        "tokens_per_s": round(statistics.mean(rates), 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--sequential", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--burst", type=int, default=50)
    p.add_argument("--single", type=int, default=4)
    p.add_argument("--adapter", type=Path)
    args = p.parse_args(argv)

    from assistant_builder.serve.run import ServeOptions, serving_in_thread

    record = start_record()
    adapter = args.adapter or random_adapter(OUT / "gen-random-adapter")
    ws, run_id = make_run(OUT / "serve-ws", adapter)
    opts = ServeOptions(port=0, max_batch=16, keep_days=None)
    with serving_in_thread(ws, run_id, opts) as srv:
        ask(srv.url, "Hello", 4)  # warm-up
        record["single"] = single(srv.url, args.single, args.max_tokens)
        record["sequential"] = clients(srv.url, 1, args.sequential, args.max_tokens)
        record["concurrent"] = clients(srv.url, 16, args.rounds, args.max_tokens)
        record["burst"] = clients(srv.url, args.burst, 1, args.max_tokens)
        record["logged_exchanges"] = sum(len(c["exchanges"]) for c in srv.log.conversations(500))
    system = ws.load_settings().system_prompt
    record["engine_stream"] = engine_stream(adapter, system, args.single, args.max_tokens)
    seq, con = record["sequential"], record["concurrent"]
    record["speedup_16_vs_sequential"] = round(con["tokens_per_s"] / seq["tokens_per_s"], 2)
    record["args"] = vars(args) | {"adapter": str(args.adapter or "random LoRA r=16")}
    path = finish_record(record, "serve_load")
    rows = [
        [name, r["clients"], r["answered"], r["error_count"], r["tokens_per_s"], r["p50"], r["p95"]]
        for name, r in (("sequential", seq), ("16 concurrent", con), ("burst", record["burst"]))
    ]
    print(table(["phase", "clients", "answered", "errors", "tokens/s", "p50 s", "p95 s"], rows))
    print(
        table(
            ["single stream", "TTFT s (median)", "tokens/s (prompt incl.)"],
            [
                [
                    "serve (merged model, own decode loop)",
                    record["single"]["ttft_median"],
                    record["single"]["tokens_per_s"],
                ],
                [
                    "Engine.stream (HF generate, fused LoRA)",
                    record["engine_stream"]["ttft_median"],
                    record["engine_stream"]["tokens_per_s"],
                ],
            ],
        )
    )
    print(f"16 concurrent vs sequential: {record['speedup_16_vs_sequential']}x; {path}")
    print(f"load: {record['uptime_before']} -> {record['uptime_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
