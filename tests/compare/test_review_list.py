"""The review list: rated pairs with the answer a promotion takes and where each went, and the
newest saved release check of a run; on a real ratings.db and real files."""

from __future__ import annotations

import json

from assistant_builder.compare.promote import promote
from assistant_builder.compare.ratings import RatingStore
from assistant_builder.compare.release_check import last_check
from assistant_builder.compare.review import rated_pairs
from assistant_builder.workspace import Workspace


def _rated(ws: Workspace, question: str, verdict: str, note: str = "") -> int:
    with RatingStore(ws.ratings_db) as store:
        pair = store.add_pair(question, "", "faq.md", "base", "base says", "tuned:r1", "tuned says",
                              swapped=False)  # fmt: skip
        store.rate(pair.id, "ann", verdict, note=note)
    return pair.id


def test_rated_pairs_say_what_a_promotion_would_take(tmp_path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.create()
    assert rated_pairs(ws) == []  # no ratings.db yet: nothing to review, nothing created
    assert not ws.ratings_db.exists()
    won = _rated(ws, "How long is the warranty?", "B", note="B is right")
    fixed = _rated(ws, "Can I return it?", "both_bad", note="Within 30 days, unused.")
    tie = _rated(ws, "Does it dim?", "tie")
    pairs = rated_pairs(ws)
    assert [p.pair_id for p in pairs] == [tie, fixed, won]  # newest first
    by_id = {p.pair_id: p for p in pairs}
    assert (by_id[won].answer, by_id[won].answer_kind) == ("tuned says", "preferred")
    assert (by_id[fixed].answer, by_id[fixed].answer_kind) == ("Within 30 days, unused.",
                                                               "correction")  # fmt: skip
    assert (by_id[tie].answer, by_id[tie].answer_kind) == ("", "")  # the reviewer must write it
    assert by_id[won].note == "B is right" and by_id[won].models == ("base", "tuned:r1")
    assert all(p.promoted == () for p in pairs)
    promote(ws, pair_id=fixed, to="golden", reviewer="rev")
    promote(ws, pair_id=fixed, to="dataset", reviewer="rev")
    promote(ws, pair_id=tie, answer="Yes, in three steps.", reviewer="rev")
    by_id = {p.pair_id: p for p in rated_pairs(ws)}
    assert by_id[fixed].promoted == ("dataset", "golden")
    assert by_id[tie].promoted == ("dataset",) and by_id[won].promoted == ()


def test_last_check_is_the_newest_readable_one(tmp_path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.create()
    assert last_check(ws, "r1") is None
    checks = ws.runs_dir / "r1" / "checks"
    checks.mkdir(parents=True)
    (checks / "20250101-100000.json").write_text(json.dumps({"passed": True, "reasons": []}))
    (checks / "20250101-110000.json").write_text(json.dumps({"passed": False, "reasons": ["x"]}))
    (checks / "20250101-120000.json").write_text("{not json")  # killed mid-write elsewhere
    found = last_check(ws, "r1")
    assert found is not None and found["passed"] is False
    assert found["path"].endswith("20250101-110000.json")
