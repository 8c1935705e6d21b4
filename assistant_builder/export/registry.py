"""The Export stage: write artifacts to ``exports/<run>/<format>/``, atomically, with a manifest
of checksums, and verify each one by loading it with its real consumer.

An export is built in a temporary folder next to its destination and renamed into place only
after verification passed, so a failed export never leaves a half-written folder behind.

Formats (one module each, imported only when asked for): ``adapter`` (here), ``merged``
(export_merged), ``gguf`` (export_gguf), ``ollama`` (export_ollama), ``openai-dataset``
(export_dataset). Every exporter returns a dict that lands in the manifest; its ``usage`` entry
is the exact command that uses the artifact on its platform.
"""

from __future__ import annotations

import importlib
import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.locks import store_lock
from assistant_builder.runs import require_adapter
from assistant_builder.textsafe import printable, shell_quote
from assistant_builder.workspace import Workspace, atomic_write_json, sha256_file

if TYPE_CHECKING:
    from assistant_builder.models.engine import Answer, GenSettings

Exporter = Callable[[Workspace, Path, Path, OnEvent], dict[str, Any]]

# format → "module:function"; resolved lazily so that asking for one format never imports the
# others' heavy dependencies.
_EXPORTERS = {
    "adapter": "assistant_builder.export.registry:export_adapter",
    "merged": "assistant_builder.export.merged:export_merged",
    "gguf": "assistant_builder.export.gguf:export_gguf",
    "ollama": "assistant_builder.export.ollama:export_ollama",
    "openai-dataset": "assistant_builder.export.openai_dataset:export_openai_dataset",
}
FORMATS = tuple(_EXPORTERS)
VERIFY_QUESTIONS = 3
# Answers the exports are checked with. Greedy, no repetition penalty: every consumer
# (transformers, llama.cpp, Ollama) implements greedy decoding the same way, but their
# repetition penalties differ (llama.cpp only looks at the last 64 tokens), so with a penalty
# the answers could differ for reasons that have nothing to do with the artifact.
VERIFY_NEW_TOKENS = 64


def verify_settings() -> GenSettings:
    from assistant_builder.models.engine import GenSettings

    return GenSettings(max_new_tokens=VERIFY_NEW_TOKENS, repetition_penalty=1.0)


