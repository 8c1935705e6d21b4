"""Guessed continuations for speculative decoding, looked up in text the answer is likely to
copy: the request's own prompt (retrieved passages, the customer's words) and the answers the
run was trained on (a tuned FAQ model gives them back nearly word for word).

The guesses cost no model: the last ``n`` tokens of the context are looked up in an index of
every ``n``-token run of those sequences, and the tokens that followed the first occurrence
are the guess. The decoder checks a guess in one pass of the model (one pass reads the
weights once, whatever the number of rows, and reading the weights is where a CPU decode
step's time goes) and keeps the longest prefix the model itself would have chosen, so greedy
answers stay the model's own; a wrong guess costs that one pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

# The context a guess must match: 3 tokens is rarely a coincidence inside one FAQ's answers,
# and a wrong guess only pauses guessing (RequestDrafts); the speed is measured in
# benchmarks/README.md, "Single stream: fp16 steps and checked guesses".
MATCH = 3
GUESS = 8


class Drafts:
    """An index of token sequences; :meth:`propose` gives the continuation of a context."""

    def __init__(self, sequences: Iterable[list[int]] = (), match: int = MATCH) -> None:
        if match < 1:
            raise ValueError("match must be at least 1 token")
        self.match = match
        self.sequences: list[list[int]] = []
        self._at: dict[tuple[int, ...], tuple[int, int]] = {}
        for seq in sequences:
            self.add(seq)

    def __len__(self) -> int:
        return len(self.sequences)

    def add(self, seq: list[int]) -> None:
        """Index ``seq``; an ``n``-gram seen before keeps its first continuation."""
        n, which = self.match, len(self.sequences)
        self.sequences.append(list(seq))
        for i in range(len(seq) - n):
            self._at.setdefault(tuple(seq[i : i + n]), (which, i + n))

    def propose(self, context: list[int], limit: int = GUESS) -> list[int]:
        """Up to ``limit`` tokens that followed the context's last ``match`` tokens, or []."""
        if len(context) < self.match or limit < 1:
            return []
        hit = self._at.get(tuple(context[-self.match :]))
        if hit is None:
            return []
        seq, at = hit
        return self.sequences[seq][at : at + limit]


class RequestDrafts:
    """Guesses for one request: its own prompt first (a passage or the customer's words the
    answer repeats), then the shared answers.

    A wrong guess costs a pass that checks several rows, dearer than one step, so after one
    the request stops guessing for a while: 1 token, then 2, 4 ... up to ``MAX_PAUSE`` while
    guesses keep failing; a guess with any token right ends the pause. An answer that is not
    in the material then pays for few checks, and one that copies it is checked throughout.

    The guess length follows the answer too (the schedule transformers' assisted generation
    calls "heuristic"): two tokens longer after a guess taken whole, one shorter otherwise,
    within [``MIN_GUESS``, ``GUESS``] and never more than a caller's ``limit``. A check's
    cost grows with its rows, so an answer that copies only a few tokens at a time checks
    short guesses (benchmarks/README.md, "Single stream").
    """

    MAX_PAUSE = 32
    MIN_GUESS = 2
    FIRST_GUESS = 4

    def __init__(self, prompt_ids: list[int], shared: Drafts | None) -> None:
        self.prompt = prompt_ids
        self.own = Drafts([prompt_ids], match=(shared.match if shared else MATCH))
        self.shared = shared
        self.pause = 0  # tokens to go before the next guess
        self.failed = 0  # wrong guesses in a row
        self.length = self.FIRST_GUESS  # tokens to guess next time
        self._asked = 0  # the length of the last guess

    def taken(self, right: int) -> None:
        """How many tokens of the last guess the model chose."""
        whole = right >= self._asked > 0
        self.length = min(self.length + 2, GUESS) if whole else max(self.length - 1, self.MIN_GUESS)
        if right:
            self.failed = 0
            return
        self.failed += 1
        self.pause = min(2 ** (self.failed - 1), self.MAX_PAUSE)

    def propose(self, generated: list[int], limit: int = GUESS) -> list[int]:
        if self.pause:
            self.pause -= 1
            return []
        limit = min(limit, self.length)
        n = self.own.match
        tail = generated[-n:]
        if len(tail) < n:
            tail = self.prompt[len(tail) - n :] + tail
        guess = self.own.propose(tail, limit)
        if not guess and self.shared is not None:
            guess = self.shared.propose(tail, limit)
        self._asked = len(guess)
        return guess


def answers_of(rows_file: Path) -> list[str]:
    """The assistant turns of a dataset's ``messages`` rows (JSONL); unreadable lines are
    skipped, since guesses only ever speed decoding up."""
    out: list[str] = []
    try:
        lines = rows_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        for msg in row.get("messages", []) if isinstance(row, dict) else []:
            if isinstance(msg, dict) and msg.get("role") == "assistant":
                text = msg.get("content")
                if isinstance(text, str) and text.strip():
                    out.append(text)
    return out


def answer_drafts(
    answers: Iterable[str], encode: Callable[[str], list[int]], end_id: int | None
) -> Drafts:
    """Drafts over the token ids of ``answers``, each followed by the end-of-turn token so a
    guess can also end the answer. Duplicate answers are indexed once."""
    drafts = Drafts()
    for text in dict.fromkeys(answers):
        ids = encode(text)
        drafts.add(ids + ([end_id] if end_id is not None else []))
    return drafts
