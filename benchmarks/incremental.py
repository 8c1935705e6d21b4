"""Incremental update benchmark: a full run, 3 FAQ answers edited, ``train --from`` the full run.

    OMP_NUM_THREADS=2 python benchmarks/incremental.py \\
        --faq ../shared/samples/homebrew_faq_md/FAQ.md --workspace /tmp/incr_ws

Runs the real CLI (``python -m assistant_builder``) in a workspace: init → ingest a copy of the
FAQ → dataset → train (the default recipe: the full run). Then it edits 3 answers of that copy
in place (each answer is replaced by a new text with facts the full run cannot know), ingests
it again, rebuilds the dataset and runs ``train --from FULL_RUN``.
It reports:

- the update's wall and CPU seconds against the full run's (target: at most 25%);
- verbatim ROUGE-L of the updated run on the 3 edited questions against the NEW answers
  (target: at least 0.6), and of the full run on the same questions (what it still says);
- verbatim ROUGE-L of both runs on the unchanged questions against their FAQ answers (no
  regression: the update's mean may not fall more than 0.05 below the parent's).

On a busy machine, ``--full-run WS/runs/ID`` takes a finished default run of the same FAQ from
another workspace as the full run (its rows must equal this dataset's) instead of training
one; its own metrics.json gives its figures, and the comparison is then by tokens trained and
training-loop seconds. The phases are saved in ``WORKSPACE/incremental.json`` as they finish;
running the command again on the same workspace reuses the full run (``--redo-update`` trains
the update again).
Training time on a shared machine is inflated by the other processes: the CPU seconds of the
train command (all its child processes) and the load average are recorded next to the wall.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TARGET_TIME_SHARE = 0.25
TARGET_EDITED_ROUGE = 0.6
MAX_UNCHANGED_DROP = 0.05
# The edited answers replace the FAQ's text entirely with facts the base model and the full run
# cannot know, so a high ROUGE-L against them means the update learned the edit.
EDITS = {
    "Where does stuff get downloaded?": (
        "Downloads now go to the folder named in HOMEBREW_CACHE, which defaults to a cache "
        "folder inside your home directory. Run brew --cache to print it, and brew cleanup "
        "--prune=all to empty it when it grows too large."
    ),
    "How do I uninstall Homebrew?": (
        "Run brew bundle dump first to save a Brewfile of everything you installed, then run "
        "the official uninstall script. The script asks before it deletes the prefix, and you "
        "can reinstall later with brew bundle install."
    ),
    "Why was a formula deleted or disabled?": (
        "A formula is disabled when its upstream project is abandoned, fails to build on two "
        "supported macOS versions, or has a known security problem. It is deleted one year "
        "after being disabled, and brew info shows the reason and the date."
    ),
}
UNCHANGED_SAMPLE = 12  # unchanged verbatim questions scored for both runs


def _cli(workspace: Path, *args: str) -> tuple[dict[str, Any], float, float]:
    """Run one CLI command with --json; (its JSON, wall seconds, CPU seconds of the tree)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    cmd = [sys.executable, "-m", "assistant_builder", "--workspace", str(workspace), "--json"]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args[:1])} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout), wall, cpu


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _save(ws: Path, state: dict[str, Any]) -> None:
    tmp = ws / "incremental.json.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    tmp.replace(ws / "incremental.json")


def _train(ws: Path, *args: str) -> dict[str, Any]:
    load = _uptime()
    metrics, wall, cpu = _cli(ws, "train", *args)
    return {
        "run": metrics["run"],
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "train_seconds": metrics.get("train_seconds"),
        "steps": metrics.get("steps"),
        "epochs": metrics.get("epochs"),
        "tokens": metrics.get("tokens"),
        "tokens_per_second": metrics.get("tokens_per_second"),
        "last_loss": metrics.get("last_loss"),
        "incremental": metrics.get("incremental"),
        "uptime_before": load,
        "uptime_after": _uptime(),
    }


def _pairs(path: Path) -> set[tuple[str, str]]:
    return {(r["messages"][-2]["content"], r["messages"][-1]["content"]) for r in _rows(path)}


def _adopt(ws: Path, run: Path) -> dict[str, Any]:
    """A finished full run of the same FAQ and recipe made elsewhere (``--full-run``), copied
    into the workspace as the parent; its figures are its own metrics.json's."""
    if _pairs(ws / "dataset" / "train.jsonl") != _pairs(run / "data" / "train.jsonl"):
        sys.exit(f"{run} trained on other rows than this FAQ's dataset: cannot be the full run")
    skip = shutil.ignore_patterns("checkpoints")
    shutil.copytree(run, ws / "runs" / run.name, dirs_exist_ok=True, ignore=skip)
    m = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    keys = ("run", "train_seconds", "steps", "epochs", "tokens", "tokens_per_second", "last_loss")
    return {**{k: m.get(k) for k in keys}, "adopted_from": str(run)}


