"""The preference pairs a DPO run trains on: checked before the run folder exists, then copied
into it (``runs/<id>/data/preferences.jsonl``) so the run stays a snapshot of what it learned.

The pairs come from ``dataset/preferences.jsonl`` (``rate --to-preferences``: blind ratings;
served thumbs-down corrections). A line that is not a pair in TRL's conversational format is
left out with its line number and the reason; a run needs at least one good pair. A pair names
the models that answered (``meta``): pairs answered on another base model than the parent run's
are refused, since DPO would push the parent towards or away from another model's habits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant_builder.dataset.feedback import PREFERENCES_FILE, run_base_model
from assistant_builder.errors import UserError
from assistant_builder.train.recipe import Recipe
from assistant_builder.workspace import Workspace, atomic_write_jsonl

RUN_FILE = "preferences.jsonl"  # under runs/<id>/data/
_HOW_TO_RATE = (
    "rate answers first: `assistant-builder compare --run RUN`, then `assistant-builder rate` "
    "and `assistant-builder rate --to-preferences`"
)


@dataclass
class Preferences:
    pairs: list[dict[str, Any]]
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {"line", "reason"}
    unknown_origin: int = 0  # pairs that do not say which base model answered

    def report(self) -> dict[str, Any]:
        return {
            "pairs": len(self.pairs),
            "skipped": self.skipped,
            "unknown_origin": self.unknown_origin,
        }


def _messages_problem(value: Any, what: str, roles: set[str]) -> str | None:
    if not isinstance(value, list) or not value:
        return f"{what} is not a list of messages"
    for m in value:
        if not isinstance(m, dict) or m.get("role") not in roles:
            return f"{what} has a message whose role is not one of {', '.join(sorted(roles))}"
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            return f"{what} has a message without text"
    return None


def pair_problem(row: Any) -> str | None:
    """Why ``row`` is not a conversational preference pair TRL can train on; None if it is."""
    if not isinstance(row, dict):
        return "not a JSON object"
    problem = (
        _messages_problem(row.get("prompt"), "prompt", {"system", "user", "assistant"})
        or _messages_problem(row.get("chosen"), "chosen", {"assistant"})
        or _messages_problem(row.get("rejected"), "rejected", {"assistant"})
    )
    if problem:
        return problem
    if row["prompt"][-1]["role"] != "user":
        return "the prompt does not end with a user message"
    if row["chosen"] == row["rejected"]:
        return "chosen and rejected are the same answer"
    return None


def read_preferences(path: Path) -> Preferences:
    """The good pairs of ``path``; bad lines are skipped with their line number and reason."""
    prefs = Preferences([])
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                prefs.skipped.append({"line": n, "reason": f"not valid JSON ({e.msg})"})
                continue
            problem = pair_problem(row)
            if problem:
                prefs.skipped.append({"line": n, "reason": problem})
                continue
            row["line"] = n
            prefs.pairs.append(row)
    return prefs


def _pair_base(row: dict[str, Any], base_of: Any) -> str | None:
    """The base model a pair was answered on: its own record, else the runs it names."""
    meta: dict[str, Any] = row["meta"] if isinstance(row.get("meta"), dict) else {}
    if isinstance(meta.get("base_model"), str):
        return str(meta["base_model"])
    models: list[Any] = meta["models"] if isinstance(meta.get("models"), list) else []
    bases = {b for m in models if isinstance(m, str) and (b := base_of(m))}
    return bases.pop() if len(bases) == 1 else None


def check_base_models(ws: Workspace, prefs: Preferences, base_model: str, parent: str) -> None:
    """Refuse pairs answered on another base model than ``base_model`` (the parent's)."""
    base_of = run_base_model(ws)
    other: dict[str, list[int]] = {}
    for row in prefs.pairs:
        base = _pair_base(row, base_of)
        if base is None:
            prefs.unknown_origin += 1
        elif base != base_model:
            other.setdefault(base, []).append(row["line"])
    if other:
        lines = sorted(n for ns in other.values() for n in ns)
        shown = ", ".join(str(n) for n in lines[:8]) + (", ..." if len(lines) > 8 else "")
        raise UserError(
            f"{ws.dataset_dir / PREFERENCES_FILE}: {len(lines)} of {len(prefs.pairs)} pairs "
            f"were answered on base model {', '.join(sorted(other))}, not {base_model} (the base "
            f"of run {parent}; lines {shown}): DPO needs pairs answered on its own base model; "
            "remove those lines, or train from a run on that base model"
        )


def check_dpo(ws: Workspace, recipe: Recipe, parent: dict[str, Any] | None) -> Preferences:
    """The pairs a DPO run of ``recipe`` from ``parent`` (run.json's "parent") will train on,
    or a UserError saying what to do. Called before the run folder is made."""
    if parent is None:
        raise UserError("DPO starts from an SFT run: pass --from RUN")
    path = ws.dataset_dir / PREFERENCES_FILE
    if not path.is_file():
        raise UserError(f"no preference pairs ({path} is missing): {_HOW_TO_RATE}")
    prefs = read_preferences(path)
    if not prefs.pairs:
        why = f"; {len(prefs.skipped)} lines are not pairs" if prefs.skipped else ""
        first = (
            f" (line {prefs.skipped[0]['line']}: {prefs.skipped[0]['reason']})"
            if prefs.skipped
            else ""
        )
        raise UserError(f"{path}: no preference pairs{why}{first}: {_HOW_TO_RATE}")
    check_base_models(ws, prefs, str(parent["base_model"]), str(parent["run"]))
    return prefs


def add_to_run(run_dir: Path, prefs: Preferences) -> dict[str, Any]:
    """Copy the checked pairs into the run folder; the report for run.json."""
    rows = [{k: v for k, v in row.items() if k != "line"} for row in prefs.pairs]
    atomic_write_jsonl(run_dir / "data" / RUN_FILE, rows)
    return prefs.report()


def run_pairs(run_dir: Path) -> list[dict[str, Any]]:
    """The pairs of a prepared run, as TRL reads them (prompt, chosen, rejected only)."""
    path = run_dir / "data" / RUN_FILE
    if not path.is_file():
        raise ValueError(f"{path} is missing: the run was not prepared for DPO")
    prefs = read_preferences(path)
    if not prefs.pairs:
        raise ValueError(f"{path} holds no preference pairs")
    return [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in prefs.pairs]
