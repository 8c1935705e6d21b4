"""Train: pick a recipe, edit its main fields (validated by the Recipe model), see what `auto`
picks and why, start, watch loss/progress/speed live, cancel, resume, and the run history.

Training runs in a child process started by the core's ``launch`` (the one ``train`` uses, with
its checks: a completed run is not resumed); a thread worker follows its event log
(``follow``) and hands each event to the UI thread, so the screen never waits on it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static

from assistant_builder.events import (
    EvalLoss,
    Event,
    Mode,
    OnTrainEvent,
    TrainBegin,
    TrainLog,
    TrainStarted,
    format_eta,
)
from assistant_builder.runs import Run
from assistant_builder.tui.common import StageScreen
from assistant_builder.tui.widgets import LossChart

FIELDS = ("epochs", "learning_rate", "lora_r", "max_steps", "batch_size", "time_budget")


class TrainScreen(StageScreen):
    STAGE = "train"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "start", "Start"),
        Binding("c", "cancel", "Cancel"),
        Binding("u", "resume", "Resume"),
        Binding("h", "focus_history", "History", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.handle: Any = None  # TrainHandle of the run in progress
        self.losses: list[float] = []
        self.base_recipe: Any = None

    def compose_body(self) -> ComposeResult:
        from assistant_builder.train.recipe import list_recipes

        with Horizontal(id="train-body"):
            with VerticalScroll(id="recipe-form", classes="panel"):
                yield Select(
                    [(n, n) for n in list_recipes()], id="recipe", allow_blank=False, compact=True
                )
                yield Static(id="recipe-desc", classes="hint")
                # An update (train --from): continue from a finished run's adapter.
                yield Select([], id="from-run", prompt="continue from: none", compact=True)
                for name in FIELDS:
                    with Horizontal(classes="field"):
                        yield Label(name)
                        yield Input(id=f"f-{name}", compact=True)
                yield Static(id="form-error", classes="error-text")
                yield Static("mode auto: checking this machine…", id="auto", classes="hint")
                with Horizontal(classes="toolbar"):
                    yield Button("Start s", id="start", variant="primary", compact=True)
                    yield Button("Cancel c", id="cancel", variant="error", compact=True)
                    yield Button("Resume u", id="resume", compact=True)
            with Vertical(id="live"):
                yield Static("No training running.", id="train-status", classes="status")
                yield ProgressBar(id="train-progress", show_eta=False, classes="hidden")
                yield LossChart(id="loss-chart")
                yield DataTable(id="history", cursor_type="row", classes="panel")

    def on_mount(self) -> None:
        from assistant_builder.train.recipe import list_recipes

        self.query_one("#recipe-form").border_title = "Recipe"
        self.query_one("#loss-chart").border_title = "loss"
        self.query_one("#history").border_title = "Runs (u resumes the selected one)"
        history = self.query_one("#history", DataTable)
        history.add_columns("Run", "Status", "Steps", "Loss", "Eval", "tok/s")
        default = self.ws.load_settings().recipe
        select = self.query_one("#recipe", Select)
        if default in list_recipes():
            select.value = default
        self._set_running(False)
        self.refresh_status()
        self.reload()
        self.detect_mode()

    # -- recipe form -------------------------------------------------------------------
    @on(Select.Changed, "#recipe")
    def _recipe_changed(self, event: Select.Changed) -> None:
        from assistant_builder.train.recipe import load_recipe

        if not isinstance(event.value, str):
            return
        try:
            self.base_recipe = load_recipe(event.value)
        except Exception as e:
            self.fail("loading the recipe", e)
            return
        r = self.base_recipe
        self.query_one("#recipe-desc", Static).update(
            f"{r.description or r.name}\nmode {r.mode} · {r.base_model}"
        )
        for name in FIELDS:
            value = getattr(r, name)
            self.query_one(f"#f-{name}", Input).value = "" if value is None else str(value)
        self.detect_mode()

    def recipe_from_form(self) -> Any:
        """The recipe with the form's values, validated by the core (the rules of ``--set``);
        marks the fields with a problem and returns None."""
        from assistant_builder.train.recipe import recipe_from_fields

        if self.base_recipe is None:
            return None
        typed = {name: self.query_one(f"#f-{name}", Input).value for name in FIELDS}
        recipe, errors = recipe_from_fields(self.base_recipe, typed)
        bad = {field for field, _ in errors}
        for name in FIELDS:
            self.query_one(f"#f-{name}", Input).set_class(name in bad, "-invalid")
        self.query_one("#form-error", Static).update(
            "\n".join(f"{field}: {msg}" for field, msg in errors)
        )
        return recipe

    @on(Input.Changed)
    def _field_changed(self) -> None:
        self.recipe_from_form()

    @work(thread=True, exclusive=True, group="mode")
    def detect_mode(self) -> None:
        # Asking torch about CUDA costs its import (seconds): a worker, never at startup.
        from assistant_builder.train.launch import resolve_mode

        recipe = self.base_recipe
        if recipe is None:
            return
        try:
            import torch

            mode, why = resolve_mode(recipe, torch.cuda.is_available())
        except Exception as e:
            self.fail_from_thread("checking the hardware", e)
            return
        label = f"mode {recipe.mode} → {mode}: {why}"
        self.app.call_from_thread(self.query_one("#auto", Static).update, label)

    # -- runs --------------------------------------------------------------------------
    def reload(self) -> None:
        self.guarded("reading the runs", self._fill_history)

    def _fill_history(self) -> None:
        table = self.query_one("#history", DataTable)
        table.clear()
        active = self.handle.run_id if self.handle else None
        done = [r for r in reversed(self.ws.list_runs()) if Run(self.ws.runs_dir / r).completed()]
        self.query_one("#from-run", Select).set_options([(r, r) for r in done])
        for run_id in reversed(self.ws.list_runs()):
            info = Run(self.ws.runs_dir / run_id).summary()
            status = "running" if run_id == active else info.get("status", "?")

            def num(key: str, fmt: str = "{:.3f}", info: dict[str, Any] = info) -> str:
                v = info.get(key)
                return fmt.format(v) if isinstance(v, (int, float)) else ""

            table.add_row(
                run_id, status, num("steps", "{}"), num("train_loss"), num("eval_loss"),
                num("tokens_per_second", "{:.0f}"), key=run_id,
            )  # fmt: skip

    def _set_running(self, running: bool) -> None:
        self.query_one("#start", Button).disabled = running
        self.query_one("#resume", Button).disabled = running
        self.query_one("#cancel", Button).disabled = not running

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        if self.handle is not None:
            self.notify("A training is already running.", severity="warning")
            return
        recipe = self.recipe_from_form()
        if recipe is None:
            self.notify("Fix the recipe fields first.", title="Cannot start", severity="error")
            return
        chosen = self.query_one("#from-run", Select).value  # Select.BLANK: a new adapter
        self._begin(
            recipe=recipe, resume_run=None, from_run=chosen if isinstance(chosen, str) else None
        )

    @on(Button.Pressed, "#resume")
    def action_resume(self) -> None:
        if self.handle is not None:
            return
        table = self.query_one("#history", DataTable)
        if not table.row_count:
            self.notify("No run to resume.", severity="warning")
            return
        from assistant_builder.errors import UserError
        from assistant_builder.train.launch import check_resumable

        run_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        try:
            check_resumable(self.ws, run_id)
        except UserError as e:
            self.notify(f"{e}.", severity="warning")
            return
        self._begin(recipe=None, resume_run=run_id)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self.handle is None:
            return
        self.handle.cancel()
        self.query_one("#train-status", Static).update("Cancelling: saving a checkpoint…")

    def _begin(self, recipe: Any, resume_run: str | None, from_run: str | None = None) -> None:
        self.losses = []
        self.query_one("#loss-chart", LossChart).values = []
        self.query_one("#train-status", Static).update("Starting the training process…")
        self._set_running(True)
        self.run_stage(
            "train",
            lambda on_event: self._train(recipe, resume_run, on_event, from_run),
            "training",
            bar="#train-progress",
        )

    def _train(
        self, recipe: Any, resume_run: str | None, on_event: OnTrainEvent, from_run: str | None
    ) -> Any:
        """In the worker: the core's launch, then follow the child's events to the end."""
        from assistant_builder.train.launch import follow, launch

        if not resume_run:
            from assistant_builder.train.incremental import describe
            from assistant_builder.train.preflight import estimate_run, estimate_update

            # The estimate (and, with a time budget, the planned epochs) before it starts; an
            # update's refusals ("nothing changed", another base model) come from here.
            line = ""
            if from_run:
                estimate, recipe, sel = estimate_update(self.ws, recipe, from_run)
                line = describe(sel.counts, from_run) + "\n"
            else:
                estimate, recipe = estimate_run(self.ws, recipe)
            self.app.call_from_thread(self.notify, f"{line}Estimate: {estimate.line()}", timeout=20)
        start_child = self.abapp.start_training
        self.handle = launch(
            self.ws, recipe, resume_run, start_child=start_child, from_run=from_run
        )
        on_event(TrainStarted(self.handle.run_id, str(self.handle.run_dir)))
        return follow(self.handle, on_event)

    def stage_progress(self, stage: str, ev: Event) -> None:
        status = self.query_one("#train-status", Static)
        if isinstance(ev, TrainStarted):
            self._fill_history()
        elif isinstance(ev, Mode):
            self.query_one("#auto", Static).update(f"this run: {ev.mode}: {ev.why}")
        elif isinstance(ev, TrainLog):
            self.losses.append(ev.loss)
            chart = self.query_one("#loss-chart", LossChart)
            chart.values = list(self.losses)
            chart.border_title = f"loss {self.losses[0]:.3f} → {self.losses[-1]:.3f}"
            tps = ev.tokens_per_second
            status.update(
                f"step {ev.step}/{ev.max_steps} · loss {ev.loss:.3f}"
                + (f" · {tps:.0f} tok/s" if tps else "")
                + f" · ETA {format_eta(ev.eta_s)}"
            )
        elif isinstance(ev, EvalLoss):
            self.query_one("#loss-chart").border_subtitle = f"eval loss {ev.eval_loss:.3f}"
        elif isinstance(ev, TrainBegin):
            status.update(f"Training: {ev.max_steps} steps")
        if isinstance(ev, (TrainLog, EvalLoss, TrainBegin)) and ev.max_steps:
            self.query_one("#train-progress", ProgressBar).update(
                total=ev.max_steps, progress=ev.step or 0
            )

    def stage_done(self, stage: str, metrics: Any) -> None:
        self.handle = None
        self._set_running(False)
        status = self.query_one("#train-status", Static)
        if metrics is not None:
            loss = metrics.get("train_loss")
            status.update(
                f"Run {metrics.get('run')} {metrics.get('status')}"
                + (f": loss {loss:.3f}" if isinstance(loss, float) else "")
            )
            self.notify(f"{metrics.get('run')} {metrics.get('status')}", title="Training")
        else:
            status.update("Training stopped with an error (see the notification).")
        self.refresh_status()
        self.reload()

    def action_focus_history(self) -> None:
        self.query_one("#history", DataTable).focus()

    def on_unmount(self) -> None:
        # Leaving the app with a training running: stop it cleanly (a checkpoint is saved).
        if self.handle is not None:
            self.handle.cancel()