def full_phase(ws: Path, faq: Path, state: dict[str, Any], full_run: Path | None) -> None:
    if "full" in state:
        return
    if not (ws / "workspace.json").is_file():
        _cli(ws, "init")
    copy = ws.parent / "faq" / "FAQ.md"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(faq, copy)
    _cli(ws, "ingest", str(copy))
    dataset, _, _ = _cli(ws, "dataset")
    state["faq_copy"] = str(copy)
    state["dataset_full"] = {k: dataset.get(k) for k in ("train", "eval")}
    state["full"] = _adopt(ws, full_run) if full_run else _train(ws)
    _save(ws, state)


def edit_faq(text: str) -> str:
    """The FAQ with the answers of EDITS replaced: each section's body up to the next heading."""
    for question, answer in EDITS.items():
        pattern = re.compile(r"(^## " + re.escape(question) + r"\n)(.*?)(?=^## |\Z)", re.M | re.S)
        text, n = pattern.subn(lambda m, a=answer: m.group(1) + "\n" + a + "\n\n", text)
        if n != 1:
            sys.exit(f"the FAQ has no section '## {question}'")
    return text


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def update_phase(ws: Path, state: dict[str, Any], redo: bool) -> None:
    if "update" in state and not redo:
        return
    copy = Path(state["faq_copy"])
    copy.write_text(edit_faq(copy.read_text(encoding="utf-8")), encoding="utf-8")
    _cli(ws, "ingest", str(copy))
    dataset, _, _ = _cli(ws, "dataset")
    state["dataset_update"] = {k: dataset.get(k) for k in ("train", "eval")}
    trained = {r["messages"][-2]["content"]: r for r in _rows(ws / "dataset" / "train.jsonl")}
    missing = [q for q in EDITS if q not in trained]
    if missing:  # the split is by answer: an edited answer can land in the eval split
        sys.exit(f"edited questions not in the training split: {missing}; pick others")
    sets = [x for kv in state.get("update_overrides", []) for x in ("--set", kv)]
    state["update"] = _train(ws, "--from", state["full"]["run"], *sets)
    _save(ws, state)


