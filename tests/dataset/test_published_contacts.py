"""Redaction keeps the team's own published addresses (an FAQ address whose site the FAQ links
to) and still replaces customers' addresses, in transcripts and in quoted examples."""

from __future__ import annotations

import json
from pathlib import Path

from assistant_builder.dataset.build import build_dataset
from assistant_builder.dataset.pii.published import published_addresses, site
from assistant_builder.dataset.redact import policy
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.workspace import Workspace

FAQ = """# Help

## How do I contact support?

Write to help@example-shop.co.uk or see https://www.example-shop.co.uk/contact for hours.

## Can you show an example order e-mail?

A customer such as alice.doe@gmail.com receives a confirmation; see https://gmail.com too.
"""


def test_site_and_published_addresses() -> None:
    assert site("support.torproject.org") == "torproject.org"
    assert site("shop.example.co.uk") == "example.co.uk"
    items = [
        {"kind": "pair", "question": "Q?", "answer": FAQ},
        # A transcript is the customers' words: its addresses never count as published.
        {"kind": "conversation", "turns": [{"text": "me: bob@example-shop.co.uk"}]},
    ]
    # The mail provider is linked too, but anyone can have an address there.
    assert published_addresses(items) == ["help@example-shop.co.uk"]


def test_build_keeps_published_and_redacts_the_rest(workspace: Workspace, tmp_path: Path) -> None:
    f = tmp_path / "faq.md"
    f.write_text(FAQ, encoding="utf-8")
    ingest_paths(workspace, [f])
    build_dataset(workspace)
    text = (workspace.dataset_dir / "train.jsonl").read_text()
    text += (workspace.dataset_dir / "eval.jsonl").read_text()
    assert "help@example-shop.co.uk" in text
    assert "alice.doe@gmail.com" not in text and "<EMAIL>" in text
    report = json.loads((workspace.dataset_dir / "redactions.json").read_text())
    assert report["published"] == ["help@example-shop.co.uk"]
    # Exports are redacted again: with the same published addresses kept.
    from assistant_builder.dataset.formats import export_dataset

    export_dataset(workspace, "openai", tmp_path / "out")
    exported = "".join(p.read_text() for p in (tmp_path / "out" / "openai").glob("*.jsonl"))
    assert "help@example-shop.co.uk" in exported and "alice.doe@gmail.com" not in exported
    # A team that wants them gone says so in its redaction policy.
    settings = workspace.load_settings()
    settings.extra["redaction"] = {**policy(workspace), "keep_published": False}
    workspace.save_settings(settings)
    build_dataset(workspace)
    again = "".join((workspace.dataset_dir / n).read_text() for n in ("train.jsonl", "eval.jsonl"))
    assert "help@example-shop.co.uk" not in again and "<EMAIL>" in again
