"""Where a workspace stands: the state of each of the five stages and the key figures.

Read from the files in the workspace only (cheap, no model import), so the home screen can be
recomputed every time it is shown. A stage is ``done``, ``stale`` (done, but something it was
built from changed since), ``next`` (the first stage that is not done) or ``todo`` (waiting for
an earlier stage).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.runs import Run, tuned_name
from assistant_builder.workspace import Workspace

STAGES: tuple[tuple[str, str], ...] = (
    ("sources", "Sources"),
    ("dataset", "Dataset"),
    ("train", "Train"),
    ("compare", "Compare"),
    ("export", "Export"),
)


@dataclass
class StageStatus:
    key: str
    title: str
    state: str = "todo"
    detail: str = ""
    action: str = ""  # what to do in this stage now, as a user would say it


@dataclass
class WorkspaceStatus:
    stages: list[StageStatus]
    figures: dict[str, int] = field(default_factory=dict)

    @property
    def next_stage(self) -> StageStatus | None:
        return next((s for s in self.stages if s.state in ("next", "stale")), None)

    def stage(self, key: str) -> StageStatus:
        return next(s for s in self.stages if s.key == key)


def display_path(ws: Workspace, path: str | Path) -> str:
    """A path as short as it can be said: relative to the workspace or the current folder, or
    with ~ for the home folder. Keeps long temporary prefixes off the screen."""
    p = Path(path)
    try:
        absolute = p.resolve()
    except OSError:
        return str(p)
    for base, prefix in ((ws.root.resolve(), ""), (Path.cwd().resolve(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(absolute.relative_to(base))
        except ValueError:
            continue
    return str(p)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _mtime(p: Path) -> float:
    return p.stat().st_mtime if p.exists() else 0.0


def _read_json(p: Path) -> dict[str, Any]:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _tolerant(read: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """A run file for the status view: a damaged one reads as absent (the stage that owns the
    file reports the problem when it is used)."""
    try:
        return read()
    except UserError:
        return None


def _sources(ws: Workspace, st: StageStatus, figures: dict[str, int]) -> None:
    from assistant_builder.sources.ingest import load_index

    files = load_index(ws).get("files", {})
    figures["sources"] = len(files)
    pairs = sum(int(e.get("pairs", 0)) for e in files.values())
    sections = sum(int(e.get("sections", 0)) for e in files.values())
    if not files:
        st.detail, st.action = "no files yet", "Add your FAQ pages and documents"
        return
    st.state = "done"
    st.detail = (
        f"{plural(len(files), 'file')} · {plural(pairs, 'Q/A pair')} · "
        f"{plural(sections, 'prose section')}"
    )
    changed = []
    for key, entry in files.items():
        when = entry.get("ingested_at")
        if when and Path(key).is_file():
            ingested = datetime.fromisoformat(when).timestamp()
            if _mtime(Path(key)) > ingested + 1:  # +1 s: ingested_at has whole seconds
                changed.append(key)
    if changed:
        st.state = "stale"
        st.action = f"{plural(len(changed), 'file')} changed on disk since ingest: ingest again"
    else:
        st.action = "Add more files, or look at what was extracted"


def _dataset(ws: Workspace, st: StageStatus, figures: dict[str, int]) -> None:
    report_path = ws.dataset_dir / "report.json"
    report = _read_json(report_path)
    figures["examples"] = int(report.get("train", 0)) + int(report.get("eval", 0))
    if not report:
        st.detail, st.action = "not built yet", "Build conversations from the sources"
        return
    st.state = "done"
    st.detail = f"{report.get('train', 0)} train · {report.get('eval', 0)} eval conversations"
    built = _mtime(report_path)
    if _mtime(ws.sources_dir / "index.json") > built:
        st.state, st.action = "stale", "Sources changed since the last build: rebuild"
    elif _mtime(ws.dataset_dir / "edits.jsonl") > built:
        st.state, st.action = "stale", "Reviews not in the split yet: rebuild"
    else:
        st.action = "Review, edit, approve or reject examples"


def _loss(metrics: dict[str, Any]) -> str:
    """The loss the adapter ended with: what says whether the answers were learned. The mean
    over the run (``train_loss``) is shown, named so, only for runs that did not record it."""
    for key, label in (("last_loss", "final loss"), ("train_loss", "mean loss")):
        loss = metrics.get(key)
        if isinstance(loss, (int, float)) and not isinstance(loss, bool):
            return f" · {label} {loss:.3f}"
    return ""


def _train(ws: Workspace, st: StageStatus, figures: dict[str, int]) -> str | None:
    from assistant_builder.dataset.build import dataset_hash

    runs = ws.list_runs()
    figures["runs"] = len(runs)
    latest = ws.latest_run()
    if latest is None:
        st.detail = f"{len(runs)} runs, none finished" if runs else "no runs yet"
        st.action = "Pick a recipe and train"
        return None
    run = Run(ws.runs_dir / latest)
    metrics = _tolerant(run.metrics) or {}
    st.state = "done"
    st.detail = f"{plural(len(runs), 'run')} · latest {latest}" + _loss(metrics)
    train_path = ws.dataset_dir / "train.jsonl"
    trained_on = (_tolerant(run.info) or {}).get("dataset_sha256")
    if train_path.is_file() and trained_on and dataset_hash(train_path) != trained_on:
        st.state, st.action = "stale", "The dataset changed since the latest run: train again"
    else:
        st.action = "Train again with other settings, or move on"
    return latest


def _compare(ws: Workspace, st: StageStatus, figures: dict[str, int], latest: str | None) -> None:
    figures["ratings"] = 0
    rated_latest = 0
    if ws.ratings_db.is_file():
        from assistant_builder.compare.ratings import RatingStore

        with RatingStore(ws.ratings_db) as store:
            rows = store.ratings()
        figures["ratings"] = len(rows)
        if latest:
            name = tuned_name(latest)
            rated_latest = sum(1 for r in rows if name in (r["model_a"], r["model_b"]))
    summaries = list((ws.runs_dir / latest / "compare").glob("*.summary.json")) if latest else []
    if latest is None:
        st.detail, st.action = "needs a trained run", "Rate base against tuned, blind"
        return
    if rated_latest or summaries:
        st.state = "done"
        st.detail = f"{rated_latest} blind ratings of {latest}"
        st.action = "Rate more answers, or ask your own questions"
    elif figures["ratings"]:
        st.state, st.detail = "stale", f"{figures['ratings']} ratings, all of older runs"
        st.action = "Rate the latest run against base"
    else:
        st.detail, st.action = "no ratings yet", "Rate base against tuned, blind"


def _export(ws: Workspace, st: StageStatus, latest: str | None) -> None:
    exported = sorted(
        p.parent.name + "/" + p.name
        for p in ws.exports_dir.glob("*/*")
        if p.is_dir() and not p.name.startswith(".")
    )
    mine = [e for e in exported if latest and e.startswith(f"{latest}/")]
    if mine:
        st.state = "done"
        st.detail = "exported: " + ", ".join(e.split("/", 1)[1] for e in mine)
        st.action = "Export to more platforms"
    elif exported:
        st.state, st.detail = "stale", f"{plural(len(exported), 'export')}, all of older runs"
        st.action = "Export the latest run"
    else:
        st.detail = "nothing exported yet" if latest else "needs a trained run"
        st.action = "Export the adapter and ship it"


def workspace_status(ws: Workspace) -> WorkspaceStatus:
    stages = [StageStatus(key, title) for key, title in STAGES]
    by_key = {s.key: s for s in stages}
    figures: dict[str, int] = {}
    _sources(ws, by_key["sources"], figures)
    _dataset(ws, by_key["dataset"], figures)
    latest = _train(ws, by_key["train"], figures)
    _compare(ws, by_key["compare"], figures, latest)
    _export(ws, by_key["export"], latest)
    # The first stage that is not done is the next one; later stages wait for it.
    for s in stages:
        if s.state != "done":
            if s.state == "todo":
                s.state = "next"
            break
    return WorkspaceStatus(stages, figures)
