"""``state``: the state of a workspace after anything (a crash, a kill -9, a hand edit).

Reads every store the commands write and says, per store, whether it opens and what is left
over from interrupted commands. It repairs nothing itself: the next ingest, export or train
cleans up its own leftovers; ``state`` tells the user what is there. Never raises for a damaged
file: each problem is a line in the report naming the file.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant_builder.workspace import Workspace


def _guard(problems: list[str], what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as e:  # a damaged store is reported, whatever the error
        problems.append(f"{what}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return None


def _count_jsonl(path: Path) -> int:
    n = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError:
                    raise ValueError(f"{path}:{lineno} is not valid JSON") from None
                n += 1
    return n


def _sources(ws: Workspace, problems: list[str]) -> dict[str, Any]:
    from assistant_builder.sources.ingest import load_index

    index = _guard(problems, "sources/index.json", lambda: load_index(ws))
    if index is None:
        return {}
    known: set[str] = set()
    missing = []
    for entry in index["files"].values():
        known.add(entry["sha256"])
        known.update(entry.get("previous", []))
        item = ws.sources_dir / "items" / f"{entry['sha256']}.jsonl"
        if not item.is_file():
            missing.append(entry["path"])
        else:
            _guard(problems, str(item), functools.partial(_count_jsonl, item))
    if missing:
        problems.append(f"sources: {len(missing)} indexed file(s) have no items (re-ingest them)")
    items = ws.sources_dir / "items"
    leftovers = [
        p.name
        for p in (items.iterdir() if items.is_dir() else [])
        if p.name.endswith(".tmp") or p.name.split(".")[0] not in known
    ]
    return {"files": len(index["files"]), "missing_items": missing, "leftovers": len(leftovers)}


def _dataset(ws: Workspace, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("train", "eval"):
        path = ws.dataset_dir / f"{name}.jsonl"
        if path.is_file():
            out[name] = _guard(problems, str(path), functools.partial(_count_jsonl, path))
    edits = ws.dataset_dir / "edits.jsonl"
    if edits.is_file():
        from assistant_builder.dataset.build import load_edits

        found = _guard(problems, str(edits), lambda: load_edits(ws))
        out["edits"] = len(found) if found is not None else None
    return out


def _runs(ws: Workspace, problems: list[str]) -> list[dict[str, Any]]:
    from assistant_builder.runs import PARTIAL_SUFFIX, adapter_problem

    out = []
    for run_id in ws.list_runs():
        d = ws.runs_dir / run_id
        problem = adapter_problem(d / "adapter")
        row: dict[str, Any] = {"run": run_id, "adapter": problem or "complete"}
        if (d / f"adapter{PARTIAL_SUFFIX}").exists():
            row["interrupted_save"] = True
        out.append(row)
    return out


def _exports(ws: Workspace) -> list[str]:
    if not ws.exports_dir.is_dir():
        return []
    return [str(p) for p in ws.exports_dir.glob("*/.*") if p.is_dir()]


def _ratings(ws: Workspace, problems: list[str]) -> int | None:
    if not ws.ratings_db.is_file():
        return 0

    def count() -> int:
        with sqlite3.connect(f"file:{ws.ratings_db}?mode=ro", uri=True) as db:
            (ok,) = db.execute("PRAGMA quick_check").fetchone()
            if ok != "ok":
                raise ValueError(f"integrity check: {ok}")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            if "ratings" not in tables:
                return 0
            return int(db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0])

    result: int | None = _guard(problems, str(ws.ratings_db), count)
    return result


def check_workspace(ws: Workspace) -> dict[str, Any]:
    """Every store's state; ``ok`` is False when something needs the user."""
    ws.require()
    problems: list[str] = []
    _guard(problems, str(ws.settings_path), ws.load_settings)
    report: dict[str, Any] = {
        "workspace": str(ws.root),
        "sources": _sources(ws, problems),
        "dataset": _dataset(ws, problems),
        "runs": _runs(ws, problems),
        "export_leftovers": _exports(ws),
        "ratings": _ratings(ws, problems),
        "latest_run": ws.latest_run(),
    }
    report["problems"] = problems
    report["ok"] = not problems
    return report
