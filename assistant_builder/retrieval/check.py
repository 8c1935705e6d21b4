"""Whether an FAQ entry answers a customer's question, asked of a small language model.

BM25 and the coverage bar (``Index.coverage``) only see shared words, so "installing one thing
upgrades a ton of others" misses the entry "Why does `brew install` upgrade formulae?" (0.29 of
its weight, under the 0.4 bar), and an entry that shares more words can rank above the right
one. The check reads each of the best few entries and asks how much more likely the
customer's question becomes after it: the mean per-token log-probability of the question after
the entry ("Help centre article: ... A customer's question about this article:") minus that
after a neutral prefix ("A customer's question:"). That is query likelihood, the zero-shot
reranker of UPR (Sachan et al., 2022), normalised by the question's own likelihood so that
questions are comparable (pointwise mutual information in nats per token).

The model is always the embedded default (SmolLM2-135M-Instruct, offline): the bars below were
measured with it, on five FAQs' golden questions and 60 off-topic probes
(benchmarks/retrieval_match.py --check), whatever base model the run itself tuned.

The rule (``pick``): the candidates are the best ``CHECK_K`` BM25 entries that hold at least
``CHECK_MIN_COVERAGE`` of the question's weight (only those are read, so a question that shares
little with every entry costs nothing); the one the model finds the best fit is taken when its
fit is at least ``CHECK_MIN_FIT`` and beats every other candidate's by ``CHECK_MARGIN``;
otherwise the lexical rule stands (the best BM25 entry over the bar, or none). So the check can
take an entry under the bar or ahead of BM25's first, but only with a clear margin; an
off-topic question, which fits no entry well, keeps the lexical answer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

CHECK_K = 5
# Chosen on five FAQs' golden questions and 60 off-topic probes (benchmarks/README.md, "The
# model check of the best entries"): reworded questions reaching the right entry 17 → 25 of 46,
# a wrong one 7 → 4, probes matched 14 → 14 of 300. Reworded questions that fit their entry
# scored up to 3.9, probes at most 1.4 (nearly all under 1.0).
CHECK_MIN_COVERAGE = 0.25
CHECK_MIN_FIT = 1.5
CHECK_MARGIN = 0.2
# The entry's first tokens are what the model reads: its question and the answer's opening.
BODY_TOKENS = 64
# A longer message is not a question the check can weigh (and would cost a long forward pass
# per entry); such a message is matched by words alone.
MAX_QUESTION_TOKENS = 256
_ENTRY = "Help centre article:\n{title}\n{body}\n\nA customer's question about this article:\n"
_NEUTRAL = "A customer's question:\n"


@dataclass
class Candidate:
    """One of the best BM25 entries for a question, with what the rule looks at."""

    hit: Any  # retrieval.index.Hit
    coverage: float
    fit: float | None = None


def pick(candidates: Sequence[Candidate]) -> Candidate | None:
    """The entry the model check takes (see the module's rule), else None: the lexical rule
    stands. ``candidates`` are the entries over the coverage floor, their fits filled in."""
    scored = [c for c in candidates if c.fit is not None]
    if not scored:
        return None
    best = max(scored, key=lambda c: c.fit or 0.0)
    fit = best.fit or 0.0
    rivals = [c.fit or 0.0 for c in scored if c is not best]
    if fit >= CHECK_MIN_FIT and all(fit - r >= CHECK_MARGIN for r in rivals):
        return best
    return None


_LOADING = threading.Lock()
_DEFAULT: EntryCheck | None = None


def entry_check(engine: Any) -> tuple[EntryCheck | None, list[str]]:
    """The check for ``engine``, or None and why not (matching then stays lexical)."""
    from assistant_builder.errors import UserError

    try:
        return EntryCheck.for_engine(engine), []
    except (UserError, OSError, ValueError) as e:
        return None, [f"the model check of retrieved entries is off ({e}): matched by words only"]


class EntryCheck:
    """Scores how well entries fit a question with a causal LM (see the module docstring).

    ``context`` is entered around every forward pass: an engine that shares its model passes
    its adapter-off context (the check must read with the base weights) and its lock."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        context: Callable[[], Any] | None = None,
        lock: Any = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self._context = context or contextlib.nullcontext
        self._lock = lock or threading.Lock()

    @classmethod
    def for_engine(cls, engine: Any) -> EntryCheck:
        """The check for an engine: its own model with the adapters off when the engine runs
        the default base model, else the default model loaded on its own."""
        from assistant_builder.models.default import DEFAULT_MODEL

        if getattr(engine, "base_model", None) == DEFAULT_MODEL and hasattr(engine, "base_weights"):
            return cls(
                engine.model, engine.tokenizer, context=engine.base_weights, lock=engine.lock
            )
        return cls.default()

    @classmethod
    def default(cls) -> EntryCheck:
        """The default model on its own, loaded once per process (the serve thread and the
        eval share it; its lock keeps their forward passes apart)."""
        global _DEFAULT
        with _LOADING:
            if _DEFAULT is None:
                from assistant_builder.models.loading import load_model, load_tokenizer

                model = load_model("default")
                model.eval()
                _DEFAULT = cls(model, load_tokenizer("default", require_chat_template=False))
            return _DEFAULT

    def fits(self, question: str, candidates: Sequence[Candidate]) -> str | None:
        """Fill in each candidate's fit for ``question`` (one batched forward pass); or leave
        them unscored and say why (an empty or overlong question)."""
        tok = self.tokenizer
        tail = tok(" " + question.strip(), add_special_tokens=False)["input_ids"]
        n = len(tail)
        if not candidates:
            return None
        if n == 0 or n > MAX_QUESTION_TOKENS:
            return (
                f"the question is {n} tokens, over the {MAX_QUESTION_TOKENS} the model check "
                "reads: matched by words alone"
                if n
                else "an empty question: matched by words alone"
            )
        prefixes = [_NEUTRAL]
        for c in candidates:
            p = c.hit.passage
            ids = tok(p.body, add_special_tokens=False)["input_ids"][:BODY_TOKENS]
            prefixes.append(_ENTRY.format(title=p.title, body=tok.decode(ids)))
        scores = self._mean_logprobs(prefixes, tail)
        for c, s in zip(candidates, scores[1:], strict=True):
            c.fit = s - scores[0]
        return None

    def _mean_logprobs(self, prefixes: list[str], tail: list[int]) -> list[float]:
        """Mean log-probability of the ``tail`` tokens after each prefix. The rows are padded on
        the left so that every row's tail sits at the end, and only those positions go
        through the LM head (its 49k-word vocabulary is a fifth of the default model's work
        per position)."""
        import torch

        tok = self.tokenizer
        rows = [tok(p, add_special_tokens=False)["input_ids"] + tail for p in prefixes]
        width = max(len(r) for r in rows)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        device = getattr(self.model, "device", None)
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        target = torch.tensor(tail, device=device)
        n = len(tail)
        with self._lock, self._context(), torch.inference_mode():
            logits = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=n + 1
            ).logits[:, :-1]
            lp = (
                logits.float()
                .log_softmax(-1)
                .gather(-1, target[None, :, None].expand(len(rows), n, 1))
            )
        return [float(x) for x in lp[..., 0].mean(-1)]
