"""``assistant-builder rate``: blind A/B rating in a plain terminal (rich), for people who do not
open the TUI, plus the non-interactive actions on the ratings (export, verdict, to-dataset).

Keys: ``a`` A better, ``b`` B better, ``t`` tie, ``x`` both bad, ``s`` skip, ``u`` undo the
last rating, ``q`` quit. After a verdict the rater may add 1-5 scores for A and B and a note
(for ``x``: the right answer, which ``--to-dataset`` turns into a training row); only then are
the model names revealed. Each rating is committed by ``RatingStore.rate`` before the reveal.

On a terminal a verdict is one key press, then one line for scores and note. Without a
terminal (a pipe, a test) every rating is one line, the same grammar in one go::

    KEY [SCORE_A SCORE_B] [NOTE...]        e.g.  "a",  "b 2 5",  "x - - Refunds take 30 days."
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from assistant_builder.compare.ratings import BlindPair, RatingStore
from assistant_builder.errors import UserError

KEYS = {"a": "A", "b": "B", "t": "tie", "x": "both_bad"}
CONTROL = ("u", "s", "q")
HELP = "a = A better · b = B better · t = tie · x = both bad · s = skip · u = undo · q = quit"


@dataclass
class Command:
    key: str  # one of KEYS, CONTROL, or "?" for anything not understood
    score_a: int | None = None
    score_b: int | None = None
    note: str = ""
    problem: str = ""


def _score(tok: str) -> int | None:
    return None if tok == "-" else int(tok)


def parse_command(line: str) -> Command:
    """``KEY [SCORE_A SCORE_B] [NOTE...]``; scores are 1-5 or ``-``; an empty line is '?'."""
    parts = line.strip().split(maxsplit=1)
    if not parts:
        return Command("?", problem="")
    key = parts[0].lower()
    if key not in KEYS and key not in CONTROL:
        return Command("?", problem=f"unknown key {parts[0]!r}")
    rest = parts[1] if len(parts) > 1 else ""
    toks = rest.split(maxsplit=2)
    ok = {"1", "2", "3", "4", "5", "-"}
    if len(toks) >= 2 and toks[0] in ok and toks[1] in ok:
        return Command(key, _score(toks[0]), _score(toks[1]), toks[2] if len(toks) > 2 else "")
    if toks and (toks[0] in ok or toks[0].isdigit()):
        return Command("?", problem="give two scores from 1 to 5 (A then B), '-' for none")
    return Command(key, note=rest.strip())


class LineInput:
    """Every rating is one line (stdin that is not a terminal, or a test)."""

    interactive = False

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def command(self, prompt: str) -> str | None:
        line = self.stream.readline()
        return None if line == "" else line

    def details(self, prompt: str) -> str:
        return ""


class TerminalInput:  # pragma: no cover - needs a real terminal; the loop logic is shared
    """One key press for the verdict, then one line for scores and note."""

    interactive = True

    def __init__(self, console: Any) -> None:
        self.console = console

    def command(self, prompt: str) -> str | None:
        import termios
        import tty

        self.console.print(prompt, end="", markup=False)
        fd = sys.stdin.fileno()
        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            ch = sys.stdin.read(1)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
        self.console.print(ch)
        return None if ch in ("", "\x04") else ch

    def details(self, prompt: str) -> str:
        self.console.print(prompt, end="", markup=False)
        return sys.stdin.readline()


def show_pair(console: Any, pair: BlindPair, position: str) -> None:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    where = f"  · {pair.source}" if pair.source else ""
    console.rule(f"[bold]{position}[/]  pair {pair.id}{where}")
    # Text(), not str: model output and user data may contain [brackets] rich reads as markup.
    console.print(Panel(Text(pair.question), title="question", border_style="cyan"))
    if pair.reference:
        console.print(Panel(Text(pair.reference), title="reference", border_style="dim"))
    sides = Table.grid(expand=True, padding=(0, 1))
    sides.add_column(ratio=1)
    sides.add_column(ratio=1)
    sides.add_row(
        Panel(Text(pair.answer_a or "(empty)"), title="A", border_style="magenta"),
        Panel(Text(pair.answer_b or "(empty)"), title="B", border_style="yellow"),
    )
    console.print(sides)


def rate_loop(
    store: RatingStore,
    rater: str,
    inp: LineInput | TerminalInput,
    console: Any,
    limit: int | None = None,
) -> dict[str, Any]:
    """Show pending pairs one by one until they run out, ``limit`` ratings are made, ``q`` or
    end of input. Returns what happened (the ratings themselves are already committed)."""
    queue: list[BlindPair] = store.pending(rater)
    skipped: set[int] = set()
    made: list[dict[str, Any]] = []
    undone = 0
    console.print(f"[bold]{len(queue)}[/] pairs to rate as [bold]{rater}[/]. {HELP}")
    while queue and (limit is None or len(made) - undone < limit):
        pair = queue[0]
        show_pair(console, pair, f"{len(queue)} left")
        raw = inp.command("verdict [a/b/t/x, s, u, q]> ")
        if raw is None:
            break
        cmd = parse_command(raw)
        if cmd.key in KEYS and inp.interactive:
            ask = "the right answer" if cmd.key == "x" else "a note"
            extra = inp.details(f"scores A B (1-5, '-' none) and/or {ask}; Enter to skip> ")
            cmd = parse_command(f"{cmd.key} {extra}")
        if cmd.key == "q":
            break
        if cmd.key == "?":
            console.print(f"[red]{cmd.problem or 'nothing typed'}[/]. {HELP}")
            continue
        if cmd.key == "s":
            skipped.add(queue.pop(0).id)
            continue
        if cmd.key == "u":
            pair_id = store.undo_last(rater)
            if pair_id is None:
                console.print("[yellow]nothing to undo[/]")
                continue
            undone += 1
            queue.insert(0, store.pair(pair_id))
            console.print(f"[yellow]undid your rating of pair {pair_id}; rate it again[/]")
            continue
        try:
            reveal = store.rate(pair.id, rater, KEYS[cmd.key], cmd.score_a, cmd.score_b, cmd.note)
        except UserError as e:
            console.print(f"[red]{e}[/]")
            continue
        queue.pop(0)
        picked = {"A": "A", "B": "B", "tie": "a tie", "both_bad": "both bad"}[reveal.verdict]
        console.print(
            f"[green]saved[/] ({picked}). A was [bold]{reveal.model_a}[/], "
            f"B was [bold]{reveal.model_b}[/]"
            + (f" — you preferred [bold]{reveal.winner}[/]" if reveal.winner else "")
        )
        made.append({"pair_id": pair.id, "rating_id": reveal.rating_id, "verdict": reveal.verdict,
                     "model_a": reveal.model_a, "model_b": reveal.model_b,
                     "winner": reveal.winner})  # fmt: skip
    remaining = len(store.pending(rater))
    console.print(f"{len(made) - undone} ratings kept this session; {remaining} pairs left.")
    return {"rater": rater, "rated": len(made), "undone": undone, "skipped": len(skipped),
            "remaining": remaining, "ratings": made}  # fmt: skip


def default_rater(option: str | None) -> str:
    name = option or os.environ.get("USER") or os.environ.get("USERNAME") or ""
    if not name.strip():
        raise UserError("no rater name: pass --rater NAME (or set $USER)")
    return name.strip()


def run_rate(args: Any, console_factory: Callable[[], Any]) -> dict[str, Any]:
    """The ``rate`` command (see cli.py for the options)."""
    from pathlib import Path

    from assistant_builder.workspace import Workspace

    ws = Workspace(args.workspace).require()
    console = console_factory()
    with RatingStore(ws.ratings_db) as store:
        if args.export:
            path = Path(args.export)
            if path.suffix.lower() not in (".csv", ".jsonl"):
                raise UserError(f"{path}: export to a .csv or .jsonl file")
            n = (store.export_csv if path.suffix.lower() == ".csv" else store.export_jsonl)(path)
            console.print(f"Exported {n} ratings to {path}")
            return {"exported": n, "path": str(path)}
        if args.verdict:
            return _verdict(ws, store, args, console)
    if args.to_dataset or args.to_preferences:
        from assistant_builder.dataset.feedback import write_feedback, write_preferences

        with RatingStore(ws.ratings_db) as store:
            ratings = store.ratings()
        out: dict[str, Any] = {}
        if args.to_dataset:
            out["dataset"] = write_feedback(ws, ratings, args.min_score)
            console.print(
                f"{out['dataset']['rows']} corrected rows in {out['dataset']['path']} "
                "(used by the next `assistant-builder dataset`)"
            )
        if args.to_preferences:
            from assistant_builder.serve.served import served_preference_pairs

            p = out["preferences"] = write_preferences(ws, ratings, served_preference_pairs(ws))
            console.print(
                f"{p['pairs']} preference pairs ({p['rated']} from ratings, {p['served']} from "
                f"served corrections) in {p['path']}"
            )
        return out
    rater = default_rater(args.rater)
    inp = TerminalInput(console) if sys.stdin.isatty() else LineInput(sys.stdin)
    with RatingStore(ws.ratings_db) as store:
        return rate_loop(store, rater, inp, console, args.limit)


def _verdict(ws: Any, store: RatingStore, args: Any, console: Any) -> dict[str, Any]:
    from assistant_builder.compare.answers import latest_summary
    from assistant_builder.compare.verdict import verdict_report
    from assistant_builder.runs import BASE, is_run_id, run_of, side_name

    models = store.newest_models()
    if args.model:  # a bare run id names that run's answers
        models = side_name(args.model), side_name(args.vs or BASE)
    if models is None:
        raise UserError("no comparisons yet (run `assistant-builder compare` first)")
    x, y = models
    run_x, run_y = run_of(x), run_of(y)
    metrics = None
    if run_x is not None and is_run_id(run_x) and (ws.runs_dir / run_x).is_dir():
        metrics = latest_summary(ws, run_x, run_y or BASE)
    report = verdict_report(store.verdict(x, y), metrics)
    console.print(f"[bold]{report['line']}[/]")
    for src, line in report["source_lines"].items():
        console.print(f"  {src}: {line}")
    return report
