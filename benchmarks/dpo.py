"""Preference training benchmark: a DPO run against its SFT parent, rated blind by a script.

    python benchmarks/dpo.py --workspace /tmp/dpo-bench

Steps, all through the real CLI (``python -m assistant_builder``) in WORKSPACE (created with the
starter FAQ ``data_templates/faq.md`` unless it already holds a completed SFT run, which is then
the parent; ``--parent RUN`` picks one):

1. the SFT parent: ``init``, ``ingest``, ``dataset``, ``train`` (the default recipe);
2. preference pairs: ``compare --run PARENT --questions`` every dataset question (train and
   eval splits, with their answers as references) puts the parent's and the base model's answers
   side by side as blind pairs; a **scripted rater** prefers the answer with the higher ROUGE-L
   against the reference (a tie when they are within 0.02), so the measurement repeats; then
   ``rate --to-preferences``;
3. ``train --recipe cpu-dpo --from PARENT`` (``--recipe`` picks another DPO recipe);
4. the blind comparison DPO vs parent on the golden file (``--golden``, default
   ``benchmarks/golden/cloudnote.jsonl``: the starter FAQ's questions, verbatim and reworded),
   rated by the same script, with the 95% Wilson interval of the DPO run's share of decisive
   ratings (``rate --verdict``), and ``eval`` of both runs on the golden file.

The golden questions are not among the pair questions, except that the verbatim ones are the
FAQ's own questions, which the parent also trained on. Writes WORKSPACE/dpo.json and prints a
table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RATER = "scripted-rouge-l"
TIE_MARGIN = 0.02


def _cli(ws: Path, *args: str) -> tuple[dict[str, Any], float, float]:
    """One CLI command with --json: (its JSON, wall seconds, CPU seconds of the tree)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    cmd = [sys.executable, "-m", "assistant_builder", "--workspace", str(ws), "--json", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout), wall, cpu


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def parent_run(ws: Path, name: str | None) -> tuple[str, dict[str, Any]]:
    """(run id, timings) of the SFT parent: the one named, the newest completed, or a new one."""
    from assistant_builder.runs import Run
    from assistant_builder.workspace import Workspace

    if not (ws / "runs").is_dir():
        _cli(ws, "init")
        _cli(ws, "ingest", str(ROOT / "data_templates" / "faq.md"))
        _cli(ws, "dataset")
    done = [
        r.name
        for r in sorted((ws / "runs").glob("*"))
        if Run(r).has_adapter() and (r / "metrics.json").is_file()
    ]
    sft = [r for r in done if _method(ws / "runs" / r) == "sft"]
    if name or sft:
        run = name or sft[-1]
        return run, {"reused": True, **Run(ws / "runs" / run).metrics()}  # type: ignore[dict-item]
    metrics, wall, cpu = _cli(ws, "train")
    Workspace(ws).require()
    return metrics["run"], {"reused": False, "wall_seconds": wall, "cpu_seconds": cpu, **metrics}


def _method(run_dir: Path) -> str:
    import yaml

    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8")) or {}
    return str(recipe.get("method", "sft"))


def pair_questions(ws: Path) -> Path:
    """Every dataset question with its answer as the reference (what the rater compares to)."""
    seen, out = set(), []
    for split in ("train", "eval"):
        path = ws / "dataset" / f"{split}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
            msgs = json.loads(line)["messages"]
            q = next(m["content"] for m in msgs if m["role"] == "user")
            if q not in seen:
                seen.add(q)
                out.append({"question": q, "reference": msgs[-1]["content"]})
    path = ws / "dpo_pair_questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
    return path


def scripted_rating(ws: Path) -> dict[str, int]:
    """Rate every pending blind pair: the answer closer to the reference (ROUGE-L) wins."""
    from assistant_builder.compare.ratings import RatingStore
    from assistant_builder.metrics import rouge_l

    counts = {"A": 0, "B": 0, "tie": 0}
    with RatingStore(ws / "ratings.db") as store:
        for pair in store.pending(RATER):
            ref = pair.reference or ""
            a, b = rouge_l(pair.answer_a, ref), rouge_l(pair.answer_b, ref)
            verdict = "tie" if abs(a - b) < TIE_MARGIN else ("A" if a > b else "B")
            store.rate(pair.id, RATER, verdict)
            counts[verdict] += 1
    return counts


