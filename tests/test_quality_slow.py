"""The answer-quality target (benchmarks/README.md) in small: the *default* journey (dataset
defaults, cpu-lora recipe, generation defaults) must teach SmolLM2-135M the starter FAQ,
verbatim and reworded, and the tuned model must stop on its own. Slow: it trains the real
default model on the CPU (a few minutes).

The golden set is benchmarks/golden/cloudnote.jsonl (data_templates/faq.md: the FAQ's own
questions plus rewordings written by hand); questions whose answer the dataset held out for its
eval split are left out, since the model never saw those answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant_builder.compare.golden import evaluate
from assistant_builder.dataset.build import BuildOptions, build_dataset
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.train.launch import train
from assistant_builder.train.recipe import load_recipe
from assistant_builder.workspace import Workspace

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "benchmarks" / "golden" / "cloudnote.jsonl"


def test_default_recipe_teaches_the_starter_faq(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.create()
    ingest_paths(ws, [ROOT / "data_templates" / "faq.md"])
    build_dataset(ws, BuildOptions())  # the defaults the CLI and the app use
    trained = {
        m["content"]
        for line in (ws.dataset_dir / "train.jsonl").read_text().splitlines()
        for m in json.loads(line)["messages"]
        if m["role"] == "assistant"
    }
    rows = [json.loads(x) for x in GOLDEN.read_text().splitlines() if x.strip()]
    golden = tmp_path / "golden.jsonl"
    kept = [r for r in rows if r["reference"] in trained]
    assert len(kept) >= len(rows) - 4, "the eval split should hold out at most one answer"
    golden.write_text("".join(json.dumps(r) + "\n" for r in kept))

    metrics = train(ws, load_recipe("cpu-lora"))
    assert metrics["status"] == "completed"

    s = evaluate(ws, golden)
    base, tuned = s["base"], s["tuned"]
    # The margins the quality target asks of the Homebrew FAQ; this FAQ is easier (short
    # answers, the references are the answers themselves), so they hold with room.
    assert tuned["verbatim"]["rouge_l"] >= base["verbatim"]["rouge_l"] + 0.15, s["gain"]
    assert tuned["reworded"]["rouge_l"] >= base["reworded"]["rouge_l"] + 0.10, s["gain"]
    assert tuned["all"]["stopped"] >= 0.9, "tuned answers must end on their own"
