"""`serve --backend llama-cpp` against plain llama-cpp-python, on the same GGUF, same prompts.

    python benchmarks/llama_backend.py --workspace WS [--run RUN] [--repeats 5] [--max-tokens 128]

WS must hold a run with a GGUF export (`assistant-builder export --format gguf`; the gguf extra
installs llama-cpp-python). One ``llama_cpp.Llama`` is loaded once and shared, so the two sides
differ only in what the serving backend adds around llama.cpp: the chat template and context
fitting (`prepare`), the request queue and worker thread, and per-token stop-sequence checks and
streaming (`Row.advance`). Plain is `Llama.generate` over the same prompt ids, greedy, stopping
at the end-of-turn token. Each repeat asks every question once on each side, alternating which
side goes first; the figures are the medians of decode tokens/s (prompt included in the time,
as a client sees it) and time to first token. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _common import ROOT

sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "How do I reset my password?",
    "Which devices are supported?",
    "Can I use it offline?",
    "How do I cancel my subscription?",
]


def _plain(llm: Any, ids: list[int], end_ids: set[int], max_tokens: int) -> tuple[int, float]:
    """(tokens, seconds to the first token) of plain llama-cpp-python."""
    t0 = time.perf_counter()
    first = 0.0
    n = 0
    for tok in llm.generate(ids, temp=0.0, top_p=1.0, top_k=1, repeat_penalty=1.0, reset=True):
        if n == 0:
            first = time.perf_counter() - t0
        if int(tok) in end_ids:
            break
        n += 1
        if n >= max_tokens:
            break
    return n, first


def _served(engine: Any, ids: list[int], max_tokens: int) -> tuple[int, float]:
    """(tokens, seconds to the first streamed piece) through the serving backend."""
    from assistant_builder.serve.batcher import Job

    done = threading.Event()
    out: dict[str, Any] = {}
    t0 = time.perf_counter()

    def emit(kind: str, payload: Any) -> None:
        if kind == "delta" and "first" not in out:
            out["first"] = time.perf_counter() - t0
        if kind in ("done", "error"):
            out[kind] = payload
            done.set()

    engine.submit(Job(prompt_ids=ids, max_tokens=max_tokens, emit=emit))
    done.wait(600)
    if "error" in out:
        raise RuntimeError(out["error"])
    return int(out["done"]["completion_tokens"]), float(out.get("first", 0.0))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, required=True)
    ap.add_argument("--run", default=None, help="run id (default: the latest)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    args = ap.parse_args(argv)

    from assistant_builder.serve.llama_backend import LlamaCppEngine
    from assistant_builder.workspace import Workspace

    ws = Workspace(args.workspace)
    run_id = args.run or ws.latest_run()
    if run_id is None:
        ap.error(f"{ws.root} has no run")
    print("load before:", os.getloadavg())
    engine = LlamaCppEngine.for_run(ws, run_id, None)
    system = ws.load_settings().system_prompt
    rates: dict[str, list[float]] = {"plain": [], "served": []}
    firsts: dict[str, list[float]] = {"plain": [], "served": []}
    for r in range(args.repeats):
        for q in QUESTIONS:
            msgs = [{"role": "system", "content": system}] if system else []
            msgs.append({"role": "user", "content": q})
            prepared = engine.prepare(msgs, args.max_tokens)
            ids = prepared.ids
            sides = ["plain", "served"] if r % 2 == 0 else ["served", "plain"]
            for side in sides:
                t0 = time.perf_counter()
                if side == "plain":
                    n, first = _plain(engine.llm, ids, engine.end_ids, args.max_tokens)
                else:
                    n, first = _served(engine, ids, args.max_tokens)
                rates[side].append(n / (time.perf_counter() - t0))
                firsts[side].append(first)
    engine.stop()
    print("load after:", os.getloadavg())
    for side in ("plain", "served"):
        print(
            f"{side:7} median {statistics.median(rates[side]):6.1f} tokens/s, "
            f"first token {1000 * statistics.median(firsts[side]):6.1f} ms "
            f"({len(rates[side])} answers)"
        )
    ratio = statistics.median(rates["served"]) / statistics.median(rates["plain"])
    print(f"served / plain: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
