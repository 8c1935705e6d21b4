"""``promote``: a rated pair, a served reply or a free question becomes a training row or a
golden question."""

from __future__ import annotations

import argparse
from typing import Any

from assistant_builder.cli.output import say
from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace


def cmd_promote(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.compare.promote import promote

    ws = Workspace(args.workspace).require()
    conversation, turn = args.conversation, args.turn
    provenance = None
    if conversation is not None:
        if args.pair is not None or args.question is not None:
            raise UserError("promote one of --pair, --conversation or --question")
        from assistant_builder.serve.review import promote_served

        result = promote_served(
            ws, conversation, turn, args.answer, to=args.to, reviewer=args.reviewer
        )
        provenance = result.pop("provenance")
    elif turn is not None:
        raise UserError("--turn goes with --conversation ID")
    else:
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
    if provenance and provenance.get("earlier_turns"):
        say(
            f"note: the question followed {provenance['earlier_turns']} earlier question(s) in "
            "its conversation; the row keeps it alone (edit it if it does not stand alone)"
        )
    if args.to == "dataset":
        say("It joins the training data at the next `assistant-builder dataset`")
    return result
