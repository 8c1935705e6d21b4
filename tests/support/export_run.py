"""A tiny trained run for export and serve tests: a random 2-layer Llama (hidden 64) with the
default model's real tokenizer and chat template, a random LoRA adapter whose B matrices are
non-zero (so merged weights differ from the base), and a run folder shaped like train's.

Imported by the other test_export*/test_serve* files; building it takes a few seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import tiny_models

QUESTIONS = [
    "How do I reset my password?",
    "Can I change my delivery address?",
    "What payment methods do you accept?",
    "Do you ship abroad?",
]


def build_tiny_base(folder: Path) -> Path:
    """The export tests' base: wider (64) and tied like SmolLM2, with large weights, so the
    logits are peaked and greedy decoding is decisive: a half-precision copy picks the same
    tokens (near-ties would make every test flaky)."""
    return tiny_models.build_tiny_base(
        folder,
        width=64,
        tied=True,
        spread_head=False,
        rms_norm_eps=1e-5,
        initializer_range=0.5,
    )


def build_tiny_adapter(base: Path, folder: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from assistant_builder.models.loading import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    cfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"]
    )
    peft_model = get_peft_model(model, cfg)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:  # PEFT initialises B to zero: make the adapter do something
                p.normal_(0, 0.5)
    peft_model.save_pretrained(str(folder))
    load_tokenizer(str(base)).save_pretrained(str(folder))
    return folder


def make_run(ws_root: Path, base: Path, adapter_src: Path, run_id: str = "tiny-run") -> str:
    """A workspace holding one finished run of the tiny model, as train leaves it."""
    import shutil

    from assistant_builder.workspace import Workspace

    ws = Workspace(ws_root)
    ws.create()
    run_dir = ws.runs_dir / run_id
    (run_dir / "data").mkdir(parents=True)
    shutil.copytree(adapter_src, run_dir / "adapter")
    rows = [
        {
            "messages": [
                {"role": "system", "content": ws.load_settings().system_prompt},
                {"role": "user", "content": q},
                {"role": "assistant", "content": f"Answer {i}: see the help centre."},
            ],
            "meta": {"source": "faq.md", "lines": [i, i + 1]},
        }
        for i, q in enumerate(QUESTIONS)
    ]
    for split, part in (("train", rows[:3]), ("eval", rows[3:])):
        text = "".join(json.dumps(r) + "\n" for r in part)
        (run_dir / "data" / f"{split}.jsonl").write_text(text)
        (ws.dataset_dir / f"{split}.jsonl").write_text(text)
    (run_dir / "recipe.yaml").write_text("name: tiny\n")
    (run_dir / "run.json").write_text(
        json.dumps(
            {"run": run_id, "recipe": "tiny", "base_model": str(base), "dataset_sha256": "0" * 64}
        )
    )
    (run_dir / "metrics.json").write_text(json.dumps({"train_loss": 1.0, "eval_loss": 1.5}))
    return run_id


@pytest.fixture(scope="session")
def tiny_base_and_adapter(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny")
    base = build_tiny_base(root / "base")
    adapter = build_tiny_adapter(base, root / "adapter")
    return base, adapter


@pytest.fixture
def tiny_run(tiny_base_and_adapter: tuple[Path, Path], tmp_path: Path):
    from assistant_builder.workspace import Workspace

    base, adapter = tiny_base_and_adapter
    run_id = make_run(tmp_path / "ws", base, adapter)
    return Workspace(tmp_path / "ws"), run_id


@pytest.fixture(scope="session")
def trained_default_run(tmp_path_factory: pytest.TempPathFactory):
    """A real run of the default model, trained briefly through the CLI (slow tests only)."""
    from support.cli import run_cli_json

    from assistant_builder.workspace import Workspace

    ws = tmp_path_factory.mktemp("trained") / "ws"

    def ab(*args: str) -> dict:
        return run_cli_json(ws, *args, timeout=1800)

    ab("init", "--demo")
    ab("ingest", str(ws / "demo-data"))
    ab("dataset")
    m = ab(
        "train",
        "--set",
        "max_steps=12",
        "--set",
        "learning_rate=0.002",
        "--set",
        "batch_size=4",
        "--set",
        "eval_each_epoch=false",
    )
    return Workspace(ws), m["run"]
