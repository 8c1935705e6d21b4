"""A blind pair can pit any two systems: tuned against tuned+retrieval asks the run the
question it learned for the matched entry, and records the models under their systems' names."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tiny_models import make_run, tiny_assets
from support.tui_fakes import FakeEngine

from assistant_builder.compare.pair import PairAnswerer
from assistant_builder.compare.questions import Question
from assistant_builder.compare.ratings import RatingStore
from assistant_builder.dataset.build import build_dataset
from assistant_builder.errors import UserError
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.workspace import Workspace

FAQ = """# FAQ

## How do I reset my password?

Open Settings, then Account, and choose Reset password.

## How do I export my notes?

Use File, Export, and pick Markdown or PDF.
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_assets(tmp_path_factory)


def test_tuned_against_tuned_with_retrieval(
    workspace: Workspace, tmp_path: Path, tiny: dict[str, Path]
) -> None:
    f = tmp_path / "faq.md"
    f.write_text(FAQ, encoding="utf-8")
    ingest_paths(workspace, [f])
    build_dataset(workspace)
    make_run(workspace, "run1", tiny["base"], tiny["a1"])
    pa = PairAnswerer(workspace, "run1", engine=FakeEngine(workspace),
                      systems=("tuned", "tuned+retrieval"))  # fmt: skip
    q = Question("i want my notes out as pdf files", "Use File, Export.")
    with RatingStore(workspace.ratings_db) as store:
        pair = pa.answer_pair(store, q, lambda pane, piece: None, swapped=False)
        reveal = store.rate(pair.id, "tester", "A")
    # Not swapped: the first system (tuned) is A, the second (tuned+retrieval) is B.
    assert pair.answer_a == "Tuned answer to: i want my notes out as pdf files"
    # The fake answers the FAQ's own question with its answer: that question was asked.
    assert pair.answer_b == FakeEngine(workspace)._text("How do I export my notes?", "run1")
    assert pair.answer_b != pair.answer_a
    assert (reveal.model_a, reveal.model_b) == ("tuned:run1", "tuned:run1+retrieval")
    with pytest.raises(UserError, match="two of"):
        pa.set_systems(("tuned", "tuned"))
