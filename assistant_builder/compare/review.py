"""What a reviewer can promote (compare/promote.py): every rated pair, newest rating first, with
the answer a promotion would take and the targets it was promoted to already. The app's review
view lists these; the promotion itself is :func:`compare.promote.promote`."""

from __future__ import annotations

from dataclasses import dataclass

from assistant_builder.compare.probes import GOLDEN_FILE
from assistant_builder.compare.promote import rated_answer
from assistant_builder.compare.ratings import RatingStore
from assistant_builder.dataset.feedback import PROMOTED_FILE
from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace, read_jsonl


@dataclass(frozen=True)
class RatedPair:
    pair_id: int
    question: str
    verdict: str
    note: str
    rater: str
    models: tuple[str, str]
    answer: str  # what a promotion takes when the reviewer writes none ("": one must be written)
    answer_kind: str  # "correction", "preferred", or "" with no answer
    promoted: tuple[str, ...]  # "dataset" and/or "golden"

    @property
    def source(self) -> str:
        return f"promoted:pair:{self.pair_id}"


def promoted_to(ws: Workspace) -> dict[str, tuple[str, ...]]:
    """Each promoted row's ``source`` (``promoted:pair:3``...) → the targets it went to; a
    served turn's also under ``<source>:turn:<n>`` (a conversation has several)."""
    found: dict[str, list[str]] = {}
    for target, path in (
        ("dataset", ws.dataset_dir / PROMOTED_FILE),
        ("golden", ws.root / GOLDEN_FILE),
    ):
        if not path.is_file():
            continue
        for row in read_jsonl(path):
            source = row.get("source")
            if not isinstance(source, str):
                continue
            keys = [source]
            turn = (row.get("promoted") or {}).get("turn")
            if turn is not None:
                keys.append(f"{source}:turn:{turn}")
            for key in keys:
                if target not in found.setdefault(key, []):
                    found[key].append(target)
    return {k: tuple(v) for k, v in found.items()}


def rated_pairs(ws: Workspace) -> list[RatedPair]:
    """Every pair with a rating (its newest one, as a promotion uses), newest first."""
    if not ws.ratings_db.is_file():
        return []
    with RatingStore(ws.ratings_db) as store:
        newest = {r["pair_id"]: r for r in store.ratings()}  # oldest first: the last one wins
    promoted = promoted_to(ws)
    out = []
    for r in sorted(newest.values(), key=lambda r: r["rating_id"], reverse=True):
        try:
            answer, kind = rated_answer(r)
        except UserError:
            answer, kind = "", ""
        out.append(
            RatedPair(
                pair_id=r["pair_id"],
                question=r["question"],
                verdict=r["verdict"],
                note=(r["note"] or "").strip(),
                rater=r["rater"],
                models=(r["model_a"], r["model_b"]),
                answer=answer,
                answer_kind=kind,
                promoted=promoted.get(f"promoted:pair:{r['pair_id']}", ()),
            )
        )
    return out
