"""``check``: the release check in the terminal, and the gate ``export`` runs before exporting."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from assistant_builder.cli.output import ProgressRenderer, say
from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace


def _rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def print_check(result: dict[str, Any]) -> None:
    against = result["against"] or "none (nothing exported yet: no regressions to look for)"
    say(f"Release check of run [bold]{result['run']}[/] against {against}")
    g, prev = result["golden_rouge_l"], result["previous_rouge_l"]
    line = f"  golden set ({result['golden_source']}): {len(result['golden'])} questions"
    if g is not None:
        line += f", ROUGE-L {g:.3f}" + (f" (last export {prev:.3f})" if prev is not None else "")
    say(line + f", {len(result['regressions'])} regressed")
    fr = result["false_refusals"]
    say(f"  false refusals on in-domain questions: {_rate(fr['rate'])} of {fr['n']}")
    oos = result["out_of_scope"]
    say(
        f"  out-of-scope reply on off-domain probes ({oos['source']}): "
        f"{_rate(oos['rate'])} of {oos['n']} ({oos['why']})"
    )
    if oos["left_out_trained"]:
        say(f"  [yellow]left out[/] {len(oos['left_out_trained'])} probe(s) the run trained on")
    for r in result["regressions"]:
        say(
            f"  [red]regression:[/] {r['question']} "
            f"({r['previous_rouge_l']:.2f} → {r['rouge_l']:.2f})"
        )
    if result["passed"]:
        say("[green]PASS[/]")
    else:
        say("[red]FAIL[/]: " + "; ".join(result["reasons"]))
    say(f"Details: {result['path']}")


def cmd_check(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.compare.release_check import Thresholds, release_check

    ws = Workspace(args.workspace).require()
    run_id = args.run or ws.latest_run()
    if run_id is None:
        raise UserError("no trained run to check (run `assistant-builder train` first)")
    for name in ("min_out_of_scope", "max_false_refusals"):
        if not 0 <= getattr(args, name) <= 1:
            raise UserError(f"--{name.replace('_', '-')} is a fraction between 0 and 1")
    limits = Thresholds(args.min_out_of_scope, args.max_false_refusals, args.max_drop)
    golden = Path(args.golden) if args.golden else None
    with ProgressRenderer("check") as bar:
        result = release_check(ws, run_id, golden, args.against, limits, bar, args.max_new_tokens)
    print_check(result)
    if not args.details:
        result.pop("golden")
        result.pop("probes")
    # A failing check is an answer, not a user mistake: exit 1 (2 stays for bad input).
    result["exit_status"] = 0 if result["passed"] else 1
    return result


def gate_export(ws: Workspace, run_id: str, force: bool) -> dict[str, Any]:
    """Run the release check before an export; a failing run is refused unless forced."""
    from assistant_builder.compare.release_check import release_check

    if force:
        say("[yellow]release check skipped (--force)[/]")
        return {"skipped": "--force"}
    with ProgressRenderer("check") as bar:
        result = release_check(ws, run_id, on_event=bar)
    if not result["passed"]:
        raise UserError(
            f"run {run_id} fails the release check: {'; '.join(result['reasons'])} "
            f"(details: {result['path']}); export anyway with --force"
        )
    say(f"[green]release check passed[/] ({result['path']})")
    return {"passed": True, "path": result["path"]}
