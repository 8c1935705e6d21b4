"""Output of ``eval`` and ``compare --systems``: several systems (base, tuned, with and without
retrieval) scored side by side on questions with references."""

from __future__ import annotations

import argparse
from typing import Any

from assistant_builder.cli.output import ProgressRenderer, console, say
from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace


def print_systems(summary: dict[str, Any], details: bool, against: str | None) -> dict[str, Any]:
    """The per-question table (``details``) and the systems' scores per split."""
    from rich.table import Table

    systems = summary["systems"] + ([against] if against else [])
    keys = summary["systems"] + (["against"] if against else [])
    if details:
        rows = Table(title="per question (ROUGE-L)", show_lines=True)
        rows.add_column("question", max_width=40)
        rows.add_column("reworded")
        for name in systems:
            rows.add_column(name, justify="right")
        last = keys[-1] if not against else summary["systems"][-1]
        rows.add_column(f"{last} answer", max_width=60)
        for r in summary["rows"]:
            cells = [r["question"], "yes" if r["paraphrase"] else ""]
            cells += [f"{r[k]['rouge_l']:.2f}" for k in keys]
            cells.append(r[last]["text"] + ("" if r[last]["stopped"] else " [red]…[/]"))
            rows.add_row(*cells)
        console().print(rows)
    table = Table(title=f"golden set: {summary['questions']} questions, run {summary['run']}")
    table.add_column("split")
    table.add_column("n", justify="right")
    for name in systems:
        table.add_column(f"ROUGE-L {name}", justify="right")
    for name in systems:
        table.add_column(f"stops {name}", justify="right")
    hits = summary.get("retrieval", {}).get("hit_rate", {})
    if hits:
        table.add_column(f"top-{summary['retrieval']['k']} hit", justify="right")
    first = summary[keys[0]]
    for split in first:
        cells = [split, str(first[split]["n"])]
        cells += [f"{summary[k][split]['rouge_l']:.3f}" for k in keys]
        cells += [f"{summary[k][split]['stopped']:.0%}" for k in keys]
        if hits:
            cells.append(f"{hits.get(split, 0):.0%}")
        table.add_row(*cells)
    console().print(table)
    for notice in summary.get("retrieval", {}).get("notices", []):
        say(f"[yellow]notice:[/] {notice}")
    for q in summary.get("regressions", []):
        say(f"[red]regression vs {against}:[/] {q}")
    say(f"Details: {summary['path']}")
    if not details:
        summary.pop("rows")
    return summary


def compare_systems(ws: Workspace, args: argparse.Namespace, qs: Any) -> dict[str, Any]:
    """compare --systems: the eval's scoring on the compare question set (default: the
    dataset's eval split), every question with a reference."""
    from assistant_builder.compare.answers import eval_questions
    from assistant_builder.compare.golden import evaluate_questions, parse_systems
    from assistant_builder.models.engine import GenSettings

    systems = parse_systems(args.systems)
    qs = qs if qs is not None else eval_questions(ws)
    missing = sum(1 for q in qs if not q.reference)
    if missing or not qs:
        raise UserError(f"--systems scores against references: {missing} question(s) have none")
    settings = GenSettings(max_new_tokens=args.max_new_tokens or 0)
    label = args.questions or "dataset eval split"
    with ProgressRenderer("compare") as bar:
        summary = evaluate_questions(
            ws, qs, label, args.run, None, settings, on_event=bar, systems=systems
        )
    return print_systems(summary, False, None)
