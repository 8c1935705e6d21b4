"""Automatic metrics of generated answers against reference answers.

Plain Python, no dependencies: these run inside ``compare`` for every answer of every model, and
in tests, so they must be cheap to import and easy to check by hand.

All text metrics work on *normalised word tokens* (see :func:`normalize`), not on model
tokenizer tokens: the figures must not change when the base model (and its tokenizer) does.

Metrics per answer (:class:`AnswerScore`):

``rouge_l``
    ROUGE-L F-measure (beta = 1): the longest common subsequence (LCS) of answer and reference
    tokens; precision = LCS / answer length, recall = LCS / reference length, F = 2PR / (P + R).
    Rewards keeping the reference's words *in order*, without requiring them to be contiguous.
``token_f1``
    SQuAD-style bag-of-words F1: the multiset overlap of tokens, order ignored.
``contains_reference``
    Strict: the normalised reference appears in the normalised answer as a contiguous run of
    whole tokens ("10 days" does not match inside "110 days"). Fair for short references
    (a number, a product name); long reference paragraphs almost never appear verbatim, so see
    the relaxed ``reference_recall``.
``reference_recall``
    The relaxed version of ``contains_reference``: the share of the reference covered, in order,
    by the answer (ROUGE-L recall, LCS / reference length). 1.0 means every reference token
    occurs in the answer in the same order, possibly with other words between them; unlike
    ``rouge_l`` it does not penalise an answer for saying more than the reference.
``length``
    Answer length in normalised tokens.

Edge case (as in the SQuAD evaluation script): when the answer or the reference has no tokens,
the overlap metrics are 1.0 if both are empty and 0.0 otherwise.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# Apostrophes are deleted rather than turned into spaces so that "don't" and "dont" agree and a
# contraction stays one token; every other punctuation character separates tokens, so that
# "e-mail" -> "e mail" and "reset.Then" -> "reset then" rather than gluing words together.
_APOSTROPHES = frozenset("'\u2019\u02bc`")
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lowercase, remove punctuation, collapse whitespace.

    NFKC first so that full-width letters and ligatures compare equal to their plain forms;
    ``casefold`` rather than ``lower`` so that e.g. German "ß" matches "ss".
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue
        # Unicode category P* covers ASCII and non-ASCII punctuation (dashes, quotes, « »).
        # Symbols (S*: $, +, €) and "%" (a P* character) are kept: "$5" and "5%" carry meaning
        # in support answers.
        is_punct = ch != "%" and unicodedata.category(ch).startswith("P")
        out.append(" " if is_punct else ch)
    return _WHITESPACE.sub(" ", "".join(out)).strip()


def tokens(text: str) -> list[str]:
    """Normalised word tokens of ``text``."""
    return normalize(text).split()


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences.

    Classic dynamic programme, O(len(a) * len(b)) time but only O(min) memory: two rows over
    the shorter sequence, which is all a length needs.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    return prev[-1]


def _f_measure(overlap: int, n_answer: int, n_reference: int) -> float:
    if n_answer == 0 or n_reference == 0:
        return float(n_answer == n_reference)
    if overlap == 0:
        return 0.0
    precision = overlap / n_answer
    recall = overlap / n_reference
    return 2 * precision * recall / (precision + recall)


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure (beta = 1) over normalised tokens."""
    a, r = tokens(answer), tokens(reference)
    return _f_measure(lcs_length(a, r), len(a), len(r))


def token_f1(answer: str, reference: str) -> float:
    """SQuAD-style token F1: multiset overlap of normalised tokens, order ignored."""
    a, r = tokens(answer), tokens(reference)
    overlap = sum((Counter(a) & Counter(r)).values())
    return _f_measure(overlap, len(a), len(r))


def _contains_run(haystack: list[str], needle: list[str]) -> bool:
    if not needle:
        return not haystack
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def contains_reference(answer: str, reference: str) -> bool:
    """Whether the normalised reference occurs in the normalised answer as whole tokens."""
    return _contains_run(tokens(answer), tokens(reference))