def golden_scores(ws: Path, golden: Path, run: str) -> dict[str, Any]:
    ev, _, _ = _cli(ws, "eval", str(golden), "--run", run, "--systems", "tuned")
    return {
        split: {k: v[k] for k in ("n", "rouge_l", "stopped")} for split, v in ev["tuned"].items()
    }


def run(opts: argparse.Namespace) -> dict[str, Any]:
    ws = Path(opts.workspace or tempfile.mkdtemp(prefix="dpo_bench_")).resolve()
    golden = Path(opts.golden).resolve()
    load0 = _load()
    parent, sft = parent_run(ws, opts.parent)
    compare_pairs, _, _ = _cli(
        ws, "compare", "--run", parent, "--questions", str(pair_questions(ws))
    )
    rated = scripted_rating(ws)
    prefs, _, _ = _cli(ws, "rate", "--to-preferences")
    load_before_dpo = _load()
    dpo, dpo_wall, dpo_cpu = _cli(ws, "train", "--recipe", opts.recipe, "--from", parent)
    load_after_dpo = _load()
    blind, _, _ = _cli(
        ws, "compare", "--run", dpo["run"], "--against", parent, "--questions", str(golden)
    )
    golden_rated = scripted_rating(ws)
    verdict, _, _ = _cli(ws, "rate", "--verdict", "--model", dpo["run"], "--vs", parent)
    return {
        "workspace": str(ws),
        "golden": str(golden),
        "rater": f"{RATER}: prefers the answer with the higher ROUGE-L against the reference "
        f"(tie within {TIE_MARGIN})",
        "parent": {"run": parent, **{k: sft.get(k) for k in ("reused", "train_seconds", "steps")}},
        "pairs": {
            "questions": compare_pairs.get("questions"),
            "blind_pairs": compare_pairs.get("pairs_added"),
            "ratings": rated,
            "preference_pairs": prefs["preferences"]["pairs"],
        },
        "dpo": {
            "run": dpo["run"],
            "recipe": opts.recipe,
            "steps": dpo.get("steps"),
            "train_seconds": dpo.get("train_seconds"),
            "wall_seconds": round(dpo_wall, 1),
            "cpu_seconds": round(dpo_cpu, 1),
            "train_loss": dpo.get("train_loss"),
            **(dpo.get("dpo") or {}),
        },
        "blind_golden": {
            "pairs": blind.get("pairs_added"),
            "identical": blind.get("identical"),
            "ratings": golden_rated,
            "verdict": verdict,
            "rouge_l": {
                "dpo": blind["tuned"].get("rouge_l"),
                "parent": blind["base"].get("rouge_l"),
            },
        },
        "eval": {
            "dpo": golden_scores(ws, golden, dpo["run"]),
            "parent": golden_scores(ws, golden, parent),
        },
        "machine": {
            "cores": os.cpu_count(),
            "load_before": load0,
            "load_before_dpo": load_before_dpo,
            "load_after_dpo": load_after_dpo,
            "load_after": _load(),
        },
    }


def table(result: dict[str, Any]) -> str:
    v = result["blind_golden"]["verdict"]
    lines = [
        f"parent {result['parent']['run']}, DPO {result['dpo']['run']} "
        f"({result['pairs']['preference_pairs']} pairs, {result['dpo']['steps']} steps, "
        f"{result['dpo']['train_seconds'] or 0:.0f} s)",
        f"blind golden verdict: {json.dumps(v, ensure_ascii=False)[:600]}",
        "| split | n | parent ROUGE-L | DPO ROUGE-L | parent stopped | DPO stopped |",
        "|---|---|---|---|---|---|",
    ]
    for split, d in result["eval"]["dpo"].items():
        p = result["eval"]["parent"][split]
        lines.append(
            f"| {split} | {d['n']} | {p['rouge_l']:.3f} | {d['rouge_l']:.3f} "
            f"| {p['stopped']:.2f} | {d['stopped']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--workspace", help="workspace folder (default: a new temporary folder)")
    p.add_argument("--parent", help="the SFT run to start from (default: the newest, or a new one)")
    p.add_argument("--recipe", default="cpu-dpo", help="the DPO recipe (default cpu-dpo)")
    p.add_argument(
        "--golden",
        default=str(ROOT / "benchmarks" / "golden" / "cloudnote.jsonl"),
        help="golden JSONL",
    )
    opts = p.parse_args(argv)
    result = run(opts)
    out = Path(result["workspace"]) / "dpo.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(result))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