def write_manifest(folder: Path, info: dict[str, Any]) -> dict[str, Any]:
    files = {
        str(p.relative_to(folder)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
    manifest = {**info, "created": datetime.now().isoformat(timespec="seconds"), "files": files}
    atomic_write_json(folder / "manifest.json", manifest)
    return manifest


def check_manifest(folder: Path) -> list[str]:
    """Files whose checksum no longer matches the manifest (or that are missing)."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    bad = []
    for name, meta in manifest["files"].items():
        p = folder / name
        if not p.is_file() or sha256_file(p) != meta["sha256"]:
            bad.append(name)
    return bad


def trained_questions(run_dir: Path, n: int = VERIFY_QUESTIONS) -> list[str]:
    """The first ``n`` user questions the run trained on: the answers the fine-tune must keep."""
    from assistant_builder.dataset.conversations import read_turns

    path = run_dir / "data" / "train.jsonl"
    out = [t.question for t in read_turns(path, limit=n)]
    if not out:
        raise UserError(f"{path}: no trained questions to verify the export with")
    return out


def verify_questions(run_dir: Path) -> list[str]:
    """Trained questions (the fine-tune must keep them) plus a couple of held-out eval
    questions (the export must not only reproduce training data)."""
    from assistant_builder.dataset.conversations import read_turns

    held_out = read_turns(run_dir / "data" / "eval.jsonl", limit=2)
    return trained_questions(run_dir) + [t.question for t in held_out]


def run_info(run_dir: Path) -> dict[str, Any]:
    """run.json of the run in ``run_dir`` (kept for the serve and export call sites)."""
    from assistant_builder.runs import Run

    return Run(run_dir).info()


def reference_answers(
    ws: Workspace, run_dir: Path, questions: list[str], on_event: OnEvent = ignore
) -> list[Answer]:
    """What the trained model (base + adapter, in transformers) answers: the yardstick.

    Remembered per adapter, prompt and question list, so exporting several formats in one
    call generates the reference once."""
    from assistant_builder.models.engine import Engine, adapter_hash

    system = ws.load_settings().system_prompt
    settings = verify_settings()
    key = (str(run_dir), adapter_hash(run_dir / "adapter"), settings.key(), system, *questions)
    if key not in _REFERENCE:
        on_event(Progress("export", "answering with the trained model (reference)"))
        engine = Engine(run_info(run_dir)["base_model"], run_dir / "adapter")
        _REFERENCE.clear()  # one run at a time: do not pile up answers in a long session
        _REFERENCE[key] = engine.answer(
            questions, system_prompt=system, tuned=True, settings=settings
        )
    return list(_REFERENCE[key])


_REFERENCE: dict[tuple[str, ...], list[Answer]] = {}


def model_card(run_dir: Path, ws: Workspace) -> str:
    from assistant_builder.runs import Run

    run = Run(run_dir).info()
    metrics = Run(run_dir).metrics() or {}
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
        "",
        "Serve it with vLLM (LoRA serving; the base must be the same model):",
        "",
        "```sh",
        "vllm serve BASE_MODEL --enable-lora --lora-modules assistant=PATH_TO_THIS_FOLDER "
        "--max-lora-rank R",
        "```",
    ]
    return "\n".join(lines) + "\n"


# vLLM's LoRA loader reads exactly these two files at the top level of the folder and refuses
# adapters that train whole modules (modules_to_save) or use DoRA.
VLLM_FILES = ("adapter_config.json", "adapter_model.safetensors")


def vllm_layout_problems(folder: Path) -> list[str]:
    """Why vLLM's LoRA serving would refuse this adapter folder (empty list: it would load)."""
    problems = [f"missing {n}" for n in VLLM_FILES if not (folder / n).is_file()]
    if problems:
        return problems
    cfg = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    if cfg.get("peft_type") != "LORA":
        problems.append(f"peft_type is {cfg.get('peft_type')!r}, vLLM serves LORA only")
    if cfg.get("modules_to_save"):
        problems.append(f"modules_to_save={cfg['modules_to_save']} (vLLM ignores/refuses them)")
    if cfg.get("use_dora"):
        problems.append("DoRA adapters are not supported by vLLM")
    from safetensors import safe_open

    with safe_open(str(folder / "adapter_model.safetensors"), framework="pt") as f:
        names = list(f.keys())
    odd = [n for n in names if "lora_A" not in n and "lora_B" not in n]
    if odd:
        problems.append(f"non-LoRA tensors in the adapter: {odd[:3]}")
    if not names:
        problems.append("the adapter has no tensors")
    return problems


def export_adapter(ws: Workspace, run_dir: Path, tmp: Path, on_event: OnEvent) -> dict[str, Any]:
    src = run_dir / "adapter"
    for p in src.iterdir():
        if p.is_file():
            shutil.copy2(p, tmp / p.name)
    shutil.copy2(run_dir / "recipe.yaml", tmp / "recipe.yaml")
    (tmp / "README.md").write_text(model_card(run_dir, ws), encoding="utf-8")
    problems = vllm_layout_problems(tmp)
    if problems:
        raise UserError(f"the adapter is not in vLLM's LoRA layout: {'; '.join(problems)}")
    on_event(Progress("export", "verifying adapter with PEFT"))
    from assistant_builder.models.engine import Engine

    base = run_info(run_dir)["base_model"]
    questions = verify_questions(run_dir)
    system = ws.load_settings().system_prompt
    settings = verify_settings()
    exported = Engine(base, tmp).answer(
        questions, system_prompt=system, tuned=True, settings=settings
    )
    original = reference_answers(ws, run_dir, questions, on_event)
    ok = [a.text == b.text for a, b in zip(exported, original, strict=True)]
    if not all(ok):
        raise UserError("exported adapter does not answer like the trained run")
    rank = json.loads((tmp / "adapter_config.json").read_text())["r"]
    from assistant_builder.export.retrieval_bundle import bundle_index

    retrieval = bundle_index(run_dir, tmp)  # after the PEFT check: the index is not the model
    return {
        **({"retrieval": retrieval} if retrieval else {}),
        "verified": True,
        "checked_questions": len(questions),
        "base_model": base,
        "usage": f"vllm serve BASE_MODEL --enable-lora --lora-modules {run_dir.name}={{path}} "
        f"--max-lora-rank {max(16, rank)}",
    }


def describe(result: dict[str, Any]) -> list[str]:
    """Human lines (rich markup) for an export result: where, how it was verified, and the
    exact command to use each artifact."""
    from rich.markup import escape

    lines = []
    for fmt, info in result["exports"].items():
        lines.append(f"[green]✓[/] {fmt}: {escape(printable(info['path']))}")
        for q, v in (info.get("quant_types") or {}).items():
            if v.get("skipped"):
                lines.append(f"    {q}: [yellow]not built[/] ({v['skipped']})")
            elif v.get("passed") is None:
                lines.append(
                    f"    {q}: [yellow]not verified in llama.cpp[/] (pip install "
                    "'assistant-builder[gguf]' to check it)"
                )
            else:
                mark = "[green]passed[/]" if v["passed"] else "[red]FAILED, left out[/]"
                lines.append(
                    f"    {q}: {mark} in llama.cpp: {v['exact']}/{v['questions']} answers "
                    f"identical to the trained model, ROUGE-L {v['rouge_l']}, stopped on its "
                    f"own {v['stopped']}/{v['questions']}"
                )
        for w in info.get("warnings", []):
            lines.append(f"    [yellow]warning:[/] {escape(printable(w))}")
        if info.get("usage"):  # shell-quoted already: one line that pastes as it reads
            lines.append(f"    use it: {escape(info['usage'])}")
    return lines


def _resolve(fmt: str) -> Exporter:
    module, func = _EXPORTERS[fmt].split(":")
    exporter: Exporter = getattr(importlib.import_module(module), func)
    return exporter


def parse_formats(values: list[str]) -> list[str]:
    """``["adapter,merged", "gguf"]`` → ``["adapter", "merged", "gguf"]``, checked, deduplicated."""
    out: list[str] = []
    for part in values:
        for fmt in (f.strip() for f in part.split(",")):
            if not fmt:
                continue
            if fmt not in _EXPORTERS:
                raise UserError(f"unknown export format {fmt!r} (choose {', '.join(FORMATS)})")
            if fmt not in out:
                out.append(fmt)
    if not out:
        raise UserError(f"no export format given (choose {', '.join(FORMATS)})")
    return out


def export(
    ws: Workspace, run_id: str, formats: list[str], on_event: OnEvent = ignore
) -> dict[str, Any]:
    ws.require()
    formats = parse_formats(formats)
    run_dir = ws.run_dir(run_id)
    require_adapter(run_dir)
    # One export at a time per workspace: the folder renames below are read-modify-writes, and
    # holding the lock makes every hidden temporary folder a leftover of a killed export.
    with store_lock(ws.root, "exports", on_wait=lambda m: on_event(Progress("export", m))):
        clean_export_leftovers(ws)
        return _export_locked(ws, run_id, run_dir, formats, on_event)


def clean_export_leftovers(ws: Workspace) -> list[str]:
    """Remove the hidden temporary folders of exports that were killed (``exports/<run>/
    .<format>.*``); call it under the exports lock. Returns what was removed."""
    removed = []
    if ws.exports_dir.is_dir():
        for tmp in ws.exports_dir.glob("*/.*"):
            if tmp.is_dir() and tmp.name.split(".")[1] in _EXPORTERS:
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(str(tmp))
    return removed


def _export_locked(
    ws: Workspace, run_id: str, run_dir: Path, formats: list[str], on_event: OnEvent
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for fmt in formats:
        dest = ws.exports_dir / run_id / fmt
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{fmt}."))
        try:
            on_event(Progress("export", f"exporting {fmt}"))
            info = _resolve(fmt)(ws, run_dir, tmp, on_event)
            if "usage" in info:  # the command names the final folder, not the temporary one
                info["usage"] = info["usage"].replace("{path}", shell_quote(str(dest.absolute())))
            write_manifest(tmp, {"format": fmt, "run": run_id, **info})
            bad = check_manifest(tmp)
            if bad:  # a file changed between writing and the manifest: never ship that
                raise UserError(f"{fmt} export: checksums do not match for {', '.join(bad)}")
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