def reference_recall(answer: str, reference: str) -> float:
    """Share of the reference covered in order by the answer (ROUGE-L recall)."""
    a, r = tokens(answer), tokens(reference)
    if not a or not r:
        return float(len(a) == len(r))
    return lcs_length(a, r) / len(r)


@dataclass(frozen=True)
class AnswerScore:
    """The metrics of one answer against its reference (see the module docstring)."""

    rouge_l: float
    token_f1: float
    contains_reference: bool
    reference_recall: float
    length: int
    stopped: bool | None = None

    def as_dict(self) -> dict[str, float | int | bool | None]:
        return asdict(self)


def score_answer(answer: str, reference: str, stopped: bool | None = None) -> AnswerScore:
    """All metrics of one answer. Tokenises once and reuses the LCS for two metrics."""
    a, r = tokens(answer), tokens(reference)
    lcs = lcs_length(a, r)
    overlap = sum((Counter(a) & Counter(r)).values())
    recall = float(len(a) == len(r)) if not a or not r else lcs / len(r)
    return AnswerScore(
        rouge_l=_f_measure(lcs, len(a), len(r)),
        token_f1=_f_measure(overlap, len(a), len(r)),
        contains_reference=_contains_run(a, r),
        reference_recall=recall,
        length=len(a),
        stopped=stopped,
    )


def score_items(
    answers: Sequence[str], references: Sequence[str], stopped: Sequence[bool] | None = None
) -> list[AnswerScore]:
    """Per-item scores; ``stopped[i]`` says whether answer i ended on its own (EOS) rather than
    being cut at the token limit."""
    if len(answers) != len(references):
        raise ValueError(f"{len(answers)} answers but {len(references)} references")
    if stopped is not None and len(stopped) != len(answers):
        raise ValueError(f"{len(answers)} answers but {len(stopped)} stopped flags")
    flags: Sequence[bool | None] = stopped if stopped is not None else [None] * len(answers)
    return [score_answer(a, r, s) for a, r, s in zip(answers, references, flags, strict=True)]


# Keys of the aggregate, in a stable order so that JSON output and tables line up across runs.
AGGREGATE_KEYS = (
    "n",
    "rouge_l",
    "token_f1",
    "contains_reference",
    "reference_recall",
    "length",
    "stopped_share",
)


def aggregate(scores: Sequence[AnswerScore]) -> dict[str, float]:
    """Means over items (``contains_reference`` and ``stopped_share`` are shares of items).

    ``stopped_share`` is present only when every item carries a ``stopped`` flag: an absent
    figure is honest, a 0.0 standing for "not measured" would not be. With no items every
    mean is 0.0 and ``n`` is 0, so callers can always index the same keys.
    """
    n = len(scores)

    def mean(values: list[float]) -> float:
        return math.fsum(values) / n if n else 0.0

    out: dict[str, float] = {
        "n": float(n),
        "rouge_l": mean([s.rouge_l for s in scores]),
        "token_f1": mean([s.token_f1 for s in scores]),
        "contains_reference": mean([float(s.contains_reference) for s in scores]),
        "reference_recall": mean([s.reference_recall for s in scores]),
        "length": mean([float(s.length) for s in scores]),
    }
    if all(s.stopped is not None for s in scores):
        out["stopped_share"] = mean([float(bool(s.stopped)) for s in scores])
    return out


def score_answers(
    answers: Sequence[str], references: Sequence[str], stopped: Sequence[bool] | None = None
) -> dict[str, float]:
    """Aggregate metrics of a list of answers against their references (see :func:`aggregate`)."""
    return aggregate(score_items(answers, references, stopped))


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% with the default ``z``).

    Preferred over the normal approximation p +/- z*sqrt(p(1-p)/n) because rating sessions are
    small (tens of items) and rates are often near 0 or 1, where the normal interval collapses
    to zero width or leaves [0, 1]. With ``n == 0`` nothing is known: (0.0, 1.0).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # max/min guard only against rounding just outside [0, 1]; mathematically it stays inside.
    return (max(0.0, centre - half), min(1.0, centre + half))
