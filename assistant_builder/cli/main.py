"""The command line: one command per stage, thin (parse → call core → print).

Contract (see DESIGN.md): every command takes ``--workspace DIR`` and ``--json``. With
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
