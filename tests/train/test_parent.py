"""The parent of ``train --from RUN``: a completed run with a whole adapter, of the same base
model and adapter shape; every refusal says what to do. Run folders are written by hand here
(the checks read files only); test_update.py trains real ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant_builder.errors import UserError
from assistant_builder.runs import mark_adapter_complete
from assistant_builder.train.parent import resolve_parent
from assistant_builder.train.recipe import Recipe


def recipe(**kw: Any) -> Recipe:
    return Recipe(**{"name": "cpu-lora", "base_model": "default", "lora_r": 16, **kw})


def make_run(
    ws: Any,
    name: str = "r1",
    status: str = "completed",
    adapter: bool = True,
    mode: str = "lora",
    **kw: Any,
) -> Path:
    d = ws.runs_dir / name
    d.mkdir(parents=True)
    r = recipe(**kw)
    (d / "recipe.yaml").write_text(yaml.safe_dump(r.model_dump()), encoding="utf-8")
    (d / "run.json").write_text(json.dumps({"run": name, "base_model": r.base_model}))
    (d / "metrics.json").write_text(json.dumps({"status": status, "mode": mode}))
    if adapter:
        (d / "adapter").mkdir()
        (d / "adapter" / "adapter_config.json").write_text("{}")
        mark_adapter_complete(d / "adapter")
    return d


def test_a_completed_run_of_the_same_family_is_the_parent(workspace: Any) -> None:
    d = make_run(workspace)
    parent = resolve_parent(workspace, "r1", recipe(epochs=1, learning_rate=1e-4))
    assert parent == {
        "run": "r1",
        "adapter": str((d / "adapter").resolve()),
        "base_model": "default",
        "recipe": "cpu-lora",
    }
    assert Path(parent["adapter"]).is_absolute()


@pytest.mark.parametrize(
    ("setup", "use", "message"),
    [
        (
            {},
            {"base_model": "HuggingFaceTB/SmolLM2-360M-Instruct"},
            "trained on base model "
            "'default'.*--set base_model=default or train a full run without --from",
        ),
        ({}, {"lora_r": 8}, r"another shape.*lora_r 16 vs 8.*--set lora_r=16"),
        ({}, {"target_modules": ["q_proj", "v_proj"]}, "another shape.*target_modules"),
        ({"mode": "qlora"}, {}, "is a qlora run.*would train lora.*--set mode=qlora"),
    ],
)
def test_another_family_is_refused(
    workspace: Any, setup: dict[str, Any], use: dict[str, Any], message: str
) -> None:
    make_run(workspace, **setup)
    with pytest.raises(UserError, match=message):
        resolve_parent(workspace, "r1", recipe(**use))


def test_unknown_and_unfinished_runs_are_refused(workspace: Any) -> None:
    with pytest.raises(UserError, match=r"--from: no run 'nope'.*train a full run first"):
        resolve_parent(workspace, "nope", recipe())
    make_run(workspace, "good")
    with pytest.raises(UserError, match="pick one of: good"):
        resolve_parent(workspace, "nope", recipe())
    with pytest.raises(UserError, match="not a run id"):
        resolve_parent(workspace, "../x", recipe())
    make_run(workspace, "cut", adapter=False)
    with pytest.raises(UserError, match=r"cannot be a parent: it has no adapter.*--resume cut"):
        resolve_parent(workspace, "cut", recipe())
    make_run(workspace, "stopped", status="cancelled")
    with pytest.raises(UserError, match=r"is cancelled, not completed.*--resume stopped"):
        resolve_parent(workspace, "stopped", recipe())
