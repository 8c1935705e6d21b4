"""An optional LLM judge through any OpenAI-compatible ``/chat/completions`` endpoint.

Pairwise: the judge sees the question (and the reference answer when there is one) and two
answers, and replies A, B or TIE. LLM judges prefer whichever answer comes first (or second)
more often than chance, so every pair is judged twice with the answers swapped; a side wins
only when both orders agree, otherwise the pair counts as a tie and as ``inconsistent``.

Configuration from options or the environment (``ASSISTANT_BUILDER_JUDGE_URL`` / ``_MODEL`` /
``_KEY``). The key is sent in the Authorization header and nowhere else: it is not part of the
config's repr, error messages or any result, so it never reaches a log, a summary or the disk.
Plain ``urllib``: no client library needed at run time.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.metrics import wilson_interval

ENV_URL = "ASSISTANT_BUILDER_JUDGE_URL"
ENV_MODEL = "ASSISTANT_BUILDER_JUDGE_MODEL"
ENV_KEY = "ASSISTANT_BUILDER_JUDGE_KEY"

SYSTEM = (
    "You are an impartial judge of customer-support answers. Compare two answers to the "
    "user's question for correctness, helpfulness and concision. If a reference answer is "
    "given, treat it as the truth. Reply with exactly one word: A, B or TIE."
)
_VOTE = re.compile(r"\b(A|B|TIE)\b")


@dataclass(frozen=True)
class JudgeConfig:
    url: str
    model: str
    key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    # A compare run asks 2 requests per question; the cap stops a runaway bill or a hung loop.
    max_requests: int = 1000

    @property
    def endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"

    @classmethod
    def from_options(
        cls, url: str | None = None, model: str | None = None, key: str | None = None
    ) -> JudgeConfig | None:
        """Options win over the environment; None when no judge URL is configured at all."""
        url = url or os.environ.get(ENV_URL)
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise UserError(f"judge URL must start with http:// or https://, got {url!r}")
        model = model or os.environ.get(ENV_MODEL)
        if not model:
            raise UserError(f"a judge needs a model name (--judge-model or ${ENV_MODEL})")
        return cls(url=url, model=model, key=key or os.environ.get(ENV_KEY) or None)


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

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self.requests = 0

    def ask(self, question: str, reference: str, first: str, second: str) -> str | None:
        if self.requests >= self.config.max_requests:
            raise UserError(f"the LLM judge hit its limit of {self.config.max_requests} requests")
        self.requests += 1
        body = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": _prompt(question, reference, first, second)},
            ],
            "temperature": 0,
            "max_tokens": 8,
        }
        headers = {"Content-Type": "application/json"}
        if self.config.key:
            headers["Authorization"] = f"Bearer {self.config.key}"
        req = urllib.request.Request(
            self.config.endpoint, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        where = f"LLM judge at {self.config.endpoint}"
        try:
            with urllib.request.urlopen(req, timeout=self.config.timeout) as resp:
                data = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise UserError(f"{where} answered HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(f"{where} unreachable: {reason}") from None
        except json.JSONDecodeError:
            raise UserError(f"{where} did not answer JSON") from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise UserError(f"{where} answered without choices[0].message.content") from None
        return parse_vote(str(content))

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
    config: JudgeConfig,
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
