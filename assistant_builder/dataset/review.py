"""The dataset as a person reviews it: each built conversation with the reviews recorded since
the build laid over it, by the same rule the build applies (:func:`overlay_edit`), so the app's
Dataset screen shows what the next build will train on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant_builder.dataset.conversations import turn_of
from assistant_builder.workspace import read_jsonl

if TYPE_CHECKING:
    from assistant_builder.workspace import Workspace


@dataclass
class Example:
    """One conversation in the review view."""

    id: str
    question: str
    answer: str
    state: str
    how: str
    split: str
    source: str  # the source file, as the build recorded it
    lines: str
    sha256: str | None
    has_text_edit: bool

    def matches(self, needle: str) -> bool:
        return needle in self.question.lower() or needle in self.answer.lower()


def overlay_edit(
    question: str, answer: str, review: str, edit: dict[str, Any] | None, sha256: str | None
) -> tuple[str, str, str, bool]:
    """A person's latest review of an example laid over it: (question, answer, review state,
    whether the text was edited). A review of an earlier version of the source (its sha256
    differs) asks them to look again ("stale"), unless they rejected the example."""
    if not edit:
        return question, answer, review, False
    state = edit["review"]
    if edit.get("sha256") and edit["sha256"] != sha256 and state != "rejected":
        state = "stale"
    edited = "question" in edit or "answer" in edit
    return edit.get("question", question), edit.get("answer", answer), state, edited


def _lines(meta: dict[str, Any]) -> str:
    start, end = meta.get("line_start"), meta.get("line_end")
    return "" if start is None else (f"{start}" if end in (None, start) else f"{start}-{end}")


def review_view(ws: Workspace) -> list[Example]:
    """Built conversations with people's reviews since the build laid over them."""
    from assistant_builder.dataset.build import load_edits

    path = ws.dataset_dir / "conversations.jsonl"
    if not path.is_file():
        return []
    edits = load_edits(ws)
    out = []
    for row in read_jsonl(path):
        turn = turn_of(row)
        meta = turn.meta
        how = meta.get("how", "")
        if how == "paraphrased" and meta.get("paraphrase_steps"):
            # "paraphrased: wordnet-synonym+symptom": the filter and the detail say how.
            how = f"paraphrased: {meta['paraphrase_steps']}"
        q, a, state, edited = overlay_edit(
            turn.question,
            turn.answer,
            meta.get("review", "new"),
            edits.get(meta.get("id", "")),
            meta.get("sha256"),
        )
        source = str(meta.get("source") or "")
        out.append(
            Example(
                meta.get("id", ""),
                q,
                a,
                state,
                "edited" if edited else how,
                meta.get("split", ""),
                source,
                _lines(meta),
                meta.get("sha256"),
                edited or how == "edited",
            )
        )
    return out
