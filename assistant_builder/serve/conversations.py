"""The conversation log of ``serve``: every answered request and the feedback given on it, in
``conversations.db`` (SQLite) in the workspace.

Durability as for ratings: feedback is human work, so every write is its own committed
transaction (autocommit, WAL, ``synchronous=FULL``). The schema follows the same append-only
named migrations as the ratings database.

Grouping: the OpenAI API has no conversation id; each request carries the whole history. An
exchange is filed under the conversation whose last exchange (its messages plus the answer) is
exactly this request's history, else it starts a new conversation. So any client, not only
the web page, gets its turns grouped.

Retention: conversations whose last exchange is older than ``keep_days`` are deleted (with their
feedback) when the log opens and once an hour while serving.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from assistant_builder.compare.migrations import Migration, migrate, utc_now
from assistant_builder.errors import UserError

DB_NAME = "conversations.db"
RATINGS = ("up", "down")

MIGRATIONS: list[Migration] = [
    (
        "m001_initial",
        (
            """CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                created TEXT NOT NULL,
                updated TEXT NOT NULL,
                run TEXT NOT NULL
            )""",
            """CREATE TABLE exchanges (
                id INTEGER PRIMARY KEY,
                completion_id TEXT NOT NULL UNIQUE,
                conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                created TEXT NOT NULL,
                run TEXT NOT NULL,
                messages TEXT NOT NULL,      -- the request's messages (JSON), as sent
                answer TEXT NOT NULL,
                finish_reason TEXT NOT NULL,
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                seconds REAL NOT NULL,
                thread_hash TEXT NOT NULL    -- of messages + answer: where the next turn files
            )""",
            "CREATE INDEX exchanges_by_thread ON exchanges(thread_hash)",
            "CREATE INDEX exchanges_by_conversation ON exchanges(conversation_id)",
            """CREATE TABLE feedback (
                id INTEGER PRIMARY KEY,
                exchange_id INTEGER NOT NULL REFERENCES exchanges(id) ON DELETE CASCADE,
                created TEXT NOT NULL,
                rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
                correction TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX feedback_by_exchange ON feedback(exchange_id)",
        ),
    ),
    # The passages an answer was grounded on (`serve --retrieval`): JSON list, NULL without.
    ("m002_sources", ("ALTER TABLE exchanges ADD COLUMN sources TEXT",)),
]


def thread_hash(messages: list[dict[str, str]]) -> str:
    """Identity of a conversation so far (roles and texts, system prompt included)."""
    canon = [[m["role"], m["content"]] for m in messages]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False).encode()).hexdigest()


