"""Out-of-scope probes: off-domain questions the release check asks a run, to measure how often
it answers with the workspace's out-of-scope (hand-off) message.

A workspace keeps its own probes in ``checks/out-of-scope.jsonl`` (``{"question": ...}`` lines,
written by the team); without that file the built-in list below is used. The built-in probes
are deliberately different from the dataset's built-in off-topic questions
(dataset/out_of_scope.py, which the model may train on): a probe the model trained on would
measure memory, not whether the hand-off generalises. A probe that does appear among the run's
training questions is left out of the check and reported.
"""

from __future__ import annotations

import json
from pathlib import Path

from assistant_builder.compare.answers import load_questions_file
from assistant_builder.metrics import normalize, rouge_l
from assistant_builder.workspace import Workspace

PROBE_FILE = Path("checks") / "out-of-scope.jsonl"
GOLDEN_FILE = Path("checks") / "golden.jsonl"

BUILTIN_PROBES = (
    "Will it rain in London this weekend?",
    "Can you tell me a funny story about a cat?",
    "What is the square root of 144?",
    "Who scored the most goals in the last World Cup?",
    "Where can I get a good pizza tonight?",
    "Write a haiku about autumn leaves.",
    "What is the capital of Canada?",
    "How long should I boil an egg?",
    "Which laptop is best for gaming?",
    "Can you solve this equation for x: 2x + 3 = 11?",
    "Recommend a TV series to binge this week.",
    "How do I delete my Facebook account?",
    "Is now a good time to buy bitcoin?",
    "How do you say 'thank you' in German?",
    "Who wrote Pride and Prejudice?",
    "How much protein is in an egg?",
    "Should I learn Rust or Go?",
    "Can you reserve a hotel room in Rome for me?",
    "What is the time difference between New York and Sydney?",
    "How do I change a flat tyre on my bike?",
)

# An answer counts as the hand-off when it is close to the out-of-scope message (ROUGE-L at
# least this) or contains it whole: a tuned model often adds a word or two around it.
REFUSAL_SIMILARITY = 0.5


def is_refusal(answer: str, message: str) -> bool:
    """Whether ``answer`` is the workspace's out-of-scope reply."""
    msg = normalize(message)
    return bool(msg) and (
        msg in normalize(answer) or rouge_l(answer, message) >= REFUSAL_SIMILARITY
    )


def trained_questions(run_dir: Path) -> set[str]:
    """The normalised user questions of the run's own training data."""
    path = run_dir / "data" / "train.jsonl"
    out: set[str] = set()
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            msgs = json.loads(line)["messages"]
            out |= {normalize(m["content"]) for m in msgs if m["role"] == "user"}
    return out


def trained_out_of_scope(run_dir: Path) -> bool:
    """Whether the run learnt the hand-off (its training data has out-of-scope rows)."""
    path = run_dir / "data" / "train.jsonl"
    if not path.is_file():
        return False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and (json.loads(line).get("meta") or {}).get("how") == "out-of-scope":
            return True
    return False


def load_probes(ws: Workspace, run_dir: Path) -> tuple[list[str], str, list[str]]:
    """(probes kept, where they came from, probes left out because the run trained on them)."""
    path = ws.root / PROBE_FILE
    if path.is_file():
        questions, source = [q.question for q in load_questions_file(path)], str(path)
    else:
        questions, source = list(BUILTIN_PROBES), "builtin"
    seen = trained_questions(run_dir)
    kept = [q for q in questions if normalize(q) not in seen]
    leaked = [q for q in questions if normalize(q) in seen]
    return kept, source, leaked
