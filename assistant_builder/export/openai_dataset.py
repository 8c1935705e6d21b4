"""``openai-dataset`` export: the workspace dataset as OpenAI chat fine-tuning JSONL.

Each line is ``{"messages": [{"role", "content"}, ...]}``: the provenance ``meta`` is dropped
(the platform rejects unknown keys). The files are validated against the platform's rules
after writing, line by line, so a rejected upload is caught here with the line number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant_builder.dataset.formats import MIN_EXAMPLES, to_openai, validate_file
from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress
from assistant_builder.workspace import Workspace, atomic_write_jsonl, read_jsonl


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
    # The folder is an argument (sys.argv[1]), not part of the Python code: any path is safe.
    usage = (
        'python -c "import sys; from openai import OpenAI; c = OpenAI(); d = sys.argv[1]; '
        "t = c.files.create(file=open(d + '/train.jsonl', 'rb'), purpose='fine-tune'); "
    )
    if "eval" in counts:
        usage += "v = c.files.create(file=open(d + '/eval.jsonl', 'rb'), purpose='fine-tune'); "
    usage += "print(c.fine_tuning.jobs.create(model='gpt-4o-mini-2024-07-18', training_file=t.id"
    usage += ", validation_file=v.id" if "eval" in counts else ""
    usage += ').id)" {path}'
    return {
        "verified": True,
        "examples": counts,
        "warnings": warnings,
        "source": "dataset/ (meta with provenance dropped)",
        "usage": usage,
    }
