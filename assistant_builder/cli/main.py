"""The command line: one command per stage, thin (parse → call core → print).

Contract (see DESIGN.md): every command takes ``--workspace DIR`` and ``--json``. With
``--json`` exactly one JSON object goes to stdout and human output to stderr. Exit status 0 on
success, 2 on bad input with a one-line reason, never a traceback for a user mistake.
The handlers live in commands.py and import heavy libraries inside, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from assistant_builder import __version__
from assistant_builder.cli.commands import (
    cmd_compare,
    cmd_dataset,
    cmd_doctor,
    cmd_eval,
    cmd_export,
    cmd_ingest,
    cmd_init,
    cmd_rate,
    cmd_recipes,
    cmd_serve,
    cmd_train,
    cmd_tui,
)
from assistant_builder.errors import UserError
from assistant_builder.workspace import ENV_WORKSPACE, default_workspace_path

Handler = Callable[[argparse.Namespace], "dict[str, Any] | None"]


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--workspace",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help=f"workspace folder (default ./assistant-workspace or ${ENV_WORKSPACE})",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print exactly one JSON object on stdout (human output goes to stderr)",
    )
    p = argparse.ArgumentParser(
        prog="assistant-builder",
        description="Turn FAQ pages and documents into a fine-tuned domain chatbot. "
        "With no command, opens the terminal app on the workspace.",
        parents=[common],
    )
    p.add_argument("--version", action="version", version=f"assistant-builder {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help, parents=[common])
        sp.set_defaults(handler=handler)
        return sp

    sp = add("init", cmd_init, "create a workspace")
    sp.add_argument("--demo", action="store_true", help="add starter data from data_templates")

    sp = add("ingest", cmd_ingest, "ingest FAQ files and documents (files or folders)")
    sp.add_argument("paths", nargs="+", metavar="PATH")

    sp = add("dataset", cmd_dataset, "build chat conversations, dedup, split train/eval")
    sp.add_argument(
        "--eval-fraction",
        type=float,
        default=None,
        help="share of answer groups held out for eval; the model never learns those answers "
        "(default 0: one group, for the eval loss and compare)",
    )
    sp.add_argument("--seed", type=int, default=0, help="seed of the train/eval split")
    sp.add_argument(
        "--questions",
        choices=("template", "model", "teacher"),
        default="template",
        help="who writes questions for prose sections: heading templates (offline, default), "
        "the local base model, or a teacher endpoint",
    )
    sp.add_argument(
        "--variants",
        type=int,
        default=3,
        metavar="N",
        help="extra phrasings per answer: the source's variants, then paraphrases (default 3)",
    )
    sp.add_argument(
        "--out-of-scope",
        type=int,
        default=0,
        metavar="N",
        help="add N off-topic questions answered with the out-of-scope message (default 0)",
    )
    sp.add_argument("--system-prompt", metavar="TEXT", help="save the workspace system prompt")
    sp.add_argument(
        "--out-of-scope-message", metavar="TEXT", help="save the refusal/hand-off message"
    )
    sp.add_argument(
        "--teacher-url",
        metavar="URL",
        help="OpenAI-compatible base URL (or $ASSISTANT_BUILDER_TEACHER_URL); the key is read "
        "from $ASSISTANT_BUILDER_TEACHER_KEY only",
    )
    sp.add_argument("--teacher-model", metavar="NAME", help="or $ASSISTANT_BUILDER_TEACHER_MODEL")
    sp.add_argument(
        "--export",
        action="append",
        metavar="FORMAT",
        help="also write the dataset as openai, sharegpt, alpaca, hf or parquet (repeatable)",
    )
    sp.add_argument("--out", metavar="DIR", help="export folder (default exports/dataset)")

    sp = add("train", cmd_train, "fine-tune the base model with a recipe (LoRA/QLoRA)")
    sp.add_argument(
        "--recipe",
        metavar="NAME|FILE",
        help="recipe name or YAML file (default: the workspace's, cpu-lora)",
    )
    sp.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe field, e.g. --set epochs=2 (repeatable)",
    )
    sp.add_argument("--resume", metavar="RUN", help="continue run RUN from its last checkpoint")

    sp = add("compare", cmd_compare, "answer questions as base and tuned, score against references")
    sp.add_argument("--run", metavar="ID", help="run to compare (default: the latest)")
    sp.add_argument("--against", metavar="RUN", help="compare with another run (default: base)")
    sp.add_argument(
        "--questions", metavar="FILE", help="JSONL/CSV: question[, reference, source, paraphrase]"
    )
    sp.add_argument("--ask", action="append", metavar="QUESTION", help="a question (repeatable)")
    sp.add_argument(
        "--max-new-tokens", type=int, help="answer budget (default: from the reference lengths)"
    )
    sp.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    sp.add_argument("--temperature", type=float, default=0.7, help="with --sample")
    sp.add_argument("--seed", type=int, default=0, help="with --sample")
    sp.add_argument("--no-pairs", action="store_true", help="do not add blind pairs to rate")
    sp.add_argument("--judge", action="store_true", help="also ask an LLM judge (OpenAI API)")
    sp.add_argument("--judge-url", help="judge base URL (or $ASSISTANT_BUILDER_JUDGE_URL)")
    sp.add_argument("--judge-model", help="judge model (or $ASSISTANT_BUILDER_JUDGE_MODEL)")
    sp.add_argument("--judge-key", help="API key (better: $ASSISTANT_BUILDER_JUDGE_KEY)")

    sp = add("rate", cmd_rate, "rate answer pairs blind in the terminal; export, verdict")
    sp.add_argument("--rater", help="your name (default: $USER)")
    sp.add_argument("--limit", type=int, help="stop after this many ratings")
    sp.add_argument("--export", metavar="FILE", help="write all ratings to FILE.csv or .jsonl")
    sp.add_argument("--verdict", action="store_true", help="win/tie/loss with 95%% CIs")
    sp.add_argument("--model", help="with --verdict: the candidate (run id; default: latest)")
    sp.add_argument("--vs", help="with --verdict: the baseline (default: base)")
    sp.add_argument("--to-dataset", action="store_true", help="ratings → dataset/feedback.jsonl")
    sp.add_argument(
        "--to-preferences", action="store_true", help="ratings → dataset/preferences.jsonl (DPO)"
    )
    sp.add_argument(
        "--min-score", type=int, default=4, help="--to-dataset: least score of a kept answer"
    )

    sp = add("eval", cmd_eval, "score base and tuned on a golden file, verbatim vs reworded")
    sp.add_argument(
        "golden",
        metavar="GOLDEN.jsonl",
        help="JSONL/CSV lines: question, reference, optional paraphrase: true",
    )
    sp.add_argument("--run", metavar="ID", help="run to evaluate (default: the latest)")
    sp.add_argument("--against", metavar="RUN", help="a second run: per-question differences")
    sp.add_argument(
        "--details", action="store_true", help="per-question table (and rows in --json)"
    )
    sp.add_argument(
        "--max-new-tokens", type=int, help="answer budget (default: from the training answers)"
    )

    sp = add("export", cmd_export, "export a run: adapter, merged, gguf, ollama, openai-dataset")
    sp.add_argument("--run", metavar="ID", help="run to export (default: the latest)")
    sp.add_argument(
        "--format",
        action="append",
        required=True,
        metavar="FMT",
        help="format(s), repeatable or comma-separated: adapter (PEFT folder + model card), "
        "merged (full-precision safetensors), gguf (f16 and q8_0 for llama.cpp), ollama "
        "(GGUF + Modelfile), openai-dataset (chat fine-tuning JSONL); each is verified after "
        "writing; each folder exports/<run>/<format>/ holds a manifest.json with checksums",
    )

    sp = add("serve", cmd_serve, "serve a run's tuned model as an OpenAI-compatible API")
    sp.add_argument("--run", metavar="ID", help="run to serve (default: the latest)")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sp.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    sp.add_argument("--api-key", metavar="KEY", help="require 'Authorization: Bearer KEY'")

    sp = add("recipes", cmd_recipes, "list, show or validate training recipes")
    sp.add_argument("action", nargs="?", default="list", choices=["list", "show", "validate"])
    sp.add_argument("name", nargs="?", metavar="NAME|FILE")
    sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    add("doctor", cmd_doctor, "what this machine can do (CUDA, bitsandbytes, default model)")
    return p


def quiet_libraries() -> None:
    """Keep library chatter (weight-loading bars, deprecation notes) out of the user's terminal;
    the environment reaches the training child process too."""
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    import warnings

    warnings.filterwarnings("ignore")


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.workspace = getattr(args, "workspace", None) or str(default_workspace_path())
    args.json = getattr(args, "json", False)
    handler: Handler | None = getattr(args, "handler", None)
    try:
        if handler is None:
            cmd_tui(args)
            return 0
        result = handler(args)
    except UserError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if args.json:
            print(json.dumps({"error": msg}))
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result if result is not None else {}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