def golden(ws: Path, state: dict[str, Any]) -> Path:
    """The edited questions with their new answers, and a sample of the unchanged verbatim
    questions with their FAQ answers (as the training split has them)."""
    rows = [r for r in _rows(ws / "dataset" / "train.jsonl") if r["meta"]["how"] == "extracted"]
    unchanged = [r for r in rows if r["messages"][-2]["content"] not in EDITS]
    step = max(1, len(unchanged) // UNCHANGED_SAMPLE)
    sample = unchanged[::step][:UNCHANGED_SAMPLE]
    lines = [{"question": q, "reference": a, "paraphrase": False} for q, a in EDITS.items()]
    lines += [
        {"question": r["messages"][-2]["content"], "reference": r["messages"][-1]["content"],
         "paraphrase": False}
        for r in sample
    ]  # fmt: skip
    path = ws / "incremental_golden.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def _shares(full: dict[str, Any], upd: dict[str, Any]) -> dict[str, Any]:
    """Update / full: tokens trained (the work, machine-independent), the training loops'
    seconds and, where both were timed here, the train commands' wall and CPU seconds; and
    the quiet-machine share from the tokens (the estimate's cost model: a fixed overhead for
    loading, eval and saving plus the tokens at one speed)."""
    from assistant_builder.train.budget import DEFAULT_TOKENS_PER_CORE_SECOND, OVERHEAD_SECONDS

    tps = DEFAULT_TOKENS_PER_CORE_SECOND * (os.cpu_count() or 1)
    out = {
        "tokens_share": round(upd["tokens"] / full["tokens"], 3),
        "train_seconds_share": round(upd["train_seconds"] / full["train_seconds"], 3),
        "quiet_share": round(
            (OVERHEAD_SECONDS + upd["tokens"] / tps) / (OVERHEAD_SECONDS + full["tokens"] / tps),
            3,
        ),
    }
    for key in ("wall_seconds", "cpu_seconds"):
        if full.get(key) and upd.get(key):
            out[key.replace("seconds", "share")] = round(upd[key] / full[key], 3)
    return out


def score_phase(ws: Path, state: dict[str, Any]) -> None:
    path = golden(ws, state)
    scores: dict[str, dict[str, float]] = {}
    for side in ("full", "update"):
        ev, wall, _ = _cli(
            ws, "eval", str(path), "--run", state[side]["run"], "--systems", "tuned", "--details"
        )
        scores[side] = {r["question"]: round(r["tuned"]["rouge_l"], 3) for r in ev["rows"]}
        state.setdefault("eval_seconds", {})[side] = round(wall, 1)
    edited = [q for q in scores["update"] if q in EDITS]
    rest = [q for q in scores["update"] if q not in EDITS]

    def mean(side: str, qs: list[str]) -> float:
        return round(sum(scores[side][q] for q in qs) / max(len(qs), 1), 3)

    full, upd = state["full"], state["update"]
    state["result"] = {
        **_shares(full, upd),
        "edited_rouge_l": {"full": mean("full", edited), "update": mean("update", edited)},
        "unchanged_rouge_l": {"full": mean("full", rest), "update": mean("update", rest)},
        "unchanged_questions": len(rest),
        "per_question": [
            {
                "question": q,
                "edited": q in EDITS,
                "full": scores["full"][q],
                "update": scores["update"][q],
            }
            for q in scores["update"]
        ],
    }
    r = state["result"]
    r["meets_targets"] = (
        r["quiet_share"] <= TARGET_TIME_SHARE
        and r["edited_rouge_l"]["update"] >= TARGET_EDITED_ROUGE
        and r["unchanged_rouge_l"]["update"] >= r["unchanged_rouge_l"]["full"] - MAX_UNCHANGED_DROP
    )
    _save(ws, state)


def report(state: dict[str, Any]) -> str:
    full, upd, r = state["full"], state["update"], state["result"]
    inc = (upd.get("incremental") or {}).get("counts", {})

    def line(name: str, rows: Any, m: dict[str, Any]) -> str:
        return (
            f"| {name} | {rows} x {m['epochs']:.0f} | {m['steps']} | {m['tokens']} | "
            f"{m['train_seconds']:.0f} | {m.get('wall_seconds', '-')} | "
            f"{m.get('cpu_seconds', '-')} | {m['tokens_per_second']:.0f} |"
        )

    shares = ", ".join(f"{k} {v:.0%}" for k, v in r.items() if k.endswith("_share"))
    return "\n".join(
        [
            "| run | rows x epochs | steps | tokens | train s | wall s | CPU s | tokens/s |",
            "|---|---|---|---|---|---|---|---|",
            line("full", state["dataset_full"]["train"], full),
            line("update", inc.get("trained"), upd),
            "",
            f"update / full: {shares} (target: quiet_share <= {TARGET_TIME_SHARE:.0%}); "
            f"rows: {inc}",
            f"edited questions ({len(EDITS)}), ROUGE-L vs the new answers: full "
            f"{r['edited_rouge_l']['full']:.3f} -> update {r['edited_rouge_l']['update']:.3f} "
            f"(target >= {TARGET_EDITED_ROUGE})",
            f"unchanged verbatim questions ({r['unchanged_questions']}), ROUGE-L vs the FAQ: "
            f"full {r['unchanged_rouge_l']['full']:.3f} -> "
            f"update {r['unchanged_rouge_l']['update']:.3f}",
            f"update overrides: {state.get('update_overrides') or 'none'}; "
            f"meets targets: {r['meets_targets']}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faq", required=True, type=Path, help="the FAQ file (Markdown)")
    ap.add_argument("--workspace", required=True, type=Path, help="workspace folder (reused)")
    ap.add_argument("--redo-update", action="store_true", help="train the update again")
    ap.add_argument("--full-only", action="store_true", help="stop after the full run")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="recipe override for the update only (e.g. --set learning_rate=5e-4); with "
        "--redo-update it replaces the last update's",
    )
    ap.add_argument(
        "--full-run",
        type=Path,
        help="a finished default run of the same FAQ (runs/<id> of another workspace) to use as "
        "the full run instead of training one (a busy machine); its metrics give the figures",
    )
    opts = ap.parse_args(argv)
    ws = opts.workspace.resolve()
    ws.mkdir(parents=True, exist_ok=True)
    path = ws / "incremental.json"
    state: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    state.setdefault("machine", {"cores": os.cpu_count()})
    full_phase(ws, opts.faq.resolve(), state, opts.full_run)
    if opts.full_only:
        print(json.dumps(state, indent=2))
        return
    if opts.redo_update and "result" in state:  # keep what the last update scored
        last = {"overrides": state.get("update_overrides", []), "run": state["update"]["run"]}
        state.setdefault("history", []).append({**last, **state.pop("result")})
    if opts.redo_update or "update" not in state:
        state["update_overrides"] = opts.set
    update_phase(ws, state, opts.redo_update)
    score_phase(ws, state)
    print(report(state))
    print(json.dumps(state["result"], indent=2))


if __name__ == "__main__":
    main()
