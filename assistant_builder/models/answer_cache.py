"""A cache of generated answers in the workspace (``cache/answers.sqlite``).

Generating on a CPU costs seconds per answer, and a team compares the same eval split again and
again (after each run, after a rating session, from the TUI and the CLI). An answer is a pure
function of (base weights, adapter weights, rendered prompt, generation settings) when decoding
is greedy, so it is cached under a key built from exactly those:

- ``model``: a fingerprint of the base model (name plus, for a local folder, its config and
  weight file sizes, so a re-converted checkpoint does not serve stale answers);
- ``adapter``: the adapter's content hash, or ``"base"`` for the adapter switched off;
- ``prompt``: the chat-template rendering of system prompt + question (it captures both, and the
  template itself); question and system prompt are stored as columns for people to read;
- ``settings``: the generation settings that change the output (see ``GenSettings.cache_key``).

Sampled answers are cached too (with seed and sampling settings in the key) so a re-run shows the
same text the rater saw. Corrupt or foreign files are replaced, never trusted: it is a cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    adapter TEXT NOT NULL,
    system_prompt TEXT NOT NULL,
    question TEXT NOT NULL,
    settings TEXT NOT NULL,
    text TEXT NOT NULL,
    stopped INTEGER NOT NULL,
    new_tokens INTEGER NOT NULL,
    created TEXT NOT NULL
)"""


def cache_key(model: str, adapter: str, prompt: str, settings: str) -> str:
    blob = json.dumps([model, adapter, prompt, settings], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """Thread-safe (one connection behind a lock): the TUI generates from worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError:
            # Not a database (a truncated copy, a stray file): a cache may simply start over.
            self.path.unlink(missing_ok=True)
            self._conn = self._open()
        self.hits = 0
        self.misses = 0

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(SCHEMA)
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT text, stopped, new_tokens FROM answers WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return {"text": row[0], "stopped": bool(row[1]), "new_tokens": int(row[2])}

    def put(
        self,
        key: str,
        *,
        model: str,
        adapter: str,
        system_prompt: str,
        question: str,
        settings: str,
        text: str,
        stopped: bool,
        new_tokens: int,
    ) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    model,
                    adapter,
                    system_prompt,
                    question,
                    settings,
                    text,
                    int(stopped),
                    new_tokens,
                    now,
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
