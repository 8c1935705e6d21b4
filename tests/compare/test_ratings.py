"""The blind A/B ratings store: shuffle, durability, migrations, undo, export, verdict."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from assistant_builder.compare.ratings import MIGRATIONS, NO_SOURCE, BlindPair, RatingStore, migrate
from assistant_builder.errors import UserError

REPO = Path(__file__).resolve().parents[2]


class FixedCoin(random.Random):
    """An rng whose coin flips follow a script, so a test knows which side each model is on."""

    def __init__(self, flips: list[int]) -> None:
        super().__init__(0)
        self._flips = iter(flips)

    def getrandbits(self, k: int) -> int:
        return next(self._flips)


@pytest.fixture
def store(tmp_path: Path) -> RatingStore:
    return RatingStore(tmp_path / "ratings.db")


def _add(store: RatingStore, i: int, source: str | None = "faq.md", **kw: object) -> BlindPair:
    left = str(kw.get("left", "tuned"))
    right = str(kw.get("right", "base"))
    rng = kw.get("rng")
    assert rng is None or isinstance(rng, random.Random)
    return store.add_pair(
        f"question {i}", f"reference {i}", source, left, f"{left}:{i}", right, f"{right}:{i}", rng
    )


def test_opens_in_wal_mode_and_blind_pair_hides_the_models(tmp_path: Path) -> None:
    path = tmp_path / "ws" / "ratings.db"
    with RatingStore(path) as s:
        pair = _add(s, 1)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert not any("model" in f.name for f in dataclasses.fields(BlindPair))
    assert {pair.answer_a, pair.answer_b} == {"tuned:1", "base:1"}


def test_shuffle_is_unbiased_reproducible_and_recorded(store: RatingStore) -> None:
    n = 2000
    items = [(f"q{i}", "", None, "tuned", f"tuned:{i}", "base", f"base:{i}") for i in range(n)]
    pairs = store.add_pairs(items, random.Random(1234))
    tuned_on_a = sum(p.answer_a.startswith("tuned:") for p in pairs)
    # Binomial(2000, 0.5) has sd ~ 22 (1.1%); 0.45-0.55 is more than 4 sd either way.
    assert 0.45 <= tuned_on_a / n <= 0.55
    assert 0 < tuned_on_a < n
    # The same seed gives the same order (a compare run can be replayed).
    again = RatingStore(store.path.with_name("other.db")).add_pairs(items, random.Random(1234))
    assert [p.answer_a for p in again] == [p.answer_a for p in pairs]
    # The reveal matches what was shown: the model named as A is the one whose answer was A.
    for pair in pairs[:40]:
        reveal = store.rate(pair.id, "kim", "A")
        assert pair.answer_a.startswith(reveal.model_a + ":")
        assert pair.answer_b.startswith(reveal.model_b + ":")
        assert reveal.winner == reveal.model_a
    # ... and the stored flip says whether the caller's right-hand model ("base") went to A.
    for row in store.ratings():
        assert row["swapped"] == (row["model_a"] == "base")


def test_default_rng_and_free_model_names(store: RatingStore) -> None:
    pair = _add(store, 1, left="run-20250101", right="run-20250202")
    assert store.pair(pair.id) == pair  # the blind view reads back as it was handed out
    with pytest.raises(UserError, match="no comparison with id 42"):
        store.pair(42)
    reveal = store.rate(pair.id, "kim", "B", score_a=2, score_b=4, note="clearer")
    assert {reveal.model_a, reveal.model_b} == {"run-20250101", "run-20250202"}
    assert reveal.winner == reveal.model_b


def test_input_validation(store: RatingStore) -> None:
    pair = _add(store, 1)
    with pytest.raises(UserError, match="verdict must be one of A, B, tie, both_bad"):
        store.rate(pair.id, "kim", "C")
    for bad in (0, 6, True, 2.5):
        with pytest.raises(UserError, match="score_a must be a whole number from 1 to 5"):
            store.rate(pair.id, "kim", "A", score_a=bad)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="no comparison with id 999"):
        store.rate(999, "kim", "A")
    with pytest.raises(UserError, match="rater"):
        store.rate(pair.id, "  ", "A")
    with pytest.raises(UserError, match="itself"):
        _add(store, 2, left="base", right="base")
    with pytest.raises(UserError, match="itself"):
        store.verdict("base", "base")
    store.rate(pair.id, "kim", "A")
    with pytest.raises(UserError, match="already rated"):
        store.rate(pair.id, "kim", "B")
    assert len(store.ratings()) == 1  # the bad attempts stored nothing


def test_not_a_database_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "ratings.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a usable ratings database"):
        RatingStore(path)


def test_undo_last_walks_back_one_rater_at_a_time(store: RatingStore) -> None:
    p1, p2, p3 = (_add(store, i) for i in range(3))
    store.rate(p1.id, "kim", "A")
    store.rate(p2.id, "kim", "tie")
    store.rate(p1.id, "lee", "B")
    store.rate(p3.id, "kim", "both_bad")
    assert store.undo_last("kim") == p3.id
    assert store.undo_last("kim") == p2.id
    assert [(r["rater"], r["pair_id"]) for r in store.ratings()] == [("kim", p1.id), ("lee", p1.id)]
    assert [p.id for p in store.pending("kim")] == [p2.id, p3.id]
    # Undone ratings are kept, marked, for the audit trail; the pair can be rated again.
    assert sum(r["undone_at"] is not None for r in store.ratings(include_undone=True)) == 2
    store.rate(p3.id, "kim", "A")
    assert store.undo_last("nobody") is None
    assert store.undo_last("lee") == p1.id
    assert store.undo_last("lee") is None


def test_export_csv_and_jsonl_round_trip(store: RatingStore, tmp_path: Path) -> None:
    tricky = 'line one\nline "two", with a comma; ünïcödé ✓'
    p1 = store.add_pair(tricky, "ref", None, "tuned", tricky, "base", "b", random.Random(3))
    p2 = _add(store, 2)
    store.rate(p1.id, "kim", "A", score_a=5, score_b=1, note=tricky)
    store.rate(p2.id, "kim", "tie")
    rows = store.ratings()

    assert store.export_jsonl(tmp_path / "out" / "ratings.jsonl") == 2
    lines = (tmp_path / "out" / "ratings.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows

    assert store.export_csv(tmp_path / "ratings.csv") == 2
    with open(tmp_path / "ratings.csv", newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert back == [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]
    assert back[0]["note"] == tricky and back[0]["source"] == ""


def test_migrations_apply_once_and_appended_ones_apply_once(tmp_path: Path) -> None:
    path = tmp_path / "ratings.db"
    first = RatingStore(path)
    assert first.applied_migrations == ["m001_initial"]
    first.rate(_add(first, 1).id, "kim", "A")
    first.close()
    assert RatingStore(path).applied_migrations == []  # reopen: nothing re-applied

    newer = [*MIGRATIONS, ("m002_flavour", ("ALTER TABLE ratings ADD COLUMN flavour TEXT",))]
    s = RatingStore(path, newer)
    assert s.applied_migrations == ["m002_flavour"]
    assert len(s.ratings()) == 1  # existing data kept
    s.close()
    assert RatingStore(path, newer).applied_migrations == []
    conn = sqlite3.connect(path)
    assert "flavour" in [r[1] for r in conn.execute("PRAGMA table_info(ratings)")]
    assert [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")] == [
        "m001_initial",
        "m002_flavour",
    ]
    # Older code must refuse a database migrated by newer code rather than misread it.
    with pytest.raises(UserError, match="newer assistant-builder"):
        RatingStore(path)


def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    bad = [*MIGRATIONS, ("m002_bad", ("CREATE TABLE half (x)", "THIS IS NOT SQL"))]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, bad)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "comparisons" in tables and "half" not in tables
    assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == ["m001_initial"]


CHILD = """
import sys
from pathlib import Path
from assistant_builder.compare.ratings import RatingStore

