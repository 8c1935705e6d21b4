"""Blind A/B ratings of two models' answers, stored in SQLite (``ratings.db`` in the workspace).

Protocol: :meth:`RatingStore.add_pair` takes two models' answers to one question, flips an
unbiased coin to decide which is shown as A and which as B, records the flip, and hands back a
:class:`BlindPair` that names neither model. :meth:`RatingStore.rate` stores the rater's verdict
and only then returns a :class:`Reveal` saying which model was which.

Durability: ratings are human work and cannot be regenerated, so every rating is its own
committed transaction (autocommit, WAL, ``synchronous=FULL``) before ``rate`` returns: a killed
TUI, a crash or a power cut loses at most the rating being typed. Nothing is ever deleted;
undo marks a rating ``undone_at`` so the history stays auditable.

Schema changes follow the simonw/llm pattern: append-only named migrations, in
``ratings_schema.py`` (never edit or reorder one; add a new one at the end).
"""

from __future__ import annotations

import csv
import io
import json
import random
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant_builder.compare.migrations import MIGRATIONS, Migration, migrate, utc_now
from assistant_builder.errors import UserError
from assistant_builder.metrics import wilson_interval
from assistant_builder.workspace import atomic_write_text

VERDICTS = ("A", "B", "tie", "both_bad")
NO_SOURCE = "(no source)"  # by_source key for comparisons made without a source document


@dataclass(frozen=True)
class BlindPair:
    """What a rater sees: the question and two anonymous answers. Never the model names."""

    id: int
    question: str
    answer_a: str
    answer_b: str
    reference: str = ""
    source: str | None = None


@dataclass(frozen=True)
class Reveal:
    """Shown after a rating: which model was A and which was B, and who won."""

    rating_id: int
    pair_id: int
    verdict: str
    model_a: str
    model_b: str

    @property
    def winner(self) -> str | None:
        """The winning model's name, or None for 'tie' and 'both_bad'."""
        return {"A": self.model_a, "B": self.model_b}.get(self.verdict)


def _check_score(name: str, value: int | None) -> int | None:
    # bool is an int subclass; True as a score is a caller bug worth a message, not a 1.
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise UserError(f"{name} must be a whole number from 1 to 5, got {value!r}")
    return value


