"""The workspace: a folder a user can look at, back up and put in git.

Layout::

    workspace.json        settings (system prompt, out-of-scope message, default recipe)
    sources/              index.json (what was ingested, with content hashes),
                          items/<sha>.jsonl (pairs and sections per source file),
                          files/<sha12>-<name> (a copy of each ingested file)
    dataset/              conversations.jsonl, train.jsonl, eval.jsonl, report.json, edits.jsonl
    runs/<id>/            resolved recipe, events.jsonl, metrics.json, adapter/, checkpoints
    ratings.db            SQLite: blind A/B ratings
    exports/              exported artifacts
    cache/                generated answers cache

Every write goes through ``atomic_write_*``: write a temp file in the same folder, fsync, rename.
Nothing is overwritten silently: callers decide explicitly what they replace.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError

DEFAULT_WORKSPACE = "assistant-workspace"
ENV_WORKSPACE = "ASSISTANT_BUILDER_WORKSPACE"

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful support assistant. Answer the user's question clearly and concisely."
)
DEFAULT_OUT_OF_SCOPE = (
    "I'm sorry, I can only help with questions about this product. "
    "Please contact our support team for anything else."
)


def default_workspace_path() -> Path:
    return Path(os.environ.get(ENV_WORKSPACE) or DEFAULT_WORKSPACE)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield JSON objects from a JSONL file; a bad line is a ``UserError`` naming file and line."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise UserError(f"{path}:{lineno}: expected a JSON object")
            yield obj


@dataclass
class Settings:
    """Workspace-level settings stored in workspace.json."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    out_of_scope_message: str = DEFAULT_OUT_OF_SCOPE
    base_model: str = "default"
    recipe: str = "cpu-lora"
    extra: dict[str, Any] = field(default_factory=dict)


class Workspace:
    """Paths and settings of one workspace folder."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_workspace_path()

    # -- paths -------------------------------------------------------------------------
    @property
    def settings_path(self) -> Path:
        return self.root / "workspace.json"

    @property
    def sources_dir(self) -> Path:
        return self.root / "sources"

    @property
    def dataset_dir(self) -> Path:
        return self.root / "dataset"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def ratings_db(self) -> Path:
        return self.root / "ratings.db"

    def exists(self) -> bool:
        return self.settings_path.is_file()

    def require(self) -> Workspace:
        if not self.exists():
            raise UserError(
                f"no workspace at {self.root} (run `assistant-builder init` first, "
                "or pass --workspace DIR)"
            )
        return self

    # -- lifecycle ---------------------------------------------------------------------
    def create(self) -> bool:
        """Create the folders and default settings. Returns False if it already existed."""
        existed = self.exists()
        for d in (self.sources_dir, self.dataset_dir, self.runs_dir, self.exports_dir):
            d.mkdir(parents=True, exist_ok=True)
        if not existed:
            self.save_settings(Settings())
        return not existed

    def load_settings(self) -> Settings:
        if not self.settings_path.is_file():
            return Settings()
        try:
            raw = json.loads(self.settings_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{self.settings_path}: not valid JSON ({e.msg})") from None
        known = {k: raw.pop(k) for k in list(raw) if k in Settings.__dataclass_fields__}
        s = Settings(**known)
        s.extra.update(raw)
        return s

    def save_settings(self, settings: Settings) -> None:
        data = asdict(settings)
        extra = data.pop("extra")
        data.update(extra)
        atomic_write_json(self.settings_path, data)

    # -- runs --------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        from assistant_builder.runs import check_run_id

        d = self.runs_dir / check_run_id(run_id)
        if not d.is_dir():
            raise UserError(f"no run {run_id!r} in {self.runs_dir}")
        return d

    def list_runs(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if p.is_dir())

    def latest_run(self, with_adapter: bool = True) -> str | None:
        """The newest run; with ``with_adapter``, the newest whose adapter was fully written."""
        from assistant_builder.runs import adapter_problem

        for run_id in reversed(self.list_runs()):
            if not with_adapter or adapter_problem(self.runs_dir / run_id / "adapter") is None:
                return run_id
        return None
