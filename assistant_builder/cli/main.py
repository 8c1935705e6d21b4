"""The command line: one command per stage, thin (parse → call core → print).

Contract (README, "The commands"): every command takes ``--workspace DIR`` and ``--json``. With
``--json`` exactly one JSON object goes to stdout and human output to stderr. Exit status 0 on
success, 2 on bad input with a one-line reason, never a traceback for a user mistake.
The handlers live in commands.py and import heavy libraries inside, so ``--help`` answers at once.
"""

from __future__ import annotations

import json
import sys

from assistant_builder.cli.commands import cmd_tui
from assistant_builder.cli.parser import Handler, build_parser
from assistant_builder.errors import UserError, one_line
from assistant_builder.workspace import default_workspace_path

__all__ = ["build_parser", "main"]


# Library warnings a user cannot act on, each silenced by the start of its message and its
# category, so that any other warning (a new deprecation above all) still shows.
NOISY_WARNINGS = (
    # transformers 5 renamed the option; TRL's SFTConfig still takes the old name.
    ("`gradient_checkpointing` is deprecated", "FutureWarning"),
    ("`is_gradient_checkpointing` is deprecated", "FutureWarning"),
)


def quiet_libraries() -> None:
    """Keep library chatter (weight-loading bars, the known deprecation notes above) out of the
    user's terminal; the environment reaches the training child process too."""
    import builtins
    import os
    import re
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    filters = [f"ignore:{message}:{category}" for message, category in NOISY_WARNINGS]
    if os.environ.get("PYTHONWARNINGS"):  # the user's own filters come last and win
        filters.append(os.environ["PYTHONWARNINGS"])
    os.environ["PYTHONWARNINGS"] = ",".join(filters)
    for message, category in NOISY_WARNINGS:
        warnings.filterwarnings(
            "ignore", message=re.escape(message), category=getattr(builtins, category)
        )


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
        msg = one_line(e)
        if args.json:
            print(json.dumps({"error": msg}))
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result if result is not None else {}, default=str))
    # A command may answer "no" without a user mistake (check: the run fails), exit 1.
    return int(result.get("exit_status", 0)) if isinstance(result, dict) else 0


if __name__ == "__main__":
    sys.exit(main())
