"""``serve --retrieval``: answer with the workspace's retrieval index.

Before a request is queued, its newest user message is replaced by the grounded prompt that
``retrieval.answer.grounded_prompts`` builds for it, the way the run uses retrieval (the
question it learned for the matched entry, or the passages found and the question); the
earlier turns stay as the client sent them. The
response carries the passages used as ``sources`` and anything worth knowing (a stale index, a
question that matched nothing, a cut passage) as ``notices``. The conversation log keeps the
question as the user typed it, with the sources beside it.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant_builder.serve.requests import DEFAULT_MAX_TOKENS


@dataclass
class Grounded:
    messages: list[dict[str, str]]  # what the model reads
    sources: list[dict[str, Any]]
    notices: list[str] = field(default_factory=list)

    def footer(self) -> str:
        """The short line ``--sources-footer`` appends to the answer ("" without sources)."""
        seen: list[str] = []
        for s in self.sources:
            where = s["url"] or ":".join(str(x) for x in (s["file"], s["lines"]) if x)
            if where and where not in seen:
                seen.append(where)
        return f"Sources: {', '.join(seen)}" if seen else ""


def source_entry(raw: dict[str, Any]) -> dict[str, Any]:
    """A retrieved passage as the response's ``sources`` entry: ``file``, ``lines`` ("12-18",
    or null), ``page``, ``url``, ``title`` (the FAQ question or section heading), ``score``."""
    start, end = raw.get("line_start"), raw.get("line_end")
    lines = None
    if start is not None:
        lines = f"{start}-{end}" if end not in (None, start) else str(start)
    return {
        "file": raw.get("source"),
        "lines": lines,
        "page": raw.get("page"),
        "url": raw.get("url"),
        "title": raw.get("title"),
        "score": raw.get("score"),
    }


class _Counter:
    """What ``grounded_prompts`` needs of an engine: ``tokenizer.model_max_length`` (here the
    served context window) and ``token_lengths``. It counts with its own copy of the served
    tokenizer: a fast tokenizer must not be used from two threads at once, and the engine's
    is busy decoding."""

    def __init__(self, tokenizer: Any, n_ctx: int) -> None:
        self.tokenizer = copy.deepcopy(tokenizer)
        self.tokenizer.model_max_length = n_ctx
        self._lock = threading.Lock()

    def token_lengths(self, texts: list[str]) -> list[int]:
        with self._lock:
            return [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]


class Grounding:
    """The index, the run's retrieval settings, and the notices from opening the index."""

    def __init__(self, index: Any, settings: Any, notices: list[str], counter: Any) -> None:
        self.index = index
        self.settings = settings
        self.notices = notices
        self.counter = counter

    @classmethod
    def open(cls, ws: Any, run_dir: Path, engine: Any, model_check: bool = True) -> Grounding:
        """The workspace's index (so an FAQ edit is served after `dataset`, without training),
        else the copy the run trained with. No index at all is a UserError naming the fix."""
        from assistant_builder.retrieval.answer import MATCHED, RetrievalSettings
        from assistant_builder.retrieval.check import entry_check
        from assistant_builder.retrieval.index import INDEX_DIR, open_index

        own = (ws.dataset_dir / INDEX_DIR / "meta.json").is_file()
        index, notices = open_index(ws, None if own else run_dir)
        backend = getattr(engine, "backend", engine)  # the Batcher wraps the model's backend
        counter = _Counter(backend.tokenizer, int(backend.n_ctx))
        settings = RetrievalSettings.from_run(run_dir)
        settings.model_check = model_check
        if settings.layout == MATCHED and settings.model_check and index.passages:
            # Load the model check's weights now, not on the first customer's request.
            notices = [*notices, *entry_check(counter)[1]]
        return cls(index, settings, notices, counter)

    def describe(self) -> str:
        from assistant_builder.retrieval.answer import MATCHED

        s = self.settings
        n = f"{len(self.index.passages)} passages from {self.index.folder}"
        if s.layout != MATCHED:
            return f"{n}, top {s.k}"
        how = "words and the default model's check" if s.model_check else "words alone"
        return f"{n}, each question matched to an entry by {how}"

    def ground(self, messages: list[dict[str, str]], max_tokens: int | None) -> Grounded:
        """``messages`` with the last user message grounded in the passages found for it."""
        from assistant_builder.retrieval.answer import grounded_prompts

        question = messages[-1]["content"]
        gp = grounded_prompts(
            self.counter,
            self.index,
            [question],
            self.settings,
            max_tokens or DEFAULT_MAX_TOKENS,
        )[0]
        notices = [*self.notices, *gp.notices]
        sources = [source_entry(s) for s in gp.sources()]
        if not sources and not gp.notices:
            notices.append("no passage matched the question: answered without passages")
        grounded = [*messages[:-1], {**messages[-1], "content": gp.prompt}]
        return Grounded(grounded, sources, notices)
