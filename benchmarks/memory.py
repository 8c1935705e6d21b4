"""Peak resident memory of the default CPU training.

    python benchmarks/memory.py [--steps 10] [--faq FILES...] [--set KEY=VALUE ...]

Runs ``assistant-builder train --set max_steps=N`` (default recipe) on the starter FAQ dataset
(``init --demo`` → ``ingest`` → ``dataset``, eval split included, so the end-of-run eval and
the adapter save are inside the measurement) and samples every 0.1 s the resident memory of the
CLI and its training child together. Also reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss``:
the largest single process, measured by the kernel (no sampling gap).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    OUT,
    PY,
    build_dataset,
    finish_record,
    run_sampled,
    start_record,
    table,
)

TARGET_GB = 3.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="peak RSS of the default CPU training")
    p.add_argument("--steps", type=int, default=10, help="optimizer steps (max_steps)")
    p.add_argument("--faq", type=Path, nargs="*", help="source files instead of the starter FAQ")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="more recipe overrides, passed to train",
    )
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/out/memory.json)")
    args = p.parse_args(argv)

    record = start_record()
    ws = OUT / "memory-ws"
    shutil.rmtree(ws, ignore_errors=True)
    build_dataset(ws, args.faq)
    sets = [f"max_steps={args.steps}", *args.set]
    cmd = [PY, "-m", "assistant_builder", "--workspace", str(ws), "--json", "train"]
    cmd += [a for s in sets for a in ("--set", s)]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    r = run_sampled(cmd, env=env)
    if r["returncode"] != 0:
        sys.exit(f"train failed:\n{r['stderr'][-2000:]}")
    metrics = json.loads(r["stdout"])
    # ru_maxrss is in KiB on Linux: the biggest single descendant this process waited for.
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    s = r["sampler"]
    gb = 2**30
    record.update(
        command="assistant-builder train " + " ".join(f"--set {x}" for x in sets),
        steps=metrics.get("steps"),
        tokens=metrics.get("tokens"),
        wall_seconds=r["wall"],
        peak_tree_rss_gb=s.peak_rss / gb,
        peak_single_rss_gb=s.peak_single / gb,
        ru_maxrss_children_gb=maxrss / gb,
        target_gb=TARGET_GB,
        target_met=max(s.peak_rss, maxrss) / gb < TARGET_GB,
    )
    path = finish_record(record, "memory", args.out)
    print(
        table(
            ["measure", "GB"],
            [
                ["peak RSS, CLI + training child (sampled)", record["peak_tree_rss_gb"]],
                ["peak RSS, largest process (sampled)", record["peak_single_rss_gb"]],
                ["ru_maxrss of children (kernel)", record["ru_maxrss_children_gb"]],
            ],
        )
    )
    print(
        f"\n{record['command']}: {record['steps']} steps, {record['tokens']} tokens; "
        f"target < {TARGET_GB} GB: {record['target_met']}"
    )
    print(f"load: {record['uptime_before']}  ->  {record['uptime_after']}\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