class ConversationLog:
    """Append exchanges and feedback; list conversations. Safe to share between threads."""

    def __init__(self, path: Path, keep_days: int | None = None) -> None:
        self.path = path
        self.keep_days = keep_days
        self._lock = threading.Lock()
        try:
            self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            migrate(self.conn, MIGRATIONS)
        except sqlite3.DatabaseError as e:
            raise UserError(f"{path}: not a usable conversation log ({e})") from None
        except UserError as e:  # the shared migrate() words its refusal for ratings.db
            raise UserError(str(e).replace("ratings.db", str(path))) from None
        self._pruned = 0.0
        self.prune()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def prune(self) -> int:
        """Delete conversations idle for longer than ``keep_days``; how many went."""
        self._pruned = time.monotonic()
        if not self.keep_days:
            return 0
        cutoff = (datetime.now(UTC) - timedelta(days=self.keep_days)).isoformat()
        with self._lock:
            cur = self.conn.execute("DELETE FROM conversations WHERE updated < ?", (cutoff,))
        return cur.rowcount

    def record(
        self,
        run: str,
        completion_id: str,
        messages: list[dict[str, str]],
        answer: str,
        finish_reason: str,
        usage: tuple[int, int],
        seconds: float,
        sources: list[dict[str, Any]] | None = None,
    ) -> str:
        """Store one answered request (``sources``: the retrieved passages it was given);
        returns its conversation id."""
        if time.monotonic() - self._pruned > 3600:
            self.prune()
        now = utc_now()
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                row = self.conn.execute(
                    "SELECT conversation_id FROM exchanges WHERE thread_hash = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (thread_hash(messages[:-1]),),
                ).fetchone()
                if row is None:
                    conv = uuid.uuid4().hex[:16]
                    self.conn.execute(
                        "INSERT INTO conversations VALUES (?, ?, ?, ?)", (conv, now, now, run)
                    )
                else:
                    conv = row[0]
                    self.conn.execute(
                        "UPDATE conversations SET updated = ? WHERE id = ?", (now, conv)
                    )
                full = [*messages, {"role": "assistant", "content": answer}]
                self.conn.execute(
                    "INSERT INTO exchanges (completion_id, conversation_id, created, run, "
                    "messages, answer, finish_reason, prompt_tokens, completion_tokens, seconds, "
                    "thread_hash, sources) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        completion_id,
                        conv,
                        now,
                        run,
                        json.dumps(messages, ensure_ascii=False),
                        answer,
                        finish_reason,
                        usage[0],
                        usage[1],
                        round(seconds, 3),
                        thread_hash(full),
                        None if sources is None else json.dumps(sources, ensure_ascii=False),
                    ),
                )
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        return str(conv)

    def feedback(self, completion_id: str, rating: str, correction: str = "") -> int:
        """Thumbs up/down (and an optional corrected answer) on one answer; the feedback id."""
        if rating not in RATINGS:
            raise UserError(f"rating must be 'up' or 'down', got {rating!r}")
        with self._lock:
            row = self.conn.execute(
                "SELECT id FROM exchanges WHERE completion_id = ?", (completion_id,)
            ).fetchone()
            if row is None:
                raise UserError(f"no logged answer {completion_id!r}")
            cur = self.conn.execute(
                "INSERT INTO feedback (exchange_id, created, rating, correction) "
                "VALUES (?, ?, ?, ?)",
                (row[0], utc_now(), rating, correction.strip()),
            )
        return int(cur.lastrowid or 0)

    def conversations(self, limit: int = 50, messages: bool = False) -> list[dict[str, Any]]:
        """The newest conversations (``limit`` < 0: all), each with its exchanges and their
        feedback, oldest first; ``messages``: each exchange with the request's messages too."""
        with self._lock:
            convs = self.conn.execute(
                "SELECT id, created, updated, run FROM conversations ORDER BY updated DESC LIMIT ?",
                (limit,),
            ).fetchall()
            return [self._conversation(row, messages) for row in convs]

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        """One conversation by its id (or a prefix of it naming one), with its messages."""
        cid = conversation_id.strip()
        with self._lock:
            rows = self.conn.execute(
                "SELECT id, created, updated, run FROM conversations WHERE id = ? "
                "OR (? <> '' AND substr(id, 1, length(?)) = ?) LIMIT 3",
                (cid, cid, cid, cid),
            ).fetchall()
            exact = [r for r in rows if r[0] == cid]
            if exact or len(rows) == 1:
                return self._conversation((exact or rows)[0], True)
        if not rows:
            raise UserError(
                f"no served conversation {conversation_id!r} in {self.path} "
                "(`assistant-builder conversations` lists them)"
            )
        raise UserError(f"{conversation_id!r} names several conversations; give more of its id")

    def _conversation(self, row: tuple[Any, ...], messages: bool) -> dict[str, Any]:
        cid, created, updated, run = row
        exchanges = []
        for ex in self.conn.execute(
            "SELECT id, completion_id, created, messages, answer, finish_reason, "
            "prompt_tokens, completion_tokens, seconds, run, sources FROM exchanges "
            "WHERE conversation_id = ? ORDER BY id",
            (cid,),
        ).fetchall():
            fb = [
                {"rating": r, "correction": c, "created": t}
                for r, c, t in self.conn.execute(
                    "SELECT rating, correction, created FROM feedback "
                    "WHERE exchange_id = ? ORDER BY id",
                    (ex[0],),
                )
            ]
            sent = json.loads(ex[3])
            exchange = {
                "completion_id": ex[1],
                "created": ex[2],
                "question": sent[-1]["content"],
                "answer": ex[4],
                "finish_reason": ex[5],
                "prompt_tokens": ex[6],
                "completion_tokens": ex[7],
                "seconds": ex[8],
                "run": ex[9],
                "sources": None if ex[10] is None else json.loads(ex[10]),
                "feedback": fb,
            }
            if messages:
                exchange["messages"] = sent
            exchanges.append(exchange)
        return {"id": cid, "created": created, "updated": updated, "run": run,
                "exchanges": exchanges}  # fmt: skip


def open_log(workspace_root: Path, keep_days: int | None = None) -> ConversationLog:
    return ConversationLog(Path(workspace_root) / DB_NAME, keep_days)
