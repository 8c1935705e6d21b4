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
from assistant_builder.errors import UserError
from assistant_builder.models.engine import GenSettings
from assistant_builder.runs import BASE, side_name

if TYPE_CHECKING:
    from assistant_builder.compare.ratings import BlindPair, RatingStore
    from assistant_builder.workspace import Workspace

OnPane = Callable[[str, str], None]  # (pane "a" or "b", text piece); "" when a pane starts


def draw_swapped() -> bool:
    """True: the second system (the tuned one by default) is shown as A. The OS's
    unpredictable source, so a rater cannot learn the order."""
    return random.SystemRandom().getrandbits(1) == 1


PAIRINGS = (
    ("base", "tuned"),
    ("tuned", "tuned+retrieval"),
    ("base", "tuned+retrieval"),
    ("base+retrieval", "tuned+retrieval"),
)
RETRIEVAL = "+retrieval"


def system_model_name(run_id: str, system: str) -> str:
    """The model name ratings.db records for ``system`` answering with run ``run_id``."""
    side = run_id if system.startswith("tuned") else BASE
    return side_name(side) + (RETRIEVAL if system.endswith(RETRIEVAL) else "")


class PairAnswerer:
    """Answers questions as two systems (default base and run ``run_id``; any two of base,
    tuned, base+retrieval, tuned+retrieval), one blind pair at a time. The model loads on first
    use, in the thread that first asks (never when the screen opens). ``engine``: something
    with the Engine's ``stream``/``answer``/``token_lengths`` (tests)."""

    def __init__(
        self,
        ws: Workspace,
        run_id: str,
        engine: Any = None,
        systems: tuple[str, str] = PAIRINGS[0],
    ) -> None:
        self.ws = ws
        self.sides = resolve_sides(ws, run_id)
        self._engine = engine
        self._lock = threading.Lock()
        self._index: Any = None
        self.systems = systems
        self.set_systems(systems)

    def set_systems(self, systems: tuple[str, str]) -> None:
        """Pit these two systems against each other from the next pair on."""
        known = {s for pair in PAIRINGS for s in pair}
        if len(set(systems)) != 2 or not set(systems) <= known:
            raise UserError(f"a blind pair needs two of {', '.join(sorted(known))}: {systems}")
        self.systems = systems

    def _side(self, system: str) -> str:
        return self.sides.run_id if system.startswith("tuned") else self.sides.baseline

    def _name(self, system: str) -> str:
        """The model name the ratings record: the side's, with ``+retrieval`` when used."""
        return side_name(self._side(system)) + (RETRIEVAL if system.endswith(RETRIEVAL) else "")

    def _prompt(self, engine: Any, system: str, question: str, budget: int) -> str:
        """What the system is asked: the question, or its retrieval prompt."""
        if not system.endswith(RETRIEVAL):
            return question
        from assistant_builder.compare.golden_retrieval import system_settings
        from assistant_builder.retrieval.answer import grounded_prompts
        from assistant_builder.retrieval.index import open_index

        run_dir = self.ws.run_dir(self.sides.run_id)
        if self._index is None:
            self._index = open_index(self.ws, run_dir)[0]
        rs = system_settings(system, run_dir)
        return grounded_prompts(engine, self._index, [question], rs, budget)[0].prompt

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
        first, second = self.systems  # second is the one ``swapped`` shows as A
        texts: dict[str, str] = {}
        for pane, system in (
            ("a", second if swapped else first),
            ("b", first if swapped else second),
        ):
            on_piece(pane, "")
            to_pane = functools.partial(on_piece, pane)
            asked = self._prompt(engine, system, question.question, settings.max_new_tokens)
            side = self._side(system)
            answer = stream_answer(engine, asked, side, settings, system_prompt, to_pane)
            texts[system] = answer.text
        return store.add_pair(
            question.question,
            question.reference or "",
            question.source,
            self._name(first),
            texts[first],
            self._name(second),
            texts[second],
            swapped=swapped,
        )

    def close(self) -> None:
        """Free the weights and close the answer cache."""
        with self._lock:
            cache = getattr(self._engine, "cache", None)
            if cache is not None:
                cache.close()
            self._engine = None
