"""An optional LLM judge through any OpenAI-compatible ``/chat/completions`` endpoint.

Pairwise: the judge sees the question (and the reference answer when there is one) and two
answers, and replies A, B or TIE. LLM judges prefer whichever answer comes first (or second)
more often than chance, so every pair is judged twice with the answers swapped; a side wins
only when both orders agree, otherwise the pair counts as a tie and as ``inconsistent``.

Configuration from options or the environment (``ASSISTANT_BUILDER_JUDGE_URL`` / ``_MODEL`` /
``_KEY``), through the shared endpoint client of ``models/endpoint.py``: the key never reaches
a log, a summary or the disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.metrics import wilson_interval
from assistant_builder.models.endpoint import ChatEndpoint, EndpointConfig

ENV_PREFIX = "ASSISTANT_BUILDER_JUDGE"

SYSTEM = (
    "You are an impartial judge of customer-support answers. Compare two answers to the "
    "user's question for correctness, helpfulness and concision. If a reference answer is "
    "given, treat it as the truth. Reply with exactly one word: A, B or TIE."
)
_VOTE = re.compile(r"\b(A|B|TIE)\b")


# The judge's endpoint settings: the shared endpoint config (models/endpoint.py).
JudgeConfig = EndpointConfig
# A compare run asks 2 requests per question; the cap stops a runaway bill or a hung loop.
MAX_REQUESTS = 1000


def judge_config(
    url: str | None = None, model: str | None = None, key: str | None = None
) -> EndpointConfig | None:
    """Options win over the environment; None when no judge URL is configured at all."""
    return EndpointConfig.from_env(ENV_PREFIX, url, model, key, max_requests=MAX_REQUESTS)


def _prompt(question: str, reference: str, first: str, second: str) -> str:
    parts = [f"Question:\n{question}"]
    if reference:
        parts.append(f"Reference answer:\n{reference}")
    parts += [f"Answer A:\n{first}", f"Answer B:\n{second}", "Which answer is better? A, B or TIE?"]
    return "\n\n".join(parts)


def parse_vote(text: str) -> str | None:
    """'A', 'B' or 'TIE' from the judge's reply (the first one it names), else None."""
    m = _VOTE.search(text.upper())
    return m.group(1) if m else None


class Judge:
    """Holds the request budget across calls."""

    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self.endpoint = ChatEndpoint(config, "LLM judge")

    @property
    def requests(self) -> int:
        return self.endpoint.requests

    def ask(self, question: str, reference: str, first: str, second: str) -> str | None:
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": _prompt(question, reference, first, second)},
        ]
        return parse_vote(self.endpoint.chat(messages, max_tokens=8, temperature=0))

    def pair(self, question: str, reference: str, x: str, y: str) -> dict[str, Any]:
        """Judge answer ``x`` against ``y`` in both orders: winner 'x', 'y' or 'tie'."""
        first = self.ask(question, reference, x, y)  # x shown as A
        second = self.ask(question, reference, y, x)  # x shown as B
        as_x = {"A": "x", "B": "y", "TIE": "tie", None: None}
        swapped = {"A": "y", "B": "x", "TIE": "tie", None: None}
        v1, v2 = as_x[first], swapped[second]
        consistent = v1 == v2 and v1 is not None
        return {
            "winner": v1 if consistent else "tie",
            "votes": [first, second],
            "consistent": consistent,
        }


def judge_pairs(
    config: EndpointConfig,
    items: Sequence[tuple[str, str, str, str]],
    on_event: OnEvent = ignore,
) -> dict[str, Any]:
    """Judge (question, reference, answer_x, answer_y) items; x is the candidate (tuned).
    Returns counts, x's win share among decided items with a 95% Wilson interval, the
    number of order-inconsistent votes, and the per-item votes under ``items``."""
    judge = Judge(config)
    votes = []
    for i, (q, ref, x, y) in enumerate(items, 1):
        votes.append(judge.pair(q, ref, x, y))
        on_event(Progress("judge", "judging", done=i, total=len(items)))
    wins = sum(v["winner"] == "x" for v in votes)
    losses = sum(v["winner"] == "y" for v in votes)
    lo, hi = wilson_interval(wins, wins + losses)
    return {
        "model": config.model,
        "n": len(votes),
        "win": wins,
        "loss": losses,
        "tie": len(votes) - wins - losses,
        "inconsistent": sum(not v["consistent"] for v in votes),
        "win_share": wins / (wins + losses) if wins + losses else None,
        "ci95": [lo, hi],
        "requests": judge.requests,
        "items": votes,
    }