store = RatingStore(Path(sys.argv[1]))
i = 0
while True:  # rate until killed
    pair = store.add_pair(f"q{i}", "", "doc", "tuned", "t", "base", "b")
    reveal = store.rate(pair.id, "kim", "A", score_a=4, note=f"note {i}")
    print(reveal.rating_id, pair.id, flush=True)  # only after rate() has returned
    i += 1
"""


def test_ratings_survive_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "ratings.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    reported: list[tuple[int, int]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            rating_id, pair_id = map(int, line.split())
            reported.append((rating_id, pair_id))
            if len(reported) == 30:
                break
        os.kill(proc.pid, signal.SIGKILL)  # no chance to close, flush or checkpoint
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(reported) == 30, "the child died before rating anything"

    stored = {(r["rating_id"], r["pair_id"]): r for r in RatingStore(path).ratings()}
    for key in reported:
        assert key in stored, f"rating {key} was reported committed but is missing"
        assert stored[key]["verdict"] == "A" and stored[key]["score_a"] == 4


def test_verdict_hand_example(store: RatingStore) -> None:
    # tuned is always passed as the left model; flips 1 put it on side B, 0 on side A.
    flips = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    coin = FixedCoin(flips)
    docs = ["a.md"] * 5 + ["b.md"] * 4 + [None]
    pairs = [_add(store, i, source=doc, rng=coin) for i, doc in enumerate(docs)]
    outcomes = ["win", "win", "win", "win", "tie", "win", "loss", "tie", "both_bad", "win"]
    for i, (pair, flip, outcome) in enumerate(zip(pairs, flips, outcomes, strict=True)):
        tuned_side, base_side = ("B", "A") if flip else ("A", "B")
        verdict = {"win": tuned_side, "loss": base_side}.get(outcome, outcome)
        # Scores on two pairs only, as (A, B): pair 0 has tuned on A (tuned 5, base 2),
        # pair 1 has tuned on B (base 3, tuned 4).
        scores = {0: (5, 2), 1: (3, 4)}.get(i, (None, None))
        store.rate(pair.id, "kim", verdict, score_a=scores[0], score_b=scores[1])
    # Noise that must not count: an undone rating, and a pair of other models.
    store.rate(pairs[0].id, "lee", "B")
    store.undo_last("lee")
    extra = _add(store, 99, left="run2", right="base")
    run2_side = "A" if extra.answer_a.startswith("run2:") else "B"
    store.rate(extra.id, "kim", run2_side)

    v = store.verdict("tuned", "base")
    o = v["overall"]
    # overall: n = 10, win 6, tie 2, loss 1, both_bad 1
    assert (o["n"], o["win"]["count"], o["tie"]["count"]) == (10, 6, 2)
    assert (o["loss"]["count"], o["both_bad"]["count"]) == (1, 1)
    assert o["win"]["rate"] == pytest.approx(0.6)
    # Wilson(6, 10): centre = (0.6 + 0.19208) / 1.38416 = 0.572246
    #   half = 1.96 * sqrt(0.024 + 0.009604) / 1.38416 = 1.96 * 0.183314 / 1.38416 = 0.259577
    assert o["win"]["ci95"] == pytest.approx([0.31267, 0.83182], abs=1e-4)
    # decisive: 6 wins of 7 decided. Wilson(6, 7): z^2/n = 0.5488, denom 1.5488
    #   centre = (0.857143 + 0.2744) / 1.5488 = 0.730594
    #   half = 1.96 * sqrt(0.017493 + 0.019600) / 1.5488 = 0.243729 -> (0.48687, 0.97432)
    assert o["decisive"]["n"] == 7 and o["decisive"]["rate"] == pytest.approx(6 / 7)
    assert o["decisive"]["ci95"] == pytest.approx([0.48687, 0.97432], abs=1e-4)
    assert o["conclusion"] == "inconclusive"  # lower bound 0.487 < 0.5
    # scores seen from tuned's side: (5 + 4) / 2 and (2 + 3) / 2
    assert (o["mean_score_x"], o["mean_score_y"]) == (4.5, 2.5)

    by = v["by_source"]
    assert list(by) == [NO_SOURCE, "a.md", "b.md"]
    # a.md: 4 wins, 1 tie; decisive Wilson(4, 4): centre = (1 + 0.4802) / 1.9604 = 0.75505,
    #   half = 1.96 * sqrt(3.8416 / 64) / 1.9604 = 0.24495 -> (0.51010, 1.0): tuned better
    assert by["a.md"]["win"]["count"] == 4 and by["a.md"]["tie"]["count"] == 1
    assert by["a.md"]["decisive"]["ci95"] == pytest.approx([0.51010, 1.0], abs=1e-4)
    assert by["a.md"]["conclusion"] == "x_better"
    b = by["b.md"]
    assert [b[k]["count"] for k in ("win", "tie", "loss", "both_bad")] == [1, 1, 1, 1]
    assert by[NO_SOURCE]["n"] == 1 and by[NO_SOURCE]["mean_score_x"] is None

    # The same ratings seen from base's side mirror wins and losses.
    mirrored = store.verdict("base", "tuned")["overall"]
    assert (mirrored["win"]["count"], mirrored["loss"]["count"]) == (1, 6)
    assert mirrored["mean_score_x"] == 2.5
    # Two tuned runs (or any free names) work the same way.
    other = store.verdict("run2", "base")["overall"]
    assert other["n"] == 1 and other["win"]["count"] == 1
    assert store.verdict("nobody", "base")["overall"]["n"] == 0


def test_pairs_by_content_and_newest_models(store: RatingStore) -> None:
    assert store.pairs_by_content() == set() and store.newest_models() is None
    store.add_pair("q1", "", None, "base", "b1", "tuned:r1", "t1", FixedCoin([1]))
    assert store.pairs_by_content() == {("q1", "t1", "b1"), ("q1", "b1", "t1")}
    assert store.newest_models() == ("tuned:r1", "base")  # the coin undone: (right, left)
    store.add_pair("q2", "", None, "tuned:r1", "t2", "tuned:r2", "u2", FixedCoin([0]))
    assert store.newest_models() == ("tuned:r2", "tuned:r1")
    assert ("q2", "u2", "t2") in store.pairs_by_content()
