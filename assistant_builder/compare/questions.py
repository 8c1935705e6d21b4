"""Question sets for compare and eval: the dataset's eval split (with references), a user file
(JSONL or CSV with ``question`` and optional ``reference``, ``source``, ``paraphrase``), or
questions typed on the spot. Bad files are UserErrors naming the file and line."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant_builder.dataset.conversations import read_turns
from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace, read_jsonl


@dataclass
class Question:
    question: str
    reference: str | None = None
    source: str | None = None
    paraphrase: bool = False


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y")
    return bool(value)


def load_questions_file(path: Path) -> list[Question]:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    out: list[Question] = []
    if path.suffix.lower() in (".csv", ".tsv"):
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            if "question" not in (reader.fieldnames or []):
                raise UserError(f"{path}:1: no 'question' column in the header")
            for lineno, row in enumerate(reader, 2):
                q = (row.get("question") or "").strip()
                if not q:
                    raise UserError(f"{path}:{lineno}: missing 'question'")
                ref = (row.get("reference") or "").strip() or None
                src = (row.get("source") or "").strip() or None
                out.append(Question(q, ref, src, _truthy(row.get("paraphrase") or "")))
    else:
        for lineno, row in enumerate(read_jsonl(path), 1):
            q = row.get("question")
            if not isinstance(q, str) or not q.strip():
                raise UserError(f"{path}:{lineno}: missing 'question'")
            ref = row.get("reference")
            if ref is not None and not isinstance(ref, str):
                raise UserError(f"{path}:{lineno}: 'reference' must be text")
            src = row.get("source")
            out.append(
                Question(
                    q.strip(),
                    ref.strip() or None if isinstance(ref, str) else None,
                    src if isinstance(src, str) else None,
                    _truthy(row.get("paraphrase", False)),
                )
            )
    if not out:
        raise UserError(f"{path}: no questions in the file")
    return out


def typed_questions(texts: list[str]) -> list[Question]:
    """Questions typed on the spot (``compare --ask``): no reference, no source."""
    qs = [Question(t.strip()) for t in texts if t.strip()]
    if not qs:
        raise UserError("--ask needs a non-empty question")
    return qs


def eval_questions(ws: Workspace) -> list[Question]:
    path = ws.dataset_dir / "eval.jsonl"
    if not path.is_file():
        raise UserError("no eval split (run `assistant-builder dataset`, or pass --questions FILE)")
    out = [
        Question(t.question, t.answer, t.meta.get("source"), t.meta.get("how") == "variant")
        for t in read_turns(path)
    ]
    if not out:
        raise UserError("the eval split is empty")
    return out
