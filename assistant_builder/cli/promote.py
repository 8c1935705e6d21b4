"""``promote``: a rated pair or a free question becomes a training row or a golden question."""

from __future__ import annotations

import argparse
from typing import Any

from assistant_builder.cli.output import say
from assistant_builder.workspace import Workspace


def cmd_promote(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.compare.promote import promote

    ws = Workspace(args.workspace).require()
    result = promote(
        ws,
        pair_id=args.pair,
        question=args.question,
        answer=args.answer,
        to=args.to,
        reviewer=args.reviewer,
    )
    what = "training row" if args.to == "dataset" else "golden question"
    again = " (replaced the earlier one)" if result["replaced"] else ""
    say(f"Promoted {result['row']['question']!r} to a {what}{again}: {result['path']}")
    if args.to == "dataset":
        say("It joins the training data at the next `assistant-builder dataset`")
    return result
