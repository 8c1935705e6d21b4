"""Training data and a tiny randomly initialised Llama (hidden 64, 2 layers) with the default
model's tokenizer and chat template, shared by the training tests (the `tiny_model` fixture is
registered for tests/train/ by its conftest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.tiny_models import build_tiny_base

from assistant_builder.train.recipe import Recipe

SYSTEM = "You are the support assistant of Lumo lamps."


def conversations(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"How do I reset lamp model {i}?"},
                {"role": "assistant", "content": f"Hold the power button for {i % 7 + 3} seconds."},
            ],
            "meta": {"id": str(i)},
        }
        for i in range(offset, offset + n)
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny tied Llama (width 64) with the default tokenizer, plainly initialised."""
    out = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_base(out, width=64, tied=True, spread_head=False)
    return str(out)


def recipe(tiny: str, **kw: Any) -> Recipe:
    base: dict[str, Any] = dict(
        name="tiny",
        base_model=tiny,
        epochs=2,
        batch_size=4,
        max_seq_length=128,
        learning_rate=1e-3,
        warmup_ratio=0.0,
        lora_r=4,
        lora_alpha=8,
        lora_dropout=0.0,  # as the shipped cpu-lora recipe: LoRA layers take the fused path
        save_steps=1000,
        threads=1,
    )
    base.update(kw)
    return Recipe(**base)


def events(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines]


# -- the LoRA path through the child process -------------------------------------------------
