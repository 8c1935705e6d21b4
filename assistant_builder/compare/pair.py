"""One blind pair, answered live: what the app's Compare screen calls for each question.

The same steps as ``compare`` (the engine with the answer cache, the one budget rule, the
per-answer streaming of ``compare --ask``), so a question gets the same answers from the app and
from the CLI. The side shown as A is drawn before streaming starts (the screen must know which
pane to stream into) and handed to the store as the recorded shuffle.
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from assistant_builder.compare.answers import open_engine, resolve_sides, stream_answer, with_budget
from assistant_builder.compare.questions import Question
from assistant_builder.models.engine import GenSettings
from assistant_builder.runs import side_name

if TYPE_CHECKING:
    from assistant_builder.compare.ratings import BlindPair, RatingStore
    from assistant_builder.workspace import Workspace

OnPane = Callable[[str, str], None]  # (pane "a" or "b", text piece); "" when a pane starts


def draw_swapped() -> bool:
    """True: the tuned answer is shown as A. The OS's unpredictable source, so a rater cannot
    learn the order."""
    return random.SystemRandom().getrandbits(1) == 1


class PairAnswerer:
    """Answers questions as base and as run ``run_id``, one blind pair at a time. The model
    loads on first use, in the thread that first asks (never when the screen opens).
    ``engine``: something with the Engine's ``stream``/``answer``/``token_lengths`` (tests)."""

    def __init__(self, ws: Workspace, run_id: str, engine: Any = None) -> None:
        self.ws = ws
        self.sides = resolve_sides(ws, run_id)
        self._engine = engine
        self._lock = threading.Lock()

    def engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                self._engine = open_engine(self.ws, self.sides)
            return self._engine

    def answer_pair(
        self,
        store: RatingStore,
        question: Question,
        on_piece: OnPane,
        swapped: bool | None = None,
    ) -> BlindPair:
        """Stream both answers into panes A and B (``swapped``: tuned is A; drawn when None),
        then store the pair with that shuffle recorded. Returns the pair's blind view."""
        engine = self.engine()
        swapped = draw_swapped() if swapped is None else swapped
        settings, _ = with_budget(engine, self.ws, self.sides, [question], GenSettings(0))
        system_prompt = self.ws.load_settings().system_prompt
        tuned, base = self.sides.run_id, self.sides.baseline
        texts: dict[str, str] = {}
        for pane, side in (("a", tuned if swapped else base), ("b", base if swapped else tuned)):
            on_piece(pane, "")
            to_pane = functools.partial(on_piece, pane)
            answer = stream_answer(
                engine, question.question, side, settings, system_prompt, to_pane
            )
            texts[side] = answer.text
        return store.add_pair(
            question.question,
            question.reference or "",
            question.source,
            side_name(base),
            texts[base],
            side_name(tuned),
            texts[tuned],
            swapped=swapped,
        )

    def close(self) -> None:
        """Free the weights and close the answer cache."""
        with self._lock:
            cache = getattr(self._engine, "cache", None)
            if cache is not None:
                cache.close()
            self._engine = None
