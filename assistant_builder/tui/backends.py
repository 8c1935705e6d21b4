"""What the Compare screen asks for answers. The real one wraps ``generate.Engine`` (one copy
of the base weights, adapter switched off for base and on for tuned); UI tests pass a fast fake
with the same two methods."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from assistant_builder.workspace import Workspace


class Generator(Protocol):
    def stream(self, question: str, *, tuned: bool) -> Iterator[str]:
        """Yield pieces of one answer as they are generated."""
        ...

    def close(self) -> None:
        """Free what the generator holds (model weights)."""
        ...


class EngineGenerator:
    """Loads the model on first use (in the worker thread that first asks, never at startup)."""

    def __init__(self, ws: Workspace, run_id: str) -> None:
        self.ws = ws
        self.run_id = run_id
        self._engine: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._engine is None:
                from assistant_builder.models.engine import Engine
                from assistant_builder.runs import open_run

                run = open_run(self.ws.runs_dir, self.run_id)
                self._engine = Engine(run.base_model(), run.adapter_dir)
            return self._engine

    def stream(self, question: str, *, tuned: bool) -> Iterator[str]:
        from assistant_builder.models.engine import GenSettings

        engine = self._get()
        system = self.ws.load_settings().system_prompt
        yield from engine.stream(
            question, system_prompt=system, tuned=tuned, settings=GenSettings(max_new_tokens=200)
        )

    def close(self) -> None:
        self._engine = None
