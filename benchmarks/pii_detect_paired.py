"""python benchmarks/pii_detect_paired.py ../main [--rounds 10] [--set FILE]

Detection CPU of this checkout against other checkouts (main's, say), paired: each round runs,
for every checkout in turn (their order turning round by round), a fresh process that imports
the detectors and runs ``detect()`` over every text of a labelled set (``--set``, default
benchmarks/pii/labelled.jsonl) twice (first pass, as a dataset build in a new process pays
it; second pass, warm). Reports CPU medians and the
medians of the per-round ratios to the first checkout. Smaller pieces of work than a whole
build, so a loaded machine blurs them less (benchmarks/README.md, "PII redaction").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
texts = json.load(sys.stdin)
c0 = time.process_time()
from assistant_builder.dataset import pii
c1 = time.process_time()
for t in texts:
    pii.detect(t)
c2 = time.process_time()
for t in texts:
    pii.detect(t)
c3 = time.process_time()
print(c1 - c0, c2 - c1, c3 - c2)
"""


def one(tree: Path, texts: str) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], input=texts, capture_output=True, text=True, env=env,
        check=True, cwd=tree,
    ).stdout  # fmt: skip
    return [float(x) for x in out.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("against", type=Path, nargs="+")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--set", type=Path, default=REPO / "benchmarks" / "pii" / "labelled.jsonl")
    args = ap.parse_args()
    lines = args.set.read_text(encoding="utf-8").splitlines()[1:]
    texts = json.dumps([json.loads(x)["text"] for x in lines if x.strip()])
    trees = [REPO, *(p.resolve() for p in args.against)]
    load = os.getloadavg()[0]
    got: dict[Path, list[list[float]]] = {t: [] for t in trees}
    for r in range(args.rounds):
        for tree in trees[r % len(trees) :] + trees[: r % len(trees)]:
            got[tree].append(one(tree, texts))
    print(f"{args.set.name}, {args.rounds} rounds, load average {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after; CPU ms, medians (ratio to {REPO.name})")  # fmt: skip
    print("| checkout | import | first pass | second pass |\n|---|---|---|---|")
    base = got[REPO]
    for tree in trees:
        cells = []
        for i in range(3):
            med = statistics.median(x[i] for x in got[tree]) * 1000
            ratio = statistics.median(x[i] / b[i] for x, b in zip(got[tree], base, strict=True))
            cells.append(f"{med:.1f} ({ratio:.2f})")
        print(f"| {tree} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
