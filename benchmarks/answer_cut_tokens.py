"""Tokens per epoch and the 15-minute plan for paraphrase rows cut after N answer tokens.

    python benchmarks/answer_cut_tokens.py --faq benchmarks/golden/tor_support_faq.md \\
        [--tokens 0,32,64,96] [--variants 3] [--speed 167]

Builds the dataset of one FAQ in a fresh workspace with the real CLI (init → ingest →
dataset), then counts its training split's tokens through the default model's chat template
for each ``paraphrase_answer_tokens`` value (the same count ``train`` prints and plans from)
and plans ``cpu-lora``'s budget at ``--speed`` tokens/s (167: this 2-core AVX2 machine quiet).
Tokenizer only: seconds, no training, deterministic.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def _cli(ws: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "assistant_builder", "--workspace", str(ws), "--json", *args]
    subprocess.run(cmd, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faq", required=True)
    p.add_argument("--tokens", default="0,32,64,96", help="paraphrase_answer_tokens values")
    p.add_argument("--variants", type=int, help="dataset --variants (default: the default)")
    p.add_argument("--speed", type=float, default=167.0, help="tokens/s to plan with")
    opts = p.parse_args(argv)

    from assistant_builder.models.loading import load_tokenizer
    from assistant_builder.train import long_rows
    from assistant_builder.train.budget import parse_duration, plan
    from assistant_builder.train.launch import read_conversations, to_prompt_completion
    from assistant_builder.train.recipe import load_recipe

    ws = Path(tempfile.mkdtemp(prefix="cut_tokens_"))
    _cli(ws, "init")
    _cli(ws, "ingest", str(Path(opts.faq).resolve()))
    _cli(ws, "dataset", *(["--variants", str(opts.variants)] if opts.variants else []))
    conversations = read_conversations(ws / "dataset" / "train.jsonl")
    recipe = load_recipe("cpu-lora")
    tok = load_tokenizer(recipe.base_model)
    budget = parse_duration(recipe.time_budget or "15m")
    print("| N | rows | tokens per epoch | epochs in 15 min | minutes at the speed |")
    print("|---|---|---|---|---|")
    for n in (int(x) for x in opts.tokens.split(",")):
        lengths = long_rows.row_lengths(tok, to_prompt_completion(conversations, n))
        est = plan(
            sum(lengths), len(lengths), recipe.epochs, (opts.speed, "given"), budget,
            strict=False, floor=recipe.time_budget_min_epochs,
        )  # fmt: skip
        print(
            f"| {n} | {len(lengths)} | {sum(lengths)} | {est.epochs:g} | {est.seconds / 60:.1f} |"
        )
        print(json.dumps({"answer_tokens": n, **est.to_json()}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