def _rate_figures(count: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(count, n)
    return {"count": count, "rate": count / n if n else 0.0, "ci95": [lo, hi]}


class RatingStore:
    """The ratings database. Safe to share between threads (one connection behind a lock)."""

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, so each write is committed when execute returns.
        # check_same_thread=False + a lock: the TUI rates from worker threads.
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL's usual NORMAL survives a process kill but can lose the last commits on power
            # loss; ratings arrive at human speed, so the extra fsync per commit costs nothing.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self.applied_migrations = migrate(self._conn, migrations)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise UserError(f"{self.path}: not a usable ratings database ({exc})") from exc

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> RatingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- pairs -----------------------------------------------------------------------------
    def add_pair(
        self,
        question: str,
        reference: str,
        source: str | None,
        left_name: str,
        left_answer: str,
        right_name: str,
        right_answer: str,
        rng: random.Random | None = None,
        *,
        swapped: bool | None = None,
    ) -> BlindPair:
        """Store one blind pair. A coin flip (``rng``, by default the OS's unpredictable source,
        so a rater cannot guess the order) decides which model is A; the flip is recorded.
        ``swapped``: the flip a caller already made (the right-hand model is A), for a screen
        that had to know the order before the answers existed."""
        return self.add_pairs(
            [(question, reference, source, left_name, left_answer, right_name, right_answer)],
            rng,
            None if swapped is None else [swapped],
        )[0]

    def add_pairs(
        self,
        items: Sequence[tuple[str, str, str | None, str, str, str, str]],
        rng: random.Random | None = None,
        swapped: Sequence[bool] | None = None,
    ) -> list[BlindPair]:
        """:meth:`add_pair` for many items in one transaction (a compare run's whole question
        set): one fsync instead of one per pair, and all or nothing. ``swapped``: one flip per
        item, already drawn by the caller; else ``rng`` flips a coin per item."""
        rng = rng or random.SystemRandom()
        for _, _, _, left, _, right, _ in items:
            if not left.strip() or not right.strip():
                raise UserError("model names must not be empty")
            if left == right:
                raise UserError(f"cannot compare a model with itself: both sides are {left!r}")
        if swapped is None:
            # getrandbits: exactly 1/2, no float rounding involved
            swapped = [rng.getrandbits(1) == 1 for _ in items]
        out: list[BlindPair] = []
        with self._transaction() as conn:
            for (question, reference, source, left, l_ans, right, r_ans), flip in zip(
                items, swapped, strict=True
            ):
                a, ans_a, b, ans_b = (
                    (right, r_ans, left, l_ans) if flip else (left, l_ans, right, r_ans)
                )
                cur = conn.execute(
                    "INSERT INTO comparisons (created, question, reference, source, model_a,"
                    " model_b, answer_a, answer_b, swapped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (utc_now(), question, reference, source, a, b, ans_a, ans_b, int(flip)),
                )
                assert cur.lastrowid is not None
                out.append(BlindPair(cur.lastrowid, question, ans_a, ans_b, reference, source))
        return out

    def _pair_row(self, pair_id: int) -> Any:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM comparisons WHERE id = ?", (pair_id,)
            ).fetchone()
        if row is None:
            raise UserError(f"no comparison with id {pair_id}")
        return row

    def pair(self, pair_id: int) -> BlindPair:
        """The blind view of one stored pair."""
        return self._blind(self._pair_row(pair_id))

    def pending(self, rater: str) -> list[BlindPair]:
        """Pairs ``rater`` has no live rating for, oldest first: where a session resumes."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM comparisons c WHERE NOT EXISTS (SELECT 1 FROM ratings r"
                " WHERE r.comparison_id = c.id AND r.rater = ? AND r.undone_at IS NULL)"
                " ORDER BY c.id",
                (rater,),
            ).fetchall()
        return [self._blind(row) for row in rows]

    def pair_models(self, pair_id: int) -> tuple[str, str]:
        """(model_a, model_b) of a stored pair: for a screen that keeps pairs of different
        pairings apart. Never shown to a rater before the rating."""
        row = self._pair_row(pair_id)
        return row["model_a"], row["model_b"]

    def pairs_by_content(self) -> set[tuple[str, str, str]]:
        """(question, answer, answer) of every stored pair, both ways round: what a caller
        checks before adding a pair, so that re-running compare with cached answers does not
        ask raters to judge the same pair twice."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT question, answer_a, answer_b FROM comparisons"
            ).fetchall()
        return {(q, a, b) for q, a, b in rows} | {(q, b, a) for q, a, b in rows}

    def newest_models(self) -> tuple[str, str] | None:
        """(right, left) model names of the newest stored pair, as they were passed to
        :meth:`add_pair` (the recorded shuffle undone): for compare, (candidate, baseline).
        None when no pair is stored."""
        with self._lock:
            row = self._conn.execute(
                "SELECT model_a, model_b, swapped FROM comparisons ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        a, b = row["model_a"], row["model_b"]
        return (a, b) if row["swapped"] else (b, a)

    @staticmethod
    def _blind(row: sqlite3.Row) -> BlindPair:
        return BlindPair(
            row["id"], row["question"], row["answer_a"], row["answer_b"],
            row["reference"], row["source"],
        )  # fmt: skip

    # -- ratings ---------------------------------------------------------------------------
    def rate(
        self,
        pair_id: int,
        rater: str,
        verdict: str,
        score_a: int | None = None,
        score_b: int | None = None,
        note: str = "",
    ) -> Reveal:
        """Record a verdict on pair ``pair_id``, committed before this returns; reveal names."""
        if verdict not in VERDICTS:
            raise UserError(f"verdict must be one of {', '.join(VERDICTS)}; got {verdict!r}")
        if not rater.strip():
            raise UserError("rater name must not be empty")
        score_a = _check_score("score_a", score_a)
        score_b = _check_score("score_b", score_b)
        now = utc_now()
        with self._lock:
            row = self._conn.execute(
                "SELECT model_a, model_b FROM comparisons WHERE id = ?", (pair_id,)
            ).fetchone()
            if row is None:
                raise UserError(f"no comparison with id {pair_id}")
            try:
                # revealed_at = created: the reveal is shown only once this insert has committed.
                cur = self._conn.execute(
                    "INSERT INTO ratings (comparison_id, rater, verdict, score_a, score_b, note,"
                    " created, revealed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (pair_id, rater, verdict, score_a, score_b, note, now, now),
                )
            except sqlite3.IntegrityError as exc:
                raise UserError(
                    f"{rater!r} has already rated comparison {pair_id}; undo that rating first"
                ) from exc
        assert cur.lastrowid is not None
        return Reveal(cur.lastrowid, pair_id, verdict, row["model_a"], row["model_b"])

    def undo_last(self, rater: str) -> int | None:
        """Undo ``rater``'s most recent live rating; return its pair id (to show it again), or
        None when there is nothing to undo. Repeated calls walk further back."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT id, comparison_id FROM ratings WHERE rater = ? AND undone_at IS NULL"
                " ORDER BY id DESC LIMIT 1",
                (rater,),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE ratings SET undone_at = ? WHERE id = ?", (utc_now(), row["id"]))
        return int(row["comparison_id"])

    # -- reading and export ----------------------------------------------------------------
    EXPORT_FIELDS = (
        "rating_id", "pair_id", "created", "rater", "verdict", "winner", "score_a", "score_b",
        "note", "model_a", "model_b", "swapped", "question", "reference", "source",
        "answer_a", "answer_b", "revealed_at", "undone_at",
    )  # fmt: skip

    def ratings(self, include_undone: bool = False) -> list[dict[str, Any]]:
        """Every rating, un-blinded, oldest first; keys are :attr:`EXPORT_FIELDS`."""
        where = "" if include_undone else "WHERE r.undone_at IS NULL"
        with self._lock:
            rows = self._conn.execute(
                "SELECT r.id AS rating_id, c.id AS pair_id, r.created, r.rater, r.verdict,"
                " CASE r.verdict WHEN 'A' THEN c.model_a WHEN 'B' THEN c.model_b"
                " ELSE r.verdict END AS winner, r.score_a, r.score_b, r.note, c.model_a,"
                " c.model_b, c.swapped, c.question, c.reference, c.source, c.answer_a,"
                " c.answer_b, r.revealed_at, r.undone_at"
                f" FROM ratings r JOIN comparisons c ON c.id = r.comparison_id {where}"
                " ORDER BY r.id"
            ).fetchall()
        return [dict(row) for row in rows]

    def export_jsonl(self, path: Path, include_undone: bool = False) -> int:
        """Write :meth:`ratings` as JSON lines (atomically); return the number of rows."""
        rows = self.ratings(include_undone)
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        atomic_write_text(Path(path), text)
        return len(rows)

    def export_csv(self, path: Path, include_undone: bool = False) -> int:
        """Write :meth:`ratings` as CSV with a header (atomically); NULL becomes an empty cell."""
        rows = self.ratings(include_undone)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(Path(path), buf.getvalue())
        return len(rows)

    # -- the verdict -----------------------------------------------------------------------
    def verdict(self, model_x: str = "tuned", model_y: str = "base") -> dict[str, Any]:
        """Head-to-head figures for ``model_x`` against ``model_y`` from live ratings of pairs
        that put exactly these two models side by side, overall and per source document.

        Each of win / tie / loss / both_bad (from X's point of view) gets a count, a rate over
        all ratings and a 95% Wilson interval. ``decisive`` is X's win share among ratings that
        picked a winner; ``conclusion`` is "x_better" / "y_better" only when that interval
        excludes 0.5, else "inconclusive". Mean 1-5 scores cover the ratings that gave them.
        """
        if model_x == model_y:
            raise UserError(f"cannot compare a model with itself: both sides are {model_x!r}")
        with self._lock:
            rows = self._conn.execute(
                "SELECT c.source, c.model_a, r.verdict, r.score_a, r.score_b FROM ratings r"
                " JOIN comparisons c ON c.id = r.comparison_id WHERE r.undone_at IS NULL"
                " AND ((c.model_a = ? AND c.model_b = ?) OR (c.model_a = ? AND c.model_b = ?))"
                " ORDER BY r.id",
                (model_x, model_y, model_y, model_x),
            ).fetchall()
        groups: dict[str, list[tuple[str, int | None, int | None]]] = {}
        overall: list[tuple[str, int | None, int | None]] = []
        for row in rows:
            x_is_a = row["model_a"] == model_x
            outcome = row["verdict"]  # 'tie' and 'both_bad' read the same from either side
            if outcome in ("A", "B"):
                outcome = "win" if (outcome == "A") == x_is_a else "loss"
            sx, sy = (row["score_a"], row["score_b"])
            item = (outcome, sx, sy) if x_is_a else (outcome, sy, sx)
            overall.append(item)
            groups.setdefault(row["source"] or NO_SOURCE, []).append(item)
        return {
            "model_x": model_x,
            "model_y": model_y,
            "overall": _summarise(overall),
            "by_source": {src: _summarise(items) for src, items in sorted(groups.items())},
        }


def _summarise(items: list[tuple[str, int | None, int | None]]) -> dict[str, Any]:
    n = len(items)
    counts = {k: sum(1 for o, _, _ in items if o == k) for k in ("win", "tie", "loss", "both_bad")}
    decided = counts["win"] + counts["loss"]
    lo, hi = wilson_interval(counts["win"], decided)
    conclusion = "inconclusive"
    if decided and lo > 0.5:
        conclusion = "x_better"
    elif decided and hi < 0.5:
        conclusion = "y_better"
    xs = [sx for _, sx, _ in items if sx is not None]
    ys = [sy for _, _, sy in items if sy is not None]
    return {
        "n": n,
        **{k: _rate_figures(c, n) for k, c in counts.items()},
        "decisive": _rate_figures(counts["win"], decided) | {"n": decided},
        "conclusion": conclusion,
        "mean_score_x": sum(xs) / len(xs) if xs else None,
        "mean_score_y": sum(ys) / len(ys) if ys else None,
    }
