"""Answering with retrieval: retrieve, fit the passages into the context, ask the model, and
return the answer with the sources it was given (file and lines, or URL).

Two ways to use what was retrieved:

- ``passages-first`` / ``question-first``: the passages go into the prompt with the question.
  For the base model and for runs trained with retrieval rows (RAFT), which learned to read them.
- ``matched-question`` (a run trained closed-book, the default recipe): the best entry stands in
  for the question. The tuned model learned each answer under the FAQ's own question; a 135M
  model does not read a passage well, but it answers the question it was taught. The customer's
  wording finds the entry (BM25), and the model is asked the question it learned for that
  entry's answer. An entry that holds less than ``min_coverage`` of the question's weight
  (see Index.coverage) is not close enough: the question is asked as typed, so an off-topic
  question still gets the model's own (out-of-scope) answer. Before that rule, the default
  model reads the best few entries (retrieval/check.py) and may take the one it finds a clear
  best fit: words alone miss rewordings that share few of them.

:func:`grounded_prompts` builds the prompts for many questions at once (the golden-set eval
batches them); :func:`answer_with_retrieval` answers one question, for the chat server.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant_builder.retrieval.check import (
    CHECK_K,
    CHECK_MIN_COVERAGE,
    Candidate,
    EntryCheck,
    entry_check,
    pick,
)
from assistant_builder.retrieval.index import Hit, Index
from assistant_builder.retrieval.prompt import (
    DEFAULT_CONTEXT_TOKENS,
    DEFAULT_LAYOUT,
    TokenCount,
    fit_passages,
    passage_budget,
    render,
)

DEFAULT_K = 3
MATCHED = "matched-question"
# Chosen on two FAQs' golden sets (Homebrew, Tor) and the 20 built-in off-topic probes
# (benchmarks/README.md, "Retrieval"): the probes' best entries held at most 0.31 and 0.41 of
# their weight, the reworded questions' a median of ~0.5 (verbatim ones 1.0); at 0.4, 1 of 40
# probes is matched and 15 of 20 reworded questions are.
DEFAULT_MIN_COVERAGE = 0.4


@dataclass
class RetrievalSettings:
    k: int = DEFAULT_K
    layout: str = DEFAULT_LAYOUT
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    min_coverage: float = DEFAULT_MIN_COVERAGE
    # matched-question: let the default model check the best few entries (retrieval/check.py)
    model_check: bool = True
    # answer group → the question the run learned that answer under (matched-question)
    trained_questions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_run(cls, run_dir: Any) -> RetrievalSettings:
        """How a run uses retrieval: with passages when it trained with retrieval rows (its
        recipe's k and layout), else by matching the question to an entry it learned."""
        import yaml

        path = run_dir / "recipe.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
        data = data or {}
        raft = float(data.get("raft_share") or 0) > 0
        return cls(
            k=int(data.get("raft_k") or DEFAULT_K),
            layout=str(data.get("raft_layout") or DEFAULT_LAYOUT) if raft else MATCHED,
            context_tokens=int(data.get("raft_context_tokens") or DEFAULT_CONTEXT_TOKENS),
            trained_questions={} if raft else trained_questions(Path(run_dir)),
        )


def trained_questions(run_dir: Path) -> dict[str, str]:
    """Per answer group, the question the run trained it under: the source's own question
    (extracted, or made from a heading) before any paraphrase of it."""
    from assistant_builder.dataset.conversations import read_turns

    path = run_dir / "data" / "train.jsonl"
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    originals: set[str] = set()
    for t in read_turns(path):
        meta = t.meta or {}
        group = meta.get("group")
        if not group or meta.get("retrieval"):
            continue
        original = meta.get("how") != "paraphrased"
        if group not in out or (original and group not in originals):
            out[group] = t.question
            if original:
                originals.add(group)
    return out


@dataclass
class GroundedPrompt:
    question: str
    prompt: str  # the user message: passages + question, or the bare question
    hits: list[Hit]  # what went into the prompt, in order
    notices: list[str] = field(default_factory=list)
    matched: bool = False  # the prompt is the entry's question standing in for the customer's

    def sources(self) -> list[dict[str, Any]]:
        return [{**h.passage.source_json(), "score": round(h.score, 3)} for h in self.hits]


@dataclass
class Match:
    """The entry a question is matched to (``hit`` None: none is close enough) and why."""

    hit: Hit | None
    coverage: float
    notices: list[str] = field(default_factory=list)


def match_entry(
    index: Index, question: str, min_coverage: float, check: EntryCheck | None = None
) -> Match:
    """The best BM25 entry for ``question`` when it holds at least ``min_coverage`` of the
    question's weight (Index.coverage), else no entry; with ``check``, the entry the model
    check takes among the best few when it is sure (retrieval/check.py), before that rule."""
    result = index.search(question, CHECK_K if check is not None else 1)
    if not result.hits:
        return Match(None, 0.0, list(result.notices))
    hit = result.hits[0]
    cover = index.coverage(question, hit.passage)
    notices: list[str] = []
    if check is not None:
        chosen, notices = _checked(index, question, result.hits, check)
        if chosen is not None:
            if chosen.hit is hit and cover >= min_coverage:
                return Match(hit, cover)  # the words alone would have taken it too
            why = (
                f"matched {chosen.hit.passage.where()} by the model check (it holds "
                f"{chosen.coverage:.2f} of the question's weight; fit {chosen.fit:.2f})"
            )
            return Match(chosen.hit, chosen.coverage, [why])
    if cover < min_coverage:
        why = (
            f"no entry is close enough (the best, {hit.passage.where()}, holds {cover:.2f} of "
            f"the question's weight, under {min_coverage}): asked as typed"
        )
        return Match(None, cover, [*notices, why])
    return Match(hit, cover, notices)


def _checked(
    index: Index, question: str, hits: list[Hit], check: EntryCheck
) -> tuple[Candidate | None, list[str]]:
    """The entry the model check takes among ``hits`` (those over its coverage floor)."""
    cands = [
        Candidate(h, c)
        for h in hits
        if (c := index.coverage(question, h.passage)) >= CHECK_MIN_COVERAGE
    ]
    if not cands:
        return None, []
    skipped = check.fits(question, cands)
    if skipped:
        return None, [skipped]
    return pick(cands), []


def matched_prompt(
    index: Index, question: str, settings: RetrievalSettings, check: EntryCheck | None = None
) -> GroundedPrompt:
    """The question the run learned for the best entry, when that entry is close enough."""
    m = match_entry(index, question, settings.min_coverage, check)
    if m.hit is None:
        return GroundedPrompt(question, question, [], m.notices)
    hit = m.hit
    p = hit.passage
    learned = settings.trained_questions.get(p.group)
    if learned is None and p.kind == "pair" and p.title:
        learned = p.title  # an entry the run did not train on (held out): its own question
    if not learned:
        return GroundedPrompt(
            question, question, [], [f"{p.where()} has no question: asked as typed"]
        )
    return GroundedPrompt(question, learned, [hit], m.notices, matched=True)


def grounded_prompt(
    index: Index,
    question: str,
    settings: RetrievalSettings,
    count: TokenCount,
    check: EntryCheck | None = None,
) -> GroundedPrompt:
    if settings.layout == MATCHED:
        return matched_prompt(index, question, settings, check)
    result = index.search(question, settings.k)
    notices = list(result.notices)
    budget, why = passage_budget(question, settings.context_tokens, count)
    notices += why
    if not result.hits or budget <= 0:
        return GroundedPrompt(question, question, [], notices)
    names = [f"passage {h.passage.where()}" for h in result.hits]
    fitted = fit_passages([h.passage.text for h in result.hits], budget, count, names)
    hits = [result.hits[i] for i in fitted.kept]
    prompt = render(question, fitted.passages, settings.layout)
    return GroundedPrompt(question, prompt, hits, notices + fitted.notices)


def grounded_prompts(
    engine: Any,
    index: Index,
    questions: list[str],
    settings: RetrievalSettings,
    max_new_tokens: int,
) -> list[GroundedPrompt]:
    """Prompts for ``questions``, counted with the engine's tokenizer; the context budget also
    leaves room for the answer inside the model's context window."""
    window = int(getattr(getattr(engine, "tokenizer", None), "model_max_length", 0) or 0)
    context = settings.context_tokens
    if 0 < window < 10**7:  # tokenizers without a limit report a huge sentinel
        context = min(context, window - max_new_tokens - 64)
    fitted = replace(settings, context_tokens=context)

    def count(text: str) -> int:
        return int(engine.token_lengths([text])[0])

    check: EntryCheck | None = None
    notices: list[str] = []
    if settings.layout == MATCHED and settings.model_check and index.passages:
        check, notices = entry_check(engine)
    out = [grounded_prompt(index, q, fitted, count, check) for q in questions]
    for gp in out:
        gp.notices[:0] = notices
    return out


@dataclass
class GroundedAnswer:
    text: str
    stopped: bool
    sources: list[dict[str, Any]]
    notices: list[str]


def answer_with_retrieval(
    engine: Any,
    index: Index,
    question: str,
    *,
    system_prompt: str | None,
    adapter: str | None = None,
    settings: Any = None,
    retrieval: RetrievalSettings | None = None,
    notices: list[str] | None = None,
) -> GroundedAnswer:
    """Answer ``question`` from the passages the index finds for it (``adapter`` None: the
    engine's tuned adapter when it has one, else the base model). ``notices`` from opening the
    index (stale, empty) are passed through with the answer's own."""
    from assistant_builder.models.engine import BASE, GenSettings

    settings = settings or GenSettings()
    retrieval = retrieval or RetrievalSettings()
    gp = grounded_prompts(engine, index, [question], retrieval, settings.max_new_tokens)[0]
    side = adapter or (next(iter(engine.adapters)) if engine.adapters else BASE)
    ans = engine.answer([gp.prompt], system_prompt=system_prompt, adapter=side, settings=settings)
    return GroundedAnswer(
        ans[0].text, ans[0].stopped, gp.sources(), [*(notices or []), *gp.notices]
    )
