"""The Sources stage: take files and folders, parse them, and record what was ingested.

For every ingested file the workspace keeps a copy (``sources/files/``), the extracted pairs and
sections (``sources/items/<sha256>.jsonl``) and an entry in ``sources/index.json`` keyed by the
path the user gave. Re-ingesting an unchanged file is a no-op; a changed file replaces its
entry (its earlier hashes are kept under ``previous``). Each extracted pair carries the hash of
its file version, so the dataset stage marks a person's review of an older version as stale.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant_builder.errors import IngestError, UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.workspace import (
    Workspace,
    atomic_write_json,
    atomic_write_jsonl,
    read_jsonl,
    sha256_file,
)

# Files that describe a folder rather than hold content (the shared samples carry these).
METADATA_NAMES = {"source.txt", "license", "license.txt", "license.md", "readme.txt"}
# An evaluation set kept next to the FAQ it tests ("golden.jsonl"): ingesting it with the
# folder would put the test questions into training. Named explicitly, it is still read.
GOLDEN = re.compile(r"^golden[\w.-]*\.jsonl?$", re.IGNORECASE)


@dataclass
class IngestReport:
    documents: int = 0
    pairs: int = 0
    sections: int = 0
    conversations: int = 0  # multi-turn support transcripts
    skipped: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "pairs": self.pairs,
            "sections": self.sections,
            "conversations": self.conversations,
            "skipped": self.skipped,
            "sources": self.sources,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def iter_files(paths: Iterable[Path], report: IngestReport) -> Iterator[Path]:
    """Expand folders (recursively, sorted, hidden entries skipped) into files."""
    for p in paths:
        if not p.exists():
            raise UserError(f"{p}: no such file or folder")
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts) or not f.is_file():
                    continue
                if f.name.lower() in METADATA_NAMES:
                    report.skipped.append(
                        {"path": str(f), "reason": "folder metadata, not content"}
                    )
                    continue
                if GOLDEN.match(f.name):
                    reason = "evaluation (golden) questions, not training data: use it with eval"
                    report.skipped.append({"path": str(f), "reason": reason})
                    continue
                yield f
        else:
            yield p


def load_index(ws: Workspace) -> dict[str, Any]:
    path = ws.sources_dir / "index.json"
    if not path.is_file():
        return {"files": {}}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def ingest_paths(ws: Workspace, paths: list[Path], on_event: OnEvent = ignore) -> IngestReport:
    """Parse each file and record it in the workspace. One bad file never stops the others."""
    from assistant_builder.sources.parsers import parse_file

    ws.require()
    report = IngestReport()
    files = list(iter_files(paths, report))
    index = load_index(ws)
    items_dir = ws.sources_dir / "items"
    copies_dir = ws.sources_dir / "files"
    for i, f in enumerate(files):
        on_event(Progress("ingest", f"parsing {f}", done=i, total=len(files)))
        # Every file goes to parse_file, extension or not: it sniffs the content ("NOTES" is
        # Markdown, "faq.export" may be JSON) and raises IngestError for what it cannot read.
        key = str(f.resolve())
        try:
            digest = sha256_file(f)
            result = parse_file(f, display_path=str(f))
        except IngestError as e:
            entry: dict[str, Any] = {"path": str(f), "reason": e.reason}
            if e.line is not None:
                entry["line"] = e.line
            report.skipped.append(entry)
            continue
        except OSError as e:
            report.skipped.append({"path": str(f), "reason": f"cannot read: {e.strerror or e}"})
            continue
        report.skipped.extend(s.to_dict() for s in result.skipped)
        rows = [p.to_dict() for p in result.pairs] + [s.to_dict() for s in result.sections]
        rows += [c.to_dict() for c in result.conversations]
        for r in rows:
            r["sha256"] = digest
        if not rows:
            report.skipped.append({"path": str(f), "reason": "no questions or text found"})
            continue
        atomic_write_jsonl(items_dir / f"{digest}.jsonl", rows)
        copy = copies_dir / f"{digest[:12]}-{f.name}"
        if not copy.exists():
            copies_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, copy)
        old = index["files"].get(key)
        previous = list(old.get("previous", [])) if old else []
        if old and old["sha256"] != digest:
            previous.append(old["sha256"])
        index["files"][key] = {
            "path": str(f),
            "sha256": digest,
            "format": result.format,
            "pairs": len(result.pairs),
            "sections": len(result.sections),
            "conversations": len(result.conversations),
            "ingested_at": _now(),
            "previous": previous,
        }
        report.documents += 1
        report.pairs += len(result.pairs)
        report.sections += len(result.sections)
        report.conversations += len(result.conversations)
        source_entry = {"path": str(f), "format": result.format, "pairs": len(result.pairs)}
        if result.conversations:
            source_entry["conversations"] = len(result.conversations)
        report.sources.append(source_entry)
    atomic_write_json(ws.sources_dir / "index.json", index)
    on_event(Progress("ingest", "done", done=len(files), total=len(files)))
    return report


def load_items(ws: Workspace) -> list[dict[str, Any]]:
    """All current pairs and sections of the workspace, in index order."""
    items: list[dict[str, Any]] = []
    for entry in load_index(ws)["files"].values():
        path = ws.sources_dir / "items" / f"{entry['sha256']}.jsonl"
        if path.is_file():
            items.extend(read_jsonl(path))
    return items
