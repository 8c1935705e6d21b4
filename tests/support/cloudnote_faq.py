"""A handful of CloudNote FAQ pairs for tests that really train the default model, and a
workspace whose training split holds exactly them (no ingest, no paraphrases)."""

from __future__ import annotations

import json
from pathlib import Path

from assistant_builder.workspace import Workspace

SYSTEM = "You are the support assistant of CloudNote. Answer briefly."
FAQ = [
    ("How do I reset my CloudNote password?", "Open Settings, tap Account, then Reset password."),
    ("Can I use CloudNote offline?", "Yes. Notes sync as soon as you are back online."),
    ("How much does CloudNote Pro cost?", "CloudNote Pro costs 4 euros a month."),
    ("How do I export my notes?", "Choose File, then Export, and pick PDF or Markdown."),
    ("Where is my data stored?", "Your notes are stored in our data centre in Frankfurt."),
    ("How do I delete my account?", "Write to support and we delete it within two days."),
]


def faq_workspace(folder: Path, faq: list[tuple[str, str]]) -> Workspace:
    ws = Workspace(folder)
    ws.create()
    ws.dataset_dir.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": q},
                {"role": "assistant", "content": a},
            ]
        }
        for q, a in faq
    ]
    (ws.dataset_dir / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ws
