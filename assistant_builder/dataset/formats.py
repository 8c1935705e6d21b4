"""Exports of the built dataset to the formats other tools read, each validated after writing.

    openai    train.jsonl / eval.jsonl: {"messages": [...]} (OpenAI chat fine-tuning; the rules
              and validator are shared with `assistant-builder export --format openai-dataset`)
    sharegpt  train.json / eval.json: [{"id", "conversations": [{"from", "value"}]}]
              (from: system | human | gpt), as LLaMA-Factory, Axolotl and FastChat read it
    alpaca    train.json / eval.json: [{"instruction", "input", "output", "system"}]
    hf        a Hugging Face ``datasets.DatasetDict`` saved with ``save_to_disk``
    parquet   train.parquet / eval.parquet (the same columns as ``hf``)

Everything is written to a temporary folder next to the target, validated by reading it back,
and only then renamed into place: a failed export leaves the previous one untouched.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace, atomic_write_jsonl, atomic_write_text, read_jsonl

FORMATS = ("openai", "sharegpt", "alpaca", "hf", "parquet")
SPLITS = ("train", "eval")
_SHAREGPT_ROLE = {"system": "system", "user": "human", "assistant": "gpt"}

# OpenAI's chat fine-tuning rules live here, with the other dataset formats; the
# ``openai-dataset`` export of a run reuses them.
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


META_COLUMNS = (
    "id",
    "group",
    "how",
    "review",
    "source",
    "line_start",
    "line_end",
    "page",
    "sha256",
)


def triples(row: dict[str, Any]) -> tuple[str, str, str]:
    """(system, question, answer) of a single-turn conversation; what every format keeps."""
    msgs = {m["role"]: m["content"] for m in row["messages"]}
    return msgs.get("system", ""), msgs["user"], msgs["assistant"]


# --- converters ------------------------------------------------------------------------------


def to_sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    conv = [{"from": _SHAREGPT_ROLE[m["role"]], "value": m["content"]} for m in row["messages"]]
    return {"id": row.get("meta", {}).get("id", ""), "conversations": conv}


def to_alpaca(row: dict[str, Any]) -> dict[str, Any]:
    system, question, answer = triples(row)
    out = {"instruction": question, "input": "", "output": answer}
    return {**out, "system": system} if system else out


def to_hf_row(row: dict[str, Any]) -> dict[str, Any]:
    meta = row.get("meta", {})
    msgs = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    cols: dict[str, Any] = {"messages": msgs}
    for k in META_COLUMNS:
        v = meta.get(k)
        # Arrow needs one type per column: line numbers and pages are ints or null.
        cols[k] = v if k in ("line_start", "line_end", "page") else ("" if v is None else str(v))
    return cols


# --- validators: a list of problems, empty when the file is valid ---------------------------


def validate_sharegpt(rows: Any) -> list[str]:
    if not isinstance(rows, list):
        return ["top level must be a JSON array"]
    problems: list[str] = []
    for i, r in enumerate(rows):
        conv = r.get("conversations") if isinstance(r, dict) else None
        if not isinstance(conv, list) or not conv:
            problems.append(f"row {i}: 'conversations' must be a non-empty list")
            continue
        turns = [c.get("from") if isinstance(c, dict) else None for c in conv]
        if turns[0] == "system":
            turns = turns[1:]
        if "system" in turns or len(turns) < 2 or len(turns) % 2:
            problems.append(f"row {i}: expected an optional system turn, then human/gpt pairs")
        elif any(t != ("human" if k % 2 == 0 else "gpt") for k, t in enumerate(turns)):
            problems.append(f"row {i}: turns must alternate human, gpt")
        if any(not isinstance(c, dict) or not str(c.get("value", "")).strip() for c in conv):
            problems.append(f"row {i}: every turn needs a non-empty 'value'")
    return problems


def validate_alpaca(rows: Any) -> list[str]:
    if not isinstance(rows, list):
        return ["top level must be a JSON array"]
    problems: list[str] = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            problems.append(f"row {i}: not an object")
            continue
        for k in ("instruction", "output"):
            if not isinstance(r.get(k), str) or not r[k].strip():
                problems.append(f"row {i}: '{k}' must be a non-empty string")
        if not isinstance(r.get("input", ""), str):
            problems.append(f"row {i}: 'input' must be a string")
    return problems


# --- writers ----------------------------------------------------------------------------------


def _write_json_array(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, json.dumps(rows, ensure_ascii=False, indent=1) + "\n")


def _write_openai(folder: Path, splits: dict[str, list[dict[str, Any]]]) -> list[str]:
    problems = []
    for split, rows in splits.items():
        path = folder / f"{split}.jsonl"
        n = atomic_write_jsonl(path, [to_openai(r) for r in rows])
        valid, errs = validate_file(path)
        problems += errs + ([f"{path.name}: {valid} of {n} lines valid"] if valid != n else [])
    return problems


def _writer_json(
    convert: Callable[[dict[str, Any]], dict[str, Any]], validate: Callable[[Any], list[str]]
) -> Callable[[Path, dict[str, list[dict[str, Any]]]], list[str]]:
    def write(folder: Path, splits: dict[str, list[dict[str, Any]]]) -> list[str]:
        problems = []
        for split, rows in splits.items():
            path = folder / f"{split}.json"
            _write_json_array(path, [convert(r) for r in rows])
            back = json.loads(path.read_text(encoding="utf-8"))
            problems += [f"{path.name}: {p}" for p in validate(back)]
            if len(back) != len(rows):
                problems.append(f"{path.name}: {len(back)} rows read back, {len(rows)} written")
        return problems

    return write


def _hf_dict(splits: dict[str, list[dict[str, Any]]]) -> Any:
    import datasets
    from datasets import Dataset, DatasetDict

    datasets.disable_progress_bars()  # the CLI shows its own progress; keep stderr readable

    return DatasetDict(
        {s: Dataset.from_list([to_hf_row(r) for r in rows]) for s, rows in splits.items()}
    )


def _check_hf_rows(name: str, back: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    if len(back) != len(rows):
        return [f"{name}: {len(back)} rows read back, {len(rows)} written"]
    for i, (b, r) in enumerate(zip(back, rows, strict=True)):
        if b["messages"] != to_hf_row(r)["messages"]:
            return [f"{name}: row {i} messages differ after reading back"]
    return []


def _write_hf(folder: Path, splits: dict[str, list[dict[str, Any]]]) -> list[str]:
    from datasets import load_from_disk

    _hf_dict(splits).save_to_disk(str(folder))
    back = load_from_disk(str(folder))
    return [p for s, rows in splits.items() for p in _check_hf_rows(s, back[s].to_list(), rows)]


def _write_parquet(folder: Path, splits: dict[str, list[dict[str, Any]]]) -> list[str]:
    import pyarrow.parquet as pq

    problems = []
    for split, ds in _hf_dict(splits).items():
        path = folder / f"{split}.parquet"
        ds.to_parquet(str(path))
        problems += _check_hf_rows(path.name, pq.read_table(path).to_pylist(), splits[split])
    return problems


WRITERS: dict[str, Callable[[Path, dict[str, list[dict[str, Any]]]], list[str]]] = {
    "openai": _write_openai,
    "sharegpt": _writer_json(to_sharegpt, validate_sharegpt),
    "alpaca": _writer_json(to_alpaca, validate_alpaca),
    "hf": _write_hf,
    "parquet": _write_parquet,
}


def export_dataset(ws: Workspace, fmt: str, out_dir: Path | None = None) -> dict[str, Any]:
    """Write the built dataset as ``fmt`` to ``<out_dir or exports/dataset>/<fmt>/``."""
    if fmt not in WRITERS:
        raise UserError(f"unknown dataset format {fmt!r} (choose {', '.join(FORMATS)})")
    splits: dict[str, list[dict[str, Any]]] = {}
    for split in SPLITS:
        path = ws.dataset_dir / f"{split}.jsonl"
        if path.is_file():
            splits[split] = list(read_jsonl(path))
    if not splits.get("train"):
        raise UserError("no dataset to export (run `assistant-builder dataset` first)")
    from assistant_builder.dataset.redact import redact_for_export

    redacted = sum(redact_for_export(ws, rows) for rows in splits.values())
    base = Path(out_dir) if out_dir is not None else ws.exports_dir / "dataset"
    target = base / fmt
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{fmt}.", suffix=".tmp"))
    try:
        problems = WRITERS[fmt](tmp, splits)
        if problems:
            raise UserError(f"{fmt} export failed validation ({len(problems)}): {problems[0]}")
        old = base / f".{fmt}.old"
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "format": fmt,
        "path": str(target),
        "examples": {s: len(r) for s, r in splits.items()},
        "files": sorted(p.name for p in target.iterdir()),
        "verified": True,
        "redacted_rows": redacted,
    }
