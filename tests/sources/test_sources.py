from __future__ import annotations

import json
from pathlib import Path

from assistant_builder.sources.ingest import ingest_paths


def test_files_without_extension_are_sniffed(workspace, tmp_path: Path) -> None:
    d = tmp_path / "docs"
    d.mkdir()
    (d / "FAQ").write_text("# FAQ\n\n## How do I reset it?\n\nHold the button.\n")
    (d / "export").write_text(json.dumps([{"question": "Is it waterproof?", "answer": "No."}]))
    (d / "notes.xyz").write_text("# Notes\n\nSome text.\n")
    (d / "image").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    report = ingest_paths(workspace, [d])
    formats = {Path(s["path"]).name: s["format"] for s in report.sources}
    assert formats == {"FAQ": "markdown", "export": "json"}
    assert report.pairs == 2
    skipped = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    assert "unsupported file type" in skipped["notes.xyz"]
    assert "not a text file" in skipped["image"]


def test_hidden_metadata_and_golden_files_are_skipped_only_in_folders(
    workspace, tmp_path: Path
) -> None:
    d = tmp_path / "faq"
    (d / ".git").mkdir(parents=True)
    (d / ".git" / "config").write_text("[core]\n")
    (d / ".hidden.md").write_text("## Is this read?\n\nNo.\n")
    (d / "SOURCE.txt").write_text("Repository: x\n")
    golden = d / "golden.jsonl"
    golden.write_text(json.dumps({"question": "Q?", "reference": "A."}) + "\n")
    (d / "faq.md").write_text("## How do I pair it?\n\nOpen the app.\n")
    report = ingest_paths(workspace, [d])
    names = [Path(s["path"]).name for s in report.sources]
    assert names == ["faq.md"]
    reasons = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    assert "metadata" in reasons["SOURCE.txt"] and "golden" in reasons["golden.jsonl"]
    assert ".hidden.md" not in reasons and "config" not in reasons
