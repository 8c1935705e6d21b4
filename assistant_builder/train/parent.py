"""A run that starts from another run's adapter (``train --from RUN``): the parent, checked.

An update after an FAQ edit and preference training both continue from a finished run's LoRA
adapter instead of a fresh one. That only makes sense when the new run trains the same base
model with an adapter of the same shape: the adapter's matrices are sized by the base model's
layers and the recipe's rank and target modules, and its scale by alpha / rank. A 4-bit QLoRA
adapter learned corrections to a quantised base; a plain LoRA run on the full-precision base
would start from the wrong place. So those are refused here, with what to do instead, before
a run folder exists. The new run's ``run.json`` records the result as ``"parent"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.runs import Run, adapter_problem, open_run
from assistant_builder.train.recipe import Recipe
from assistant_builder.workspace import Workspace

# Recipe keys that fix the adapter's shape and scale: a parent must agree on all of them.
SHAPE_KEYS = ("lora_r", "lora_alpha", "target_modules")


def _same_model(a: str, b: str) -> bool:
    if a.strip() == b.strip():
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.is_dir() and pb.is_dir() and pa.resolve() == pb.resolve()


def _targets(value: Any) -> Any:
    return sorted(value) if isinstance(value, list) else value


def _parent_recipe(run: Run) -> Recipe:
    from assistant_builder.train.recipe import load_recipe

    path = run.dir / "recipe.yaml"
    if not path.is_file():
        raise UserError(f"run {run.id} has no recipe.yaml; pick another run for --from")
    return load_recipe(str(path))


def _parent_mode(run: Run) -> str:
    """The mode the parent actually trained in (metrics.json), 'lora' or 'qlora'."""
    metrics = run.metrics() or {}
    return str(metrics.get("mode", "lora"))


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def check_complete(run: Run) -> None:
    """A UserError unless ``run`` finished and wrote its whole adapter."""
    problem = adapter_problem(run.adapter_dir)
    if problem:
        raise UserError(
            f"run {run.id} cannot be a parent: {problem}; finish it "
            f"(assistant-builder train --resume {run.id}) or pick a completed run for --from"
        )
    metrics = run.metrics()
    if metrics is None or metrics.get("status") != "completed":
        status = (metrics or {}).get("status", "unfinished")
        raise UserError(
            f"run {run.id} is {status}, not completed; resume it "
            f"(assistant-builder train --resume {run.id}) or pick a completed run for --from"
        )


def check_family(run: Run, parent: Recipe, recipe: Recipe, cuda: bool | None = None) -> None:
    """A UserError unless ``recipe`` trains an adapter of ``parent``'s shape on its base."""
    from assistant_builder.train.launch import resolve_mode

    run_base = run.base_model()
    if not _same_model(run_base, recipe.base_model):
        raise UserError(
            f"run {run.id} was trained on base model {run_base!r}, this recipe uses "
            f"{recipe.base_model!r}: an adapter only fits the model it was trained on; "
            f"use --set base_model={run_base} or train a full run without --from"
        )
    differ = [
        f"{k} {getattr(parent, k)!r} vs {getattr(recipe, k)!r}"
        for k in SHAPE_KEYS
        if _targets(getattr(parent, k)) != _targets(getattr(recipe, k))
    ]
    if differ:
        sets = " ".join(f"--set {k}={_yaml(getattr(parent, k))}" for k in SHAPE_KEYS)
        raise UserError(
            f"run {run.id}'s adapter has another shape than this recipe's ({'; '.join(differ)}): "
            f"use its recipe values ({sets}) or train a full run without --from"
        )
    mode, _ = resolve_mode(recipe, _cuda() if cuda is None else cuda)
    was = _parent_mode(run)
    if mode != was:
        raise UserError(
            f"run {run.id} is a {was} run (recipe {parent.name}), this one would train {mode}: "
            f"a {was} adapter does not carry over to {mode}; use --set mode={was} "
            f"(or --recipe {parent.name}) or train a full run without --from"
        )


def _yaml(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def resolve_parent(ws: Workspace, run_id: str, recipe: Recipe) -> dict[str, Any]:
    """The ``"parent"`` entry of a run that starts from run ``run_id``'s adapter:
    ``{"run", "adapter" (absolute path), "base_model", "recipe"}``; a UserError that says what
    to do when the run is unknown, unfinished, or of another base model or adapter shape."""
    try:
        run = open_run(ws.runs_dir, run_id)
    except UserError as e:
        runs = [r for r in ws.list_runs() if adapter_problem(ws.runs_dir / r / "adapter") is None]
        pick = f"pick one of: {', '.join(runs[-5:])}" if runs else "train a full run first"
        raise UserError(f"--from: {e}; {pick}") from None
    check_complete(run)
    parent = _parent_recipe(run)
    check_family(run, parent, recipe)
    return {
        "run": run.id,
        "adapter": str(run.adapter_dir.resolve()),
        "base_model": run.base_model(),
        "recipe": parent.name,
    }
