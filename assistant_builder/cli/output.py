"""Human output of the command line on stderr: a rich console and a progress bar that renders
the core's Progress events. Kept apart so commands.py and cli.py stay small."""

from __future__ import annotations

from typing import Any

from assistant_builder.events import Progress


def console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def say(msg: str) -> None:
    console().print(msg)


class ProgressRenderer:
    """Renders core Progress events as a rich progress bar on stderr."""

    def __init__(self, label: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=console(),
            transient=True,
        )
        self.task = self.bar.add_task(label, total=None, info="")

    def __enter__(self) -> ProgressRenderer:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, ev: Progress) -> None:
        """A step of a long stage (training has its own renderer: cli.commands.TrainRenderer)."""
        self.bar.update(self.task, completed=ev.done, total=ev.total, info=ev.message)
