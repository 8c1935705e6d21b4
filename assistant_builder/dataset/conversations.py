"""The one reader of conversation rows: the dataset's splits (``dataset/*.jsonl``) and a run's
copy of them (``runs/<id>/data/*.jsonl``).

A row is ``{"messages": [{"role": ..., "content": ...}, ...], "meta": {...}}``. What every
stage wants from it is the user's question, the assistant's answer and the provenance in
``meta``: :func:`turn_of` takes those (the first user message and the last assistant message,
so a system prompt or a longer conversation reads the same way). :func:`read_conversations`
is the strict reader the trainer uses: a bad line is a UserError naming the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.workspace import read_jsonl

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Turn:
    """One conversation as a question and its answer, with the row's provenance."""

    question: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict)


def turn_of(row: dict[str, Any]) -> Turn:
    """The first user question and the last assistant answer of a conversation row."""
    msgs = row["messages"]
    question = next(m["content"] for m in msgs if m["role"] == "user")
    answer = next(m["content"] for m in reversed(msgs) if m["role"] == "assistant")
    meta = row.get("meta")
    return Turn(question, answer, meta if isinstance(meta, dict) else {})


def read_turns(path: Path, limit: int | None = None) -> list[Turn]:
    """The turns of a split file, in file order (at most ``limit``); [] when there is none."""
    if not path.is_file():
        return []
    out: list[Turn] = []
    for row in read_jsonl(path):
        if limit is not None and len(out) >= limit:
            break
        out.append(turn_of(row))
    return out


def read_conversations(path: Path) -> list[dict[str, Any]]:
    """The conversations of a split file, checked: a bad line is a UserError naming the file
    and line, before any weights are loaded."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                rows.append(_checked(line, f"{path}:{n}"))
    return rows


def _checked(line: str, where: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise UserError(f"{where}: not valid JSON ({e.msg})") from None
    msgs = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(msgs, list) or not msgs:
        raise UserError(f'{where}: expected an object with a "messages" list')
    for m in msgs:
        if not (
            isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)
        ):
            raise UserError(f"{where}: each message needs a role and a text content")
    roles = [m["role"] for m in msgs]
    if "assistant" not in roles or roles.index("assistant") == 0 or roles[-1] != "assistant":
        raise UserError(f"{where}: a conversation must end with an assistant answer")
    if not msgs[-1]["content"].strip():
        raise UserError(f"{where}: the assistant answer is empty")
    return dict(row)
