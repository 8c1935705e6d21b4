"""Answering with retrieval: retrieve, fit the passages into the context, ask the model, and
return the answer with the sources it was given (file and lines, or URL).

:func:`grounded_prompts` builds the prompts for many questions at once (the golden-set eval
batches them); :func:`answer_with_retrieval` answers one question, for the chat server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class RetrievalSettings:
    k: int = DEFAULT_K
    layout: str = DEFAULT_LAYOUT
    context_tokens: int = DEFAULT_CONTEXT_TOKENS

    @classmethod
    def from_run(cls, run_dir: Any) -> RetrievalSettings:
        """The k and layout the run trained with (its recipe), else the defaults."""
        import yaml

        path = run_dir / "recipe.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
        data = data or {}
        return cls(
            k=int(data.get("raft_k") or DEFAULT_K),
            layout=str(data.get("raft_layout") or DEFAULT_LAYOUT),
            context_tokens=int(data.get("raft_context_tokens") or DEFAULT_CONTEXT_TOKENS),
        )


@dataclass
class GroundedPrompt:
    question: str
    prompt: str  # the user message: passages + question, or the bare question
    hits: list[Hit]  # what went into the prompt, in order
    notices: list[str] = field(default_factory=list)

    def sources(self) -> list[dict[str, Any]]:
        return [{**h.passage.source_json(), "score": round(h.score, 3)} for h in self.hits]


def grounded_prompt(
    index: Index, question: str, settings: RetrievalSettings, count: TokenCount
) -> GroundedPrompt:
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
    window = int(getattr(engine.tokenizer, "model_max_length", 0) or 0)
    context = settings.context_tokens
    if 0 < window < 10**7:  # tokenizers without a limit report a huge sentinel
        context = min(context, window - max_new_tokens - 64)
    fitted = RetrievalSettings(settings.k, settings.layout, context)

    def count(text: str) -> int:
        return int(engine.token_lengths([text])[0])

    return [grounded_prompt(index, q, fitted, count) for q in questions]


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
