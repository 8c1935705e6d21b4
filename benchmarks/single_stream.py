"""Single-stream decode speed: one question at a time, the Engine's paths and serve's paths.

    python benchmarks/single_stream.py [--repeats 5] [--max-new-tokens 64] [--questions 2]
                                       [--check 8] [--adapter DIR] [--serve]
                                       [--paths generate,fast,serve:model,serve:fp32,...]
                                       [--quality N] [--golden FILE.jsonl ...]
                                       [--timed-golden FILE.jsonl] [--answers TRAIN.jsonl]

The product's Engine (assistant_builder.models.engine) on the default model with a LoRA adapter
(a random r=16 all-linear one with non-zero B unless ``--adapter``), answering as tuned,
streamed with ``Engine.stream``, greedy, the Engine's default repetition penalty (none for an
adapter since the penalty became per side; 1.1 before), answer cache off. Paths, measured in
one process, alternating (the order rotates every repeat):

- generate: transformers ``generate`` with the fused LoRA layers (the path before the fast loop)
- fast: the loop of assistant_builder/models/decode.py with its default decode threads (1)
- fast, 2 threads: the same loop with ``ASSISTANT_BUILDER_DECODE_THREADS=2`` (torch's default
  here), to show what the thread setting is worth on its own
- serve:model: serve's batcher with one request, the adapter merged into the weights, the
  model's own forward with a DynamicCache (serve before the hand-written step)
- serve:fp32 / serve:fp16 / serve:int8: the same batcher with the hand-written Llama step
  (assistant_builder/models/cpu/llama_step.py) over fp32, fp16 or int8 weights, with serve's
  own thread choice; a ``:N`` suffix runs it with N decode threads
- a ``+drafts`` suffix (serve:fp16+drafts, ...): greedy requests also check guessed
  continuations from the prompt and the run's training answers (``--answers``, default the
  adapter's run), speculative decoding as ``serve`` does by default

``--serve`` adds serve:model, serve:fp32, serve:fp16 and serve:int8 to the default paths;
``--paths`` names them exactly. Per path: time to first token (TTFT, from the call to the first
text piece), tokens/s over the whole answer including the prompt (as llama.cpp reports it), and
CPU seconds per generated token (``time.process_time``, all threads; affected less than wall
time by other jobs on the machine). Medians over ``--repeats`` x ``--questions`` answers.
``--check N`` first answers N golden questions (benchmarks/golden/cloudnote.jsonl) with both
Engine paths, up to ``--max-new-tokens``, and counts identical answers token for token.
``--quality N`` answers the first N golden questions of each ``--golden`` file (default:
benchmarks/golden/cloudnote.jsonl and ../shared/samples/homebrew_faq_md/golden.jsonl next to
the checkout, when present) through serve:model, serve:fp32, serve:fp16, serve:int8 and any
other serve path named (up to ``--max-new-tokens``), counts answers identical to serve:model's
and gives each path's mean ROUGE-L against the references. ``--timed-golden`` times the first
``--questions`` questions of a golden file instead of the four built-in ones.
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


SERVE_PATHS = ["serve:model", "serve:fp32", "serve:fp16", "serve:int8"]
GOLDEN = [
    ROOT / "benchmarks" / "golden" / "cloudnote.jsonl",
    ROOT.parent / "shared" / "samples" / "homebrew_faq_md" / "golden.jsonl",
]


def use_path(batcher: Any, steps: dict[str, Any], mode: str) -> None:
    """Point serve's backend at the path ``mode`` names (serve:WEIGHTS[:THREADS][+drafts]):
    without THREADS, serve's own choice; +drafts checks guesses from the run's answers."""
    mode, plus, extra = mode.partition("+")
    parts = mode.split(":")
    batcher.backend.step = steps.get(parts[1])
    batcher.backend.drafts = steps.get("drafts") if plus and extra == "drafts" else None
    if len(parts) > 2:
        os.environ["ASSISTANT_BUILDER_DECODE_THREADS"] = parts[2]
    else:
        os.environ.pop("ASSISTANT_BUILDER_DECODE_THREADS", None)


def serve_answer(batcher: Any, q: str, max_tokens: int) -> str:
    return str(serve_once(batcher, q, max_tokens)["text"])


def quality(
    batcher: Any,
    steps: dict[str, Any],
    files: list[Path],
    n: int,
    max_tokens: int,
    paths: list[str],
) -> dict[str, Any]:
    """Golden questions through serve's paths: answers identical to serve:model's, ROUGE-L."""
    from assistant_builder.metrics import rouge_l

    files = [f for f in files if f.is_file()]
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines()[:n]]
    out: dict[str, Any] = {"questions": len(rows), "files": [str(f) for f in files]}
    answers = {}
    extra = [m for m in paths if m.startswith("serve") and m not in SERVE_PATHS]
    for mode in SERVE_PATHS + extra:
        use_path(batcher, steps, mode)
        answers[mode] = [serve_answer(batcher, r["question"], max_tokens) for r in rows]
        scores = [rouge_l(a, r["reference"]) for a, r in zip(answers[mode], rows, strict=True)]
        same = sum(a == b for a, b in zip(answers[mode], answers["serve:model"], strict=True))
        out[mode] = {"rouge_l": round(statistics.mean(scores), 4), "identical_to_model": same}
    out["differ"] = [
        {"question": r["question"], **{m: a[i] for m, a in answers.items()}}
        for i, r in enumerate(rows)
        if len({a[i] for a in answers.values()}) > 1
    ]
    return out


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
    first = seen.get("first", t0 + wall) - t0
    return {"ttft": first, "wall": wall, "cpu": cpu, "tokens": n, "text": info["text"]}


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


def report(record: dict[str, Any], modes: list[str], args: Any, path: Path) -> None:
    print(
        table(
            ["path", "TTFT s", "tokens/s", "CPU ms/token", f"vs {modes[0]} (tokens/s)", "(CPU)"],
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
    if args.quality:
        qd = record["quality"]
        for m in [k for k in qd if k.startswith("serve")]:
            print(
                f"golden ({qd['questions']} questions) {m}: ROUGE-L {qd[m]['rouge_l']}, "
                f"identical to serve:model {qd[m]['identical_to_model']}/{qd['questions']}"
            )
    print(f"load: {record['uptime_before']} -> {record['uptime_after']}; {path}")


def build(args: Any, modes: list[str], adapter: Path) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The Engine (for its paths and --check) and serve's batcher with the two steps."""
    from assistant_builder.models.engine import Engine

    engine, rec, batcher, steps = None, None, None, {}
    if args.check or any(not m.startswith("serve") for m in modes):
        engine = Engine("default", adapter)
        rec = Recorder(engine)
    if args.quality or any(m.startswith("serve") for m in modes):
        from assistant_builder.models.cpu.llama_step import LlamaStep
        from assistant_builder.serve.backend import TransformersBackend
        from assistant_builder.serve.batcher import Batcher

        backend = TransformersBackend("default", adapter, single="model")
        import torch

        # Built on one thread, as serve's backend loads: only the batcher's thread may start
        # OpenMP workers (see TransformersBackend).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        weights = ("fp32", "fp16", "int8")
        steps = {w: LlamaStep(backend.model, weights=w, capacity=512) for w in weights}
        torch.set_num_threads(threads)
        answers = args.answers or adapter.parent / "data" / "train.jsonl"
        if answers.is_file():
            from assistant_builder.models.drafts import answers_of

            backend.use_answers(answers_of(answers))
            steps["drafts"] = backend.drafts
        batcher = Batcher(backend, max_batch=16).start()
    return engine, rec, batcher, steps


