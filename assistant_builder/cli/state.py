"""``assistant-builder state``: what state the workspace is in (after a crash, a kill, a hand
edit): which stores open, what interrupted commands left behind, which runs are usable."""

from __future__ import annotations

import argparse
from typing import Any

from assistant_builder.cli.output import say
from assistant_builder.workspace import Workspace


def cmd_state(args: argparse.Namespace) -> dict[str, Any]:
    from rich.markup import escape

    from assistant_builder.state import check_workspace
    from assistant_builder.textsafe import printable

    report = check_workspace(Workspace(args.workspace))
    src = report["sources"]
    if src:
        say(
            f"sources: {src['files']} files indexed, {len(src['missing_items'])} without items, "
            f"{src['leftovers']} leftover item files (the next ingest removes them)"
        )
    ds = report["dataset"]
    say("dataset: " + (", ".join(f"{k} {v}" for k, v in ds.items()) or "not built yet"))
    for run in report["runs"]:
        note = " (interrupted save left adapter.partial/)" if run.get("interrupted_save") else ""
        say(f"run {run['run']}: adapter {escape(str(run['adapter']))}{note}")
    for tmp in report["export_leftovers"]:
        say(f"export leftover: {escape(printable(tmp))} (the next export removes it)")
    say(f"ratings: {report['ratings']}")
    for p in report["problems"]:
        say(f"[red]problem:[/] {escape(printable(p))}")
    say("[green]✓ workspace OK[/]" if report["ok"] else "[red]✗ workspace needs attention[/]")
    return report
