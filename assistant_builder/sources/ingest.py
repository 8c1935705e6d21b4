"""The Sources stage: take files and folders, parse them, and record what was ingested.

For every ingested file the workspace keeps a copy (``sources/files/``), the extracted pairs and
sections (``sources/items/<sha256>.jsonl``) and an entry in ``sources/index.json`` keyed by the
path the user gave. Re-ingesting an unchanged file is a no-op; a changed file replaces its
entry (its earlier hashes are kept under ``previous``). Each extracted pair carries the hash of
its file version, so the dataset stage marks a person's review of an older version as stale.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant_builder.errors import IngestError, UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.locks import store_lock
from assistant_builder.textsafe import printable
from assistant_builder.workspace import (
    Workspace,
    atomic_write_bytes,
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
# How often a long ingest saves its index, so a killed one keeps most of its work.
CHECKPOINT_SECONDS = 2.0


@dataclass
class IngestReport:
    documents: int = 0
    pairs: int = 0
    sections: int = 0
    conversations: int = 0  # multi-turn support transcripts
    skipped: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    # Files ingested with a caveat (an encoding that was guessed): {"path", "reason"}.
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "pairs": self.pairs,
            "sections": self.sections,
            "conversations": self.conversations,
            "skipped": self.skipped,
            "sources": self.sources,
            "warnings": self.warnings,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def iter_files(paths: Iterable[Path], report: IngestReport) -> Iterator[Path]:
    """Expand folders (recursively, sorted, hidden entries skipped) into files. A subfolder
    that cannot be listed is reported as skipped with the reason, never silently left out."""
    for p in paths:
        if not p.exists():
            what = "broken or looping link" if p.is_symlink() else "no such file or folder"
            raise UserError(f"{printable(str(p))}: {what}")
        if not p.is_dir():
            yield p
            continue
        found: list[Path] = []

        def unreadable(e: OSError, top: Path = p) -> None:
            where = e.filename or top
            reason = f"folder cannot be read: {e.strerror or e}"
            report.skipped.append({"path": str(where), "reason": reason})

        for folder, dirs, names in os.walk(p, onerror=unreadable):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for d in dirs:  # os.walk does not follow them (a loop would never end): say so
                if (Path(folder) / d).is_symlink():
                    reason = "link to a folder: not followed (name the folder itself)"
                    report.skipped.append({"path": str(Path(folder) / d), "reason": reason})
            found.extend(Path(folder) / n for n in names if not n.startswith("."))
        for f in sorted(found):
            if not f.is_file():
                report.skipped.append({"path": str(f), "reason": _not_a_file(f)})
                continue
            if f.name.lower() in METADATA_NAMES:
                report.skipped.append({"path": str(f), "reason": "folder metadata, not content"})
                continue
            if GOLDEN.match(f.name):
                reason = "evaluation (golden) questions, not training data: use it with eval"
                report.skipped.append({"path": str(f), "reason": reason})
                continue
            yield f


def _not_a_file(f: Path) -> str:
    if f.is_symlink():
        return "broken or looping link: it points to nothing readable"
    if not f.exists():
        return "vanished before it could be read"
    return "not a regular file (a pipe, socket or device): not read"


def load_index(ws: Workspace) -> dict[str, Any]:
    path = ws.sources_dir / "index.json"
    if not path.is_file():
        return {"files": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path} cannot be read ({e}); restore it from a backup") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise UserError(f"{path} is not a sources index; restore it from a backup")
    return data


def ingest_paths(ws: Workspace, paths: list[Path], on_event: OnEvent = ignore) -> IngestReport:
    """Parse each file and record it in the workspace. One bad file never stops the others.

    The whole ingest holds the sources lock: a second ingest into the same workspace waits for
    this one, then reads the index it left, so neither loses the other's files.
    """
    ws.require()
    report = IngestReport()
    files = list(iter_files(paths, report))
    with store_lock(ws.root, "sources", on_wait=lambda m: on_event(Progress("ingest", m))):
        index = load_index(ws)
        clean_orphans(ws, index)
        saved = time.monotonic()
        for i, f in enumerate(files):
            on_event(Progress("ingest", f"parsing {_shown(f)}", done=i, total=len(files)))
            _ingest_one(ws, f, index, report)
            # Save as it goes, so a killed ingest keeps what it had finished.
            if time.monotonic() - saved > CHECKPOINT_SECONDS:
                atomic_write_json(ws.sources_dir / "index.json", index)
                saved = time.monotonic()
        atomic_write_json(ws.sources_dir / "index.json", index)
    on_event(Progress("ingest", "done", done=len(files), total=len(files)))
    return report


def _ingest_one(ws: Workspace, f: Path, index: dict[str, Any], report: IngestReport) -> None:
    from assistant_builder.sources.parsers import parse_file

    # Every file goes to parse_file, extension or not: it sniffs the content ("NOTES" is
    # Markdown, "faq.export" may be JSON) and raises IngestError for what it cannot read.
    key = str(f.resolve())
    try:
        # Parsed first: it refuses what is not a regular file (reading a pipe never ends).
        result = parse_file(f, display_path=str(f))
        digest = sha256_file(f)
    except IngestError as e:
        entry: dict[str, Any] = {"path": str(f), "reason": e.reason}
        if e.line is not None:
            entry["line"] = e.line
        report.skipped.append(entry)
        return
    except OSError as e:
        report.skipped.append({"path": str(f), "reason": f"cannot read: {e.strerror or e}"})
        return
    report.skipped.extend(s.to_dict() for s in result.skipped)
    if result.encoding_note:
        report.warnings.append({"path": str(f), "reason": result.encoding_note})
    report.warnings.extend({**n.to_dict(), "path": str(f)} for n in result.notes)
    rows = [p.to_dict() for p in result.pairs] + [s.to_dict() for s in result.sections]
    rows += [c.to_dict() for c in result.conversations]
    for r in rows:
        r["sha256"] = digest
    if not rows:
        report.skipped.append({"path": str(f), "reason": "no questions or text found"})
        return
    atomic_write_jsonl(ws.sources_dir / "items" / f"{digest}.jsonl", rows)
    copy = ws.sources_dir / "files" / f"{digest[:12]}-{f.name}"
    if not copy.exists():
        # Written under a temporary name first: a killed copy never passes for a whole one.
        atomic_write_bytes(copy, f.read_bytes())
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


def _shown(path: Path) -> str:
    """A path as printed: control characters (a newline in a file name) escaped."""
    return printable(str(path))


def clean_orphans(ws: Workspace, index: dict[str, Any]) -> int:
    """Remove what a killed ingest left behind: item files and copies no index entry names,
    and half-written temporary files. Runs under the sources lock. Returns files removed."""
    known: set[str] = set()
    for entry in index["files"].values():
        known.add(entry["sha256"])
        known.update(entry.get("previous", []))
    prefixes = {h[:12] for h in known}
    removed = 0
    for folder, name_hash in (("items", lambda n: n.split(".")[0]), ("files", None)):
        d = ws.sources_dir / folder
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                orphan = True
            elif name_hash is not None:
                orphan = p.suffix == ".jsonl" and name_hash(p.name) not in known
            else:
                orphan = p.name[12:13] != "-" or p.name[:12] not in prefixes
            if orphan and p.is_file():
                p.unlink(missing_ok=True)
                removed += 1
    for p in ws.sources_dir.glob(".index.json.*.tmp"):
        p.unlink(missing_ok=True)
        removed += 1
    return removed


def load_items(ws: Workspace) -> list[dict[str, Any]]:
    """All current pairs and sections of the workspace, in index order."""
    items: list[dict[str, Any]] = []
    for entry in load_index(ws)["files"].values():
        path = ws.sources_dir / "items" / f"{entry['sha256']}.jsonl"
        if path.is_file():
            items.extend(read_jsonl(path))
    return items
