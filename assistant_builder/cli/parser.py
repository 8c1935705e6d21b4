"""The argument parser: one ``add_<command>`` function per command, so a new option touches
only its own command's function. Defaults and choices that the core also knows are read from
the core's constants (those modules import nothing heavy), so the two cannot drift apart."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from assistant_builder import __version__
from assistant_builder.cli.check import cmd_check
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
    cmd_train,
)
from assistant_builder.cli.promote import cmd_promote
from assistant_builder.cli.serve_cmds import add_serve_arguments, cmd_conversations, cmd_serve
from assistant_builder.cli.state import cmd_state
from assistant_builder.dataset.formats import FORMATS as DATASET_FORMATS
from assistant_builder.dataset.heading_questions import STRATEGIES
from assistant_builder.dataset.paraphrase import DEFAULT_VARIANTS
from assistant_builder.export.registry import FORMATS as EXPORT_FORMATS
from assistant_builder.workspace import ENV_WORKSPACE

Handler = Callable[[argparse.Namespace], "dict[str, Any] | None"]
if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def _common() -> argparse.ArgumentParser:
    """The options every command takes; SUPPRESS lets them stand before or after the command."""
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
    return common


def _or_list(items: tuple[str, ...]) -> str:
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)


def _add(sub: Subparsers, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
    sp = sub.add_parser(name, help=help, description=help, parents=[_common()])
    sp.set_defaults(handler=handler)
    return sp


def add_init(sub: Subparsers) -> None:
    sp = _add(sub, "init", cmd_init, "create a workspace")
    sp.add_argument("--demo", action="store_true", help="add starter data from data_templates")


def add_ingest(sub: Subparsers) -> None:
    sp = _add(sub, "ingest", cmd_ingest, "ingest FAQ files and documents (files or folders)")
    sp.add_argument("paths", nargs="+", metavar="PATH")


def add_dataset(sub: Subparsers) -> None:
    sp = _add(sub, "dataset", cmd_dataset, "build chat conversations, dedup, split train/eval")
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
        choices=STRATEGIES,
        default=STRATEGIES[0],
        help="who writes questions for prose sections: heading templates (offline, default), "
        "the local base model, or a teacher endpoint",
    )
    sp.add_argument(
        "--variants",
        type=int,
        default=DEFAULT_VARIANTS,
        metavar="N",
        help="extra phrasings per answer: the source's variants, then paraphrases "
        f"(default {DEFAULT_VARIANTS})",
    )
    sp.add_argument(
        "--paraphrases",
        choices=("semantic", "rules"),
        default="semantic",
        help="semantic: other words (WordNet, when installed) and sentence forms (default); "
        "rules: the question's own words in other shapes",
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
        help=f"also write the dataset as {_or_list(DATASET_FORMATS)} (repeatable)",
    )
    sp.add_argument("--out", metavar="DIR", help="export folder (default exports/dataset)")
    sp.add_argument(
        "--allow",
        action="append",
        metavar="TEXT",
        help="keep TEXT unredacted from now on (the team's own address or phone, '@domain', or "
        "a false positive from dataset/redactions.json); saved in the workspace, repeatable",
    )
    sp.add_argument(
        "--no-redact",
        action="store_true",
        help="this build only: keep personal data and secrets (redaction is on by default)",
    )


def add_train(sub: Subparsers) -> None:
    sp = _add(sub, "train", cmd_train, "fine-tune the base model with a recipe (LoRA/QLoRA)")
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
    sp.add_argument(
        "--from",
        dest="from_run",
        metavar="RUN",
        help="update: start from run RUN's adapter and train on the rows that changed since "
        "it, plus a replay share of the unchanged ones (recipe: replay_share, update_epochs)",
    )
    sp.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="training processes on this machine, one per GPU (or per CPU core), launched "
        "with accelerate; the same as --set processes=N",
    )
    sp.add_argument("--nodes", type=int, metavar="M", help="machines taking part (--set nodes=M)")
    sp.add_argument(
        "--main-address", metavar="HOST:PORT", help="machine 0, reachable from every machine"
    )
    sp.add_argument(
        "--time-budget",
        metavar="DURATION",
        help="e.g. 15m or 1h: fit the epochs to this machine's measured speed, stop at the "
        "budget (the cpu-lora recipe's own: 15m, at least one epoch); none: no budget",
    )


def add_compare(sub: Subparsers) -> None:
    sp = _add(
        sub, "compare", cmd_compare, "answer questions as base and tuned, score against references"
    )
    sp.add_argument("--run", metavar="ID", help="run to compare (default: the latest)")
    sp.add_argument("--against", metavar="RUN", help="compare with another run (default: base)")
    sp.add_argument(
        "--questions", metavar="FILE", help="JSONL/CSV: question[, reference, source, paraphrase]"
    )
    sp.add_argument("--ask", action="append", metavar="QUESTION", help="a question (repeatable)")
    sp.add_argument(
        "--max-new-tokens",
        type=int,
        help="answer budget (default: from references and trained answers)",
    )
    sp.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    sp.add_argument("--temperature", type=float, default=0.7, help="with --sample")
    sp.add_argument("--seed", type=int, default=0, help="with --sample")
    sp.add_argument("--no-pairs", action="store_true", help="do not add blind pairs to rate")
    sp.add_argument(
        "--systems",
        metavar="LIST",
        help="score these systems instead (base, tuned, base+retrieval, tuned+retrieval) on "
        "questions with references, shaped like `eval --json`; no blind pairs",
    )
    sp.add_argument("--judge", action="store_true", help="also ask an LLM judge (OpenAI API)")
    sp.add_argument("--judge-url", help="judge base URL (or $ASSISTANT_BUILDER_JUDGE_URL)")
    sp.add_argument("--judge-model", help="judge model (or $ASSISTANT_BUILDER_JUDGE_MODEL)")
    sp.add_argument("--judge-key", help="API key (better: $ASSISTANT_BUILDER_JUDGE_KEY)")


def add_rate(sub: Subparsers) -> None:
    sp = _add(sub, "rate", cmd_rate, "rate answer pairs blind in the terminal; export, verdict")
    sp.add_argument("--rater", help="your name (default: $USER)")
    sp.add_argument("--limit", type=int, help="stop after this many ratings")
    sp.add_argument("--export", metavar="FILE", help="write all ratings to FILE.csv or .jsonl")
    sp.add_argument("--verdict", action="store_true", help="win/tie/loss with 95%% CIs")
    sp.add_argument("--model", help="with --verdict: the candidate (run id; default: latest)")
    sp.add_argument("--vs", help="with --verdict: the baseline (default: base)")
    sp.add_argument("--to-dataset", action="store_true", help="ratings → dataset/feedback.jsonl")
    sp.add_argument(
        "--to-preferences",
        action="store_true",
        help="ratings and served thumbs-down corrections (redacted) → dataset/preferences.jsonl "
        "(DPO)",
    )
    sp.add_argument(
        "--min-score", type=int, default=4, help="--to-dataset: least score of a kept answer"
    )


def add_promote(sub: Subparsers) -> None:
    sp = _add(
        sub,
        "promote",
        cmd_promote,
        "turn a rated pair, a served reply or a question + corrected answer into a training row "
        "or golden question",
    )
    sp.add_argument("--pair", type=int, metavar="ID", help="a blind pair (its rated answer)")
    sp.add_argument(
        "--conversation",
        metavar="ID",
        help="a served conversation (`conversations` lists them): its thumbs-down correction, "
        "else its thumbs-up reply, else --answer; redacted like the dataset",
    )
    sp.add_argument(
        "--turn", type=int, metavar="N", help="with --conversation: the turn (default: last rated)"
    )
    sp.add_argument("--question", metavar="TEXT", help="a free question (needs --answer)")
    sp.add_argument("--answer", metavar="TEXT", help="the corrected answer")
    sp.add_argument("--to", choices=("dataset", "golden"), default="dataset")
    sp.add_argument("--reviewer", help="your name (default: $USER)")


def add_eval(sub: Subparsers) -> None:
    sp = _add(sub, "eval", cmd_eval, "score base and tuned on a golden file, verbatim vs reworded")
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
        "--max-new-tokens",
        type=int,
        help="answer budget (default: from references and trained answers)",
    )
    sp.add_argument(
        "--systems",
        metavar="LIST",
        help="comma-separated systems to score: base, tuned, base+retrieval, tuned+retrieval "
        "(default base,tuned; +retrieval answers from the index's top-k passages)",
    )


def add_export(sub: Subparsers) -> None:
    sp = _add(sub, "export", cmd_export, f"export a run: {', '.join(EXPORT_FORMATS)}")
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
    sp.add_argument(
        "--force", action="store_true", help="export even if the run fails the release check"
    )


def add_check(sub: Subparsers) -> None:
    sp = _add(
        sub,
        "check",
        cmd_check,
        "release check: golden regressions vs the last export, out-of-scope and false refusals",
    )
    sp.add_argument("run", nargs="?", metavar="RUN", help="run to check (default: the latest)")
    sp.add_argument(
        "--golden",
        metavar="FILE",
        help="golden JSONL/CSV (default: checks/golden.jsonl, else the run's own data)",
    )
    sp.add_argument("--against", metavar="RUN", help="baseline run (default: the last exported)")
    sp.add_argument(
        "--min-out-of-scope",
        type=float,
        default=0.9,
        metavar="RATE",
        help="least share of off-domain probes answered with the out-of-scope message",
    )
    sp.add_argument(
        "--max-false-refusals",
        type=float,
        default=0.05,
        metavar="RATE",
        help="largest share of in-domain questions answered with it",
    )
    sp.add_argument(
        "--max-drop", type=float, default=0.1, help="largest ROUGE-L drop per golden question"
    )
    sp.add_argument(
        "--max-new-tokens",
        type=int,
        default=0,
        metavar="N",
        help="answer budget (default 0: the rule compare and eval use)",
    )
    sp.add_argument("--details", action="store_true", help="every answer in --json")


def add_serve(sub: Subparsers) -> None:
    sp = _add(
        sub, "serve", cmd_serve, "serve a run's tuned model: OpenAI-compatible API + web page"
    )
    add_serve_arguments(sp)


def add_conversations(sub: Subparsers) -> None:
    sp = _add(sub, "conversations", cmd_conversations, "served conversations and their feedback")
    sp.add_argument("--limit", type=int, default=50, help="newest N conversations (50)")
    sp.add_argument(
        "--raw",
        action="store_true",
        help="the text as logged; by default personal data and secrets are redacted as in the "
        "dataset (the log keeps the raw text on this machine; promote, preference pairs and "
        "this listing only ever take it redacted)",
    )


def add_recipes(sub: Subparsers) -> None:
    sp = _add(sub, "recipes", cmd_recipes, "list, show or validate training recipes")
    sp.add_argument("action", nargs="?", default="list", choices=["list", "show", "validate"])
    sp.add_argument("name", nargs="?", metavar="NAME|FILE")
    sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")


def add_doctor(sub: Subparsers) -> None:
    _add(sub, "doctor", cmd_doctor, "what this machine can do (CUDA, bitsandbytes, default model)")


def add_state(sub: Subparsers) -> None:
    _add(
        sub, "state", cmd_state, "the workspace's state: stores, leftovers of killed commands, runs"
    )


# In the order `--help` lists them: the pipeline, then the tools.
COMMANDS = (
    add_init,
    add_ingest,
    add_dataset,
    add_train,
    add_compare,
    add_rate,
    add_promote,
    add_eval,
    add_check,
    add_export,
    add_serve,
    add_conversations,
    add_recipes,
    add_doctor,
    add_state,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="assistant-builder",
        description="Turn FAQ pages and documents into a fine-tuned domain chatbot. "
        "With no command, opens the terminal app on the workspace.",
        parents=[_common()],
    )
    p.add_argument("--version", action="version", version=f"assistant-builder {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(sub)
    return p
