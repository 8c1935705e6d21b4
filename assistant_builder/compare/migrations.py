"""The ratings database's schema: append-only named migrations (the simonw/llm pattern).

:data:`MIGRATIONS` is an append-only list of named migrations and the ``_migrations`` table
records which ones a database has had. Never edit or reorder an existing migration; add a new
one at the end. ``ratings.py`` holds the store that uses it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from assistant_builder.errors import UserError

# (name, statements). Append only: a database records applied names, not a version number, so
# an edited migration would silently never run on databases that already applied the old one.
Migration = tuple[str, tuple[str, ...]]
MIGRATIONS: list[Migration] = [
    (
        "m001_initial",
        (
            """CREATE TABLE comparisons (
                id INTEGER PRIMARY KEY,
                created TEXT NOT NULL,
                question TEXT NOT NULL,
                reference TEXT NOT NULL DEFAULT '',
                source TEXT,
                -- the models as shown: model_a is whatever the coin put on side A
                model_a TEXT NOT NULL,
                model_b TEXT NOT NULL,
                answer_a TEXT NOT NULL,
                answer_b TEXT NOT NULL,
                -- 1 when the caller's right-hand model landed on side A (the recorded shuffle)
                swapped INTEGER NOT NULL CHECK (swapped IN (0, 1)),
                CHECK (model_a <> model_b)
            )""",
            """CREATE TABLE ratings (
                id INTEGER PRIMARY KEY,
                comparison_id INTEGER NOT NULL REFERENCES comparisons(id),
                rater TEXT NOT NULL,
                verdict TEXT NOT NULL CHECK (verdict IN ('A', 'B', 'tie', 'both_bad')),
                score_a INTEGER CHECK (score_a BETWEEN 1 AND 5),
                score_b INTEGER CHECK (score_b BETWEEN 1 AND 5),
                note TEXT NOT NULL DEFAULT '',
                created TEXT NOT NULL,
                revealed_at TEXT,
                undone_at TEXT
            )""",
            "CREATE INDEX ratings_by_comparison ON ratings(comparison_id)",
            # One live rating per rater and pair: re-rating needs an explicit undo first.
            """CREATE UNIQUE INDEX ratings_one_live_per_rater
                ON ratings(comparison_id, rater) WHERE undone_at IS NULL""",
        ),
    ),
]


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with microseconds (the database's time format)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations ``conn`` has not had yet, each in its own transaction; return their
    names. ``conn`` must be in autocommit mode (``isolation_level=None``)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)"
    )
    applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    unknown = applied - {name for name, _ in migrations}
    if unknown:
        raise UserError(
            "ratings.db was written by a newer assistant-builder "
            f"(unknown migrations: {', '.join(sorted(unknown))}); upgrade to open it"
        )
    done: list[str] = []
    for name, statements in migrations:
        if name in applied:
            continue
        # SQLite DDL is transactional: a failing statement leaves no half-applied migration.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, utc_now()))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        done.append(name)
    return done
