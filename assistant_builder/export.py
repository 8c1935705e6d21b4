"""The Export stage: write artifacts to ``exports/<run>/<format>/``, atomically, with a manifest
of checksums, and verify each one by loading it with its real consumer.

An export is built in a temporary folder next to its destination and renamed into place only
after verification passed, so a failed export never leaves a half-written folder behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.workspace import Workspace, atomic_write_json, sha256_file

FORMATS = ("adapter",)


def write_manifest(folder: Path, info: dict[str, Any]) -> dict[str, Any]:
    files = {
        str(p.relative_to(folder)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
    manifest = {**info, "created": datetime.now().isoformat(timespec="seconds"), "files": files}
    atomic_write_json(folder / "manifest.json", manifest)
    return manifest


def _trained_questions(run_dir: Path, n: int = 2) -> list[str]:
    path = run_dir / "data" / "train.jsonl"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines()[:n]:
        msgs = json.loads(line)["messages"]
        out.append(next(m["content"] for m in msgs if m["role"] == "user"))
    return out


def model_card(run_dir: Path, ws: Workspace) -> str:
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    report_path = ws.dataset_dir / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    lines = [
        "---",
        "library_name: peft",
        f"base_model: {run['base_model']}",
        "tags: [assistant-builder, lora, sft]",
        "---",
        f"# {run['run']}",
        "",
        "A LoRA adapter trained with assistant-builder on a support team's FAQ and documents.",
        "",
        f"- Base model: `{run['base_model']}`",
        f"- Recipe: `{run['recipe']}` (resolved copy: recipe.yaml)",
        f"- Dataset sha256: `{run['dataset_sha256']}`",
        f"- Dataset: {report.get('train', '?')} train / {report.get('eval', '?')} eval "
        f"conversations from {report.get('sources', '?')} source files",
        f"- Train loss: {metrics.get('train_loss')}, eval loss: {metrics.get('eval_loss')}",
        f"- System prompt: {ws.load_settings().system_prompt!r}",
        "",
        "Load it with PEFT:",
        "",
        "```python",
        "from peft import AutoPeftModelForCausalLM",
        "model = AutoPeftModelForCausalLM.from_pretrained('PATH_TO_THIS_FOLDER')",
        "```",
    ]
    return "\n".join(lines) + "\n"


def export_adapter(ws: Workspace, run_dir: Path, tmp: Path, on_event: OnEvent) -> dict[str, Any]:
    src = run_dir / "adapter"
    for p in src.iterdir():
        if p.is_file():
            shutil.copy2(p, tmp / p.name)
    shutil.copy2(run_dir / "recipe.yaml", tmp / "recipe.yaml")
    (tmp / "README.md").write_text(model_card(run_dir, ws), encoding="utf-8")
    on_event(Progress("export", "verifying adapter with PEFT"))
    from assistant_builder.compare import run_base_model
    from assistant_builder.generate import Engine, GenSettings

    base = run_base_model(run_dir)
    questions = _trained_questions(run_dir)
    settings = GenSettings(max_new_tokens=48)
    system = ws.load_settings().system_prompt
    exported = Engine(base, tmp).answer(questions, system_prompt=system, tuned=True, settings=settings)
    original = Engine(base, src).answer(questions, system_prompt=system, tuned=True, settings=settings)
    ok = [a.text == b.text for a, b in zip(exported, original, strict=True)]
    if not all(ok):
        raise UserError("exported adapter does not answer like the trained run")
    return {"verified": True, "checked_questions": len(questions)}


EXPORTERS: dict[str, Callable[[Workspace, Path, Path, OnEvent], dict[str, Any]]] = {
    "adapter": export_adapter,
}


def export(
    ws: Workspace, run_id: str, formats: list[str], on_event: OnEvent = ignore
) -> dict[str, Any]:
    ws.require()
    run_dir = ws.run_dir(run_id)
    if not (run_dir / "adapter").is_dir():
        raise UserError(f"run {run_id} has no adapter (did it finish?)")
    results: dict[str, Any] = {}
    for fmt in formats:
        if fmt not in EXPORTERS:
            raise UserError(f"unknown export format {fmt!r} (choose {', '.join(EXPORTERS)})")
        dest = ws.exports_dir / run_id / fmt
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{fmt}."))
        try:
            on_event(Progress("export", f"exporting {fmt}"))
            info = EXPORTERS[fmt](ws, run_dir, tmp, on_event)
            write_manifest(tmp, {"format": fmt, "run": run_id, **info})
            if dest.exists():
                # Keep the previous export instead of silently overwriting it.
                stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
                dest.rename(dest.with_name(f"{fmt}.{stamp}"))
            tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        results[fmt] = {"path": str(dest), **info}
    return {"run": run_id, "exports": results}
