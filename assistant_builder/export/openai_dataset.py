"""``openai-dataset`` export: the workspace dataset as OpenAI chat fine-tuning JSONL.

Each line is ``{"messages": [{"role", "content"}, ...]}``: the provenance ``meta`` is dropped
(the platform rejects unknown keys). The files are validated against the platform's rules
after writing, line by line, so a rejected upload is caught here with the line number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress
from assistant_builder.workspace import Workspace, atomic_write_jsonl, read_jsonl

ROLES = ("system", "user", "assistant")
MESSAGE_KEYS = {"role", "content", "weight"}  # weight (0/1) is allowed on assistant messages
MIN_EXAMPLES = 10  # the platform refuses smaller training files


def validate_row(row: Any) -> list[str]:
    """Why OpenAI's chat fine-tuning would reject this line (empty list: it is valid)."""
    if not isinstance(row, dict):
        return ["the line is not a JSON object"]
    problems = []
    extra = set(row) - {"messages"}
    if extra:
        problems.append(f"unexpected keys {sorted(extra)}")
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return [*problems, "'messages' must be a non-empty list"]
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            problems.append(f"message {i} is not an object")
            continue
        if m.get("role") not in ROLES:
            problems.append(f"message {i}: role {m.get('role')!r} not one of {', '.join(ROLES)}")
        content = m.get("content")
        if not isinstance(content, str) or not content.strip():
            problems.append(f"message {i}: content must be a non-empty string")
        extra_m = set(m) - MESSAGE_KEYS
        if extra_m:
            problems.append(f"message {i}: unexpected keys {sorted(extra_m)}")
        if "weight" in m and (m.get("role") != "assistant" or m["weight"] not in (0, 1)):
            problems.append(f"message {i}: weight must be 0 or 1, on assistant messages only")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in msgs):
        problems.append("no assistant message")
    return problems


def validate_file(path: Path) -> tuple[int, list[str]]:
    """(number of valid lines, problems as 'file:line: reason')."""
    problems = []
    n = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{path.name}:{lineno}: not valid JSON ({e.msg})")
                continue
            errs = validate_row(row)
            problems += [f"{path.name}:{lineno}: {e}" for e in errs]
            n += not errs
    return n, problems


def to_openai(row: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]]}


def export_openai_dataset(
    ws: Workspace, run_dir: Path, tmp: Path, on_event: OnEvent
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for split in ("train", "eval"):
        src = ws.dataset_dir / f"{split}.jsonl"
        if not src.is_file():
            if split == "train":
                raise UserError("no dataset to export (run `assistant-builder dataset` first)")
            continue
        on_event(Progress("export", f"converting {split} split"))
        rows = []
        for lineno, row in enumerate(read_jsonl(src), 1):
            if not isinstance(row.get("messages"), list):
                raise UserError(f"{src}:{lineno}: no 'messages' list")
            rows.append(to_openai(row))
        from assistant_builder.dataset.redact import redact_for_export

        redact_for_export(ws, rows)
        counts[split] = atomic_write_jsonl(tmp / f"{split}.jsonl", rows)
    problems: list[str] = []
    for split, n in counts.items():
        valid, errs = validate_file(tmp / f"{split}.jsonl")
        problems += errs
        if valid != n:
            problems.append(f"{split}.jsonl: {valid} of {n} lines valid")
    if problems:
        raise UserError(
            f"the dataset breaks OpenAI's fine-tuning rules ({len(problems)} problems), "
            f"first: {problems[0]}"
        )
    warnings = []
    if counts.get("train", 0) < MIN_EXAMPLES:
        warnings.append(
            f"only {counts.get('train', 0)} training examples; OpenAI needs at least {MIN_EXAMPLES}"
        )
    # The official client (the `openai` package): upload, then start the job.
    usage = (
        'python -c "from openai import OpenAI; c = OpenAI(); '
        "t = c.files.create(file=open('{path}/train.jsonl', 'rb'), purpose='fine-tune'); "
    )
    if "eval" in counts:
        usage += "v = c.files.create(file=open('{path}/eval.jsonl', 'rb'), purpose='fine-tune'); "
    usage += "print(c.fine_tuning.jobs.create(model='gpt-4o-mini-2024-07-18', training_file=t.id"
    usage += ", validation_file=v.id" if "eval" in counts else ""
    usage += ').id)"'
    return {
        "verified": True,
        "examples": counts,
        "warnings": warnings,
        "source": "dataset/ (meta with provenance dropped)",
        "usage": usage,
    }