def parse(argv: list[str] | None) -> Any:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--questions", type=int, default=2)
    p.add_argument("--check", type=int, default=8)
    p.add_argument("--adapter", type=Path)
    p.add_argument("--serve", action="store_true")
    p.add_argument("--paths", help="comma-separated paths to time (see above)")
    p.add_argument("--quality", type=int, default=0, metavar="N")
    p.add_argument("--golden", type=Path, action="append", help="golden JSONL for --quality")
    p.add_argument(
        "--answers",
        type=Path,
        help="training rows whose answers +drafts paths guess from (default: the adapter's "
        "run, ADAPTER/../data/train.jsonl)",
    )
    p.add_argument(
        "--timed-golden",
        type=Path,
        help="time the first --questions questions of this golden JSONL instead of the "
        "built-in ones",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    modes = ["generate", "fast", "fast, 2 threads"] + (SERVE_PATHS if args.serve else [])
    if args.paths:
        modes = [m.strip() for m in args.paths.split(",") if m.strip()]

    from assistant_builder.models.engine import GenSettings

    record = start_record()
    adapter = args.adapter or OUT / "gen-random-adapter"
    if not (adapter / "adapter_config.json").is_file():
        random_adapter(adapter)
    engine, rec, batcher, steps = build(args, modes, adapter)
    settings = GenSettings(max_new_tokens=args.max_new_tokens, batch_size=1)
    if args.check:
        record["check"] = check(engine, args.check, settings)
    if args.quality:
        record["quality"] = quality(
            batcher, steps, args.golden or GOLDEN, args.quality, args.max_new_tokens, modes
        )
    for mode in modes:  # warm-up: first calls allocate and fill caches
        if mode.startswith("serve"):
            use_path(batcher, steps, mode)
            serve_once(batcher, "Hello", 4)
        else:
            engine_once(engine, rec, mode, "Hello", GenSettings(max_new_tokens=4))
    questions = QUESTIONS
    if args.timed_golden:
        lines = args.timed_golden.read_text().splitlines()
        questions = [json.loads(line)["question"] for line in lines if line.strip()]
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for rep in range(args.repeats):
        order = modes[rep % len(modes) :] + modes[: rep % len(modes)]
        for q in questions[: args.questions]:
            for mode in order:
                if mode.startswith("serve"):
                    use_path(batcher, steps, mode)
                    rows[mode].append(serve_once(batcher, q, args.max_new_tokens))
                else:
                    rows[mode].append(engine_once(engine, rec, mode, q, settings))
        print(f"repeat {rep + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    if batcher is not None:
        batcher.stop()
    record["paths"] = {m: summary(r) for m, r in rows.items()}
    record["raw"] = rows
    base = record["paths"][modes[0]]
    for s in record["paths"].values():
        s["speedup"] = round(s["tokens_per_s_median"] / base["tokens_per_s_median"], 2)
        s["cpu_ratio"] = round(base["cpu_ms_per_token_median"] / s["cpu_ms_per_token_median"], 2)
    record["args"] = vars(args) | {"adapter": str(args.adapter or "random LoRA r=16")}
    path = finish_record(record, "single_stream")
    report(record, modes, args, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
