"""Retrieval latency: what retrieving adds to answering one question, at 10,000 passages.

    python benchmarks/retrieval.py [--passages 10000] [--questions 200] [--k 3] [--tokenizer]
    python benchmarks/retrieval.py --check [--questions 50]

Builds an index of ``--passages`` FAQ-like passages (the starter FAQ's and the Homebrew FAQ's
entries, when present, each repeated with a different product name and a few random words
from the same vocabulary, so the word statistics stay those of real FAQ text), then times,
per question, what ``answer_with_retrieval`` does before the model runs: BM25 search,
fitting the passages into the context budget and rendering the prompt. Token counts use the
~3-characters estimate, or the default model's tokenizer with ``--tokenizer`` (what the eval
and the server use). The baseline is the same question without retrieval: zero work, so the
figure is the time added. Medians and the 95th percentile in milliseconds; the machine's load
before and after. Writes ``benchmarks/out/retrieval.json``.

``--check`` times the matched-question layout (a closed-book run's) by words alone and with the
model check of the best entries (retrieval/check.py), alternating per question, so the check's
cost is read against words alone in one run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, finish_record, start_record

FAQS = [
    ROOT / "data_templates" / "faq.md",
    ROOT.parent / "shared" / "samples" / "homebrew_faq_md" / "FAQ.md",
]


def _entries() -> list[dict[str, Any]]:
    from assistant_builder.sources.parsers import parse_file

    out = []
    for f in FAQS:
        if f.is_file():
            out += [p.to_dict() for p in parse_file(f).pairs]
    return out


def corpus(n: int, seed: int = 0) -> list[Any]:
    from assistant_builder.retrieval.index import passages_from_items

    rng = random.Random(seed)
    entries = _entries()
    vocab = sorted({w for e in entries for w in e["answer"].split() if w.isalpha()})
    items = []
    for i in range(n):
        e = entries[i % len(entries)]
        noise = " ".join(rng.choice(vocab) for _ in range(8))
        items.append(
            {**e, "question": f"{e['question']} (product {i})", "answer": f"{e['answer']} {noise}"}
        )
    return passages_from_items(items)


def run(opts: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.retrieval.answer import RetrievalSettings, grounded_prompt
    from assistant_builder.retrieval.index import Index
    from assistant_builder.retrieval.prompt import estimate_tokens

    record = start_record()
    passages = corpus(opts.passages)
    t0 = time.perf_counter()
    index = Index.build(Path(tempfile.mkdtemp()) / "index", passages, [])
    build_s = time.perf_counter() - t0
    count = estimate_tokens
    if opts.tokenizer:
        from assistant_builder.models.loading import load_tokenizer

        tok = load_tokenizer("default")

        def count(text: str) -> int:
            return len(tok(text, add_special_tokens=False)["input_ids"])

    rng = random.Random(1)
    entries = _entries()
    questions = [rng.choice(entries)["question"].lower() for _ in range(opts.questions)]
    if opts.check:
        return record | timed_check(index, questions, count) | {"passages": opts.passages}
    settings = RetrievalSettings(k=opts.k)
    grounded_prompt(index, questions[0], settings, count)  # loads the BM25 matrices once
    times = []
    for q in questions:
        t = time.perf_counter()
        grounded_prompt(index, q, settings, count)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return record | {
        "passages": opts.passages,
        "questions": opts.questions,
        "k": opts.k,
        "token_count": "tokenizer" if opts.tokenizer else "estimate",
        "build_seconds": round(build_s, 2),
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
        "max_ms": round(times[-1], 2),
    }


def timed_check(index: Any, questions: list[str], count: Any) -> dict[str, Any]:
    from assistant_builder.retrieval.answer import MATCHED, RetrievalSettings, grounded_prompt
    from assistant_builder.retrieval.check import EntryCheck

    check = EntryCheck.default()
    settings = RetrievalSettings(layout=MATCHED)
    grounded_prompt(index, questions[0], settings, count, check)  # warm: matrices, weights
    words: list[float] = []
    checked: list[float] = []
    for q in questions:
        for out, c in ((words, None), (checked, check)):
            t = time.perf_counter()
            grounded_prompt(index, q, settings, count, c)
            out.append((time.perf_counter() - t) * 1000)
    med_w, med_c = statistics.median(words), statistics.median(checked)
    return {
        "questions": len(questions),
        "words_median_ms": round(med_w, 2),
        "checked_median_ms": round(med_c, 2),
        "checked_p95_ms": round(sorted(checked)[int(0.95 * (len(checked) - 1))], 2),
        "check_adds_ms": round(med_c - med_w, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--passages", type=int, default=10_000, help="passages in the index")
    p.add_argument("--questions", type=int, default=200, help="questions timed")
    p.add_argument("--k", type=int, default=3, help="passages per question")
    p.add_argument("--tokenizer", action="store_true", help="count with the default tokenizer")
    p.add_argument("--check", action="store_true", help="time the model check against words alone")
    opts = p.parse_args(argv)
    r = run(opts)
    finish_record(r, "retrieval")
    if opts.check:
        print("| passages | questions | words alone, median ms | with the check: median | p95 |")
        print("|---|---|---|---|---|")
        print(
            f"| {r['passages']} | {r['questions']} | {r['words_median_ms']} | "
            f"{r['checked_median_ms']} | {r['checked_p95_ms']} |"
        )
        print(f"load: before {r['uptime_before']}\n      after  {r['uptime_after']}")
        return 0
    print("| passages | k | tokens counted by | build s | median ms | p95 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {r['passages']} | {r['k']} | {r['token_count']} | {r['build_seconds']} | "
        f"{r['median_ms']} | {r['p95_ms']} | {r['max_ms']} |"
    )
    print(f"load: before {r['uptime_before']}\n      after  {r['uptime_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
