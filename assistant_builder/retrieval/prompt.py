"""The retrieval prompt: retrieved passages and the question in one user message.

The passages get a token budget; a passage that does not fit is cut at a word boundary (the
first one) or left out (the others), each time with a notice. The question is never cut: it
always goes in whole, and when even the question leaves no room, no passage goes in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

LAYOUTS = ("passages-first", "question-first")
DEFAULT_LAYOUT = "passages-first"
# The user message's size (instruction, passages, question): three FAQ entries of ~150 tokens
# with margin. A 135M model reads a short context far better than a long one, and the training
# rows are built to the same size.
DEFAULT_CONTEXT_TOKENS = 768
INSTRUCTION = (
    "Answer the question using the passages below. If they do not answer it, say that you "
    "cannot help with it."
)

TokenCount = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """Tokens without a tokenizer: ~3 characters each, on the high side for English text (BPE
    averages ~4), so a budget checked with it holds with the real tokenizer too."""
    return len(text) // 3 + 1


@dataclass
class FittedContext:
    passages: list[str]  # the texts that go in, in order (some possibly cut)
    kept: list[int]  # indices into the input list of the passages that went in
    notices: list[str] = field(default_factory=list)


def _cut(text: str, budget: int, count: TokenCount) -> str:
    """The longest prefix of whole words within ``budget`` tokens (binary search on words)."""
    words = text.split(" ")
    lo, hi = 0, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(" ".join(words[:mid])) + 1 <= budget:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo]) + " …" if lo else ""


def fit_passages(
    texts: list[str],
    budget: int,
    count: TokenCount = estimate_tokens,
    names: list[str] | None = None,
) -> FittedContext:
    """Passages in order while they fit in ``budget`` tokens; see the module docstring."""
    names = names or [f"passage {i + 1}" for i in range(len(texts))]
    out = FittedContext([], [])
    left = budget
    for i, text in enumerate(texts):
        need = count(text) + 4  # the "[n] " label and the blank line
        if need <= left:
            out.passages.append(text)
            out.kept.append(i)
            left -= need
        elif not out.passages and left > 32:
            cut = _cut(text, left - 4, count)
            if cut:
                out.passages.append(cut)
                out.kept.append(i)
                out.notices.append(
                    f"{names[i]} is longer than the context budget ({need} > {budget} tokens): "
                    "only its beginning was given to the model"
                )
            left = 0
        else:
            out.notices.append(f"{names[i]} left out: no room in the context budget")
    return out


def render(question: str, passages: list[str], layout: str = DEFAULT_LAYOUT) -> str:
    """The user message. Without passages it is the bare question (closed book)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown retrieval layout {layout!r} (choose {', '.join(LAYOUTS)})")
    if not passages:
        return question
    block = "\n\n".join(f"[{i + 1}] {p}" for i, p in enumerate(passages))
    if layout == "question-first":
        return f"Question: {question}\n\n{INSTRUCTION}\n\n{block}"
    return f"{INSTRUCTION}\n\n{block}\n\nQuestion: {question}"


def passage_budget(
    question: str, context_tokens: int, count: TokenCount = estimate_tokens
) -> tuple[int, list[str]]:
    """Tokens left for passages after the instruction and the question, and a notice when the
    question itself leaves no room (the question is never cut)."""
    overhead = count(INSTRUCTION) + count(question) + 8
    left = context_tokens - overhead
    if left < 32:
        return 0, [
            f"the question is too long to add passages ({count(question)} tokens of a "
            f"{context_tokens}-token budget): answering without retrieval"
        ]
    return left, []
