"""The answer budget: how many new tokens ``compare``, ``eval`` and the app's Compare screen give
each answer when the user sets none (``--max-new-tokens`` unset or 0).

One rule for all three: room for the longest answer the models are expected to give, which is
the longest of the question set's references *and* of the answers the run trained on (its own
copy of the train split, ``runs/<id>/data/train.jsonl``, else the workspace's), plus half
again; rounded up to a multiple of 16 and kept within [64, 1024]; 256 when there is neither.

Why both sources: a tuned model answers at the length it learned, so a budget from the
references alone can cut it short and count a good answer as "did not stop" (a fixed 256 did
that to the longest Homebrew answers); and a reference longer than anything trained on still
deserves room. The floor leaves a base model room to finish a short answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from assistant_builder.dataset.conversations import read_turns

MIN_NEW_TOKENS, MAX_NEW_TOKENS, FALLBACK_NEW_TOKENS = 64, 1024, 256


def derive_max_new_tokens(reference_lengths: Sequence[int]) -> int:
    """The budget from the token lengths of the expected answers (see the module docstring)."""
    if not reference_lengths:
        return FALLBACK_NEW_TOKENS
    want = math.ceil(max(reference_lengths) * 1.5 / 16) * 16
    return max(MIN_NEW_TOKENS, min(MAX_NEW_TOKENS, want))


def trained_answers(run_dir: Path | None, workspace_train: Path) -> list[str]:
    """The answers the run trained on: its own copy of the split, else the workspace's (also
    when there is no run yet: the base model answers before any training)."""
    own = run_dir / "data" / "train.jsonl" if run_dir else None
    return [t.answer for t in read_turns(own if own and own.is_file() else workspace_train)]


def answer_budget(
    reference_lengths: Sequence[int], trained_lengths: Sequence[int]
) -> tuple[int, str]:
    """(max_new_tokens, where it came from: "references", "dataset", both joined by "+", or
    "default") from the token lengths of the references and of the trained answers."""
    have = (("references", reference_lengths), ("dataset", trained_lengths))
    source = "+".join(name for name, lengths in have if lengths)
    return derive_max_new_tokens([*reference_lengths, *trained_lengths]), source or "default"
