"""Built-in off-topic questions, answered in the dataset with the workspace's out-of-scope
message so the tuned model learns to hand off instead of inventing an answer.

Generic on purpose (weather, jokes, arithmetic, other products, personal advice): nothing here
may be a real question of some product's FAQ. A domain question that happens to match one of
these is caught by the dataset's duplicate check, which keeps the domain row (it comes first).
"""

from __future__ import annotations

import hashlib
from typing import Any

SOURCE = "builtin:out-of-scope"

QUESTIONS = (
    "What's the weather like tomorrow?",
    "Tell me a joke.",
    "What is 17 times 23?",
    "Who won the football match last night?",
    "Can you recommend a good restaurant near me?",
    "Write me a poem about the sea.",
    "What is the capital of Australia?",
    "How do I bake sourdough bread?",
    "Which phone should I buy this year?",
    "Can you help me with my math homework?",
    "What's a good movie to watch tonight?",
    "How do I cancel my Netflix subscription?",
    "What stocks should I invest in?",
    "Translate 'good morning' into Japanese.",
    "Who is the president of France?",
    "How many calories are in a banana?",
    "What's the best programming language to learn first?",
    "Can you book a flight to Paris for me?",
    "What time is it in Tokyo right now?",
    "How do I fix my car's brakes?",
    "Should I see a doctor about my headache?",
    "What's your favourite colour?",
    "Explain the theory of relativity.",
    "How do I set up my new printer from another brand?",
)


def out_of_scope_questions(n: int) -> list[str]:
    """The first ``n`` questions (a stable choice: the same ``n`` gives the same rows)."""
    return list(QUESTIONS[: max(0, n)])


def content_hash() -> str:
    """Provenance hash of the built-in list, so a changed list marks reviews stale."""
    return hashlib.sha256("\n".join(QUESTIONS).encode()).hexdigest()


def out_of_scope_rows(n: int) -> list[dict[str, Any]]:
    """Candidate dataset rows (see ``dataset.candidate_rows``) for the first ``n`` questions.
    The answer is left empty: the build fills in the workspace's out-of-scope message."""
    digest = content_hash()
    rows = []
    for i, q in enumerate(out_of_scope_questions(n), 1):
        rows.append(
            {
                "q": q,
                "a": None,
                "how": "out-of-scope",
                # One group per question: the shared answer is the point (a hand-off), and an
                # unseen off-topic question in eval measures whether refusing generalises.
                "group": "oos-" + hashlib.sha256(q.encode()).hexdigest()[:8],
                "source": SOURCE,
                "format": "builtin",
                "line_start": i,  # the position in the built-in list
                "line_end": i,
                "page": None,
                "sha256": digest,
            }
        )
    return rows
