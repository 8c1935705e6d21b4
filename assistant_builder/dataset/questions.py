"""Generated questions for sections and generated paraphrases for questions, by strategy.

``template`` needs nothing; ``model`` loads the workspace's base model once for the whole build;
``teacher`` calls an OpenAI-compatible endpoint. Model and teacher outputs are cached in
``cache/questions.json`` (keyed by strategy, model and prompt, never by a key or secret), so a
rebuild after a review edit does not pay for generation again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant_builder.dataset.heading_questions import (
    STRATEGIES,
    parse_generated,
    template_questions,
)
from assistant_builder.dataset.paraphrase import paraphrases
from assistant_builder.dataset.teacher import (
    QUESTION_PROMPT,
    Teacher,
    TeacherConfig,
    teacher_config,
)
from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.workspace import atomic_write_json

MODEL_PROMPT = (
    "Read this help text and write {n} questions a user could ask that it answers. "
    "One question per line.\n\nTitle: {title}\n\n{text}"
)
MODEL_CONTEXT_CHARS = 1000
PARAPHRASERS = ("semantic", "rules")  # the 135M default reads short contexts best, and faster


@dataclass
class GenConfig:
    strategy: str = "template"
    per_section: int = 3
    base_model: str = "default"
    teacher: TeacherConfig | None = None
    engine: Any = None  # an assistant_builder.models.engine.Engine; injected by tests
    # "semantic": other words and sentence forms (paraphrase_lexical.py, WordNet when the OS
    # has it); "rules": the FAQ's own words in other shapes only (paraphrase.py).
    paraphraser: str = "semantic"


class _Cache:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, list[str]] = {}
        self.dirty = False
        if path is not None and path.is_file():
            try:
                self.data = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.data = {}  # a cache is disposable: a broken one is rebuilt

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]

    def save(self) -> None:
        if self.path is not None and self.dirty:
            atomic_write_json(self.path, self.data)
            self.dirty = False


def _title(item: dict[str, Any]) -> str:
    return " > ".join(item.get("heading_path") or []) or "(untitled)"


class QuestionGenerator:
    """Writes questions for sections and paraphrases for questions with one strategy."""

    def __init__(self, cfg: GenConfig, cache_path: Path | None = None) -> None:
        if cfg.strategy not in STRATEGIES:
            raise UserError(
                f"unknown question strategy {cfg.strategy!r} (choose {', '.join(STRATEGIES)})"
            )
        self.cfg = cfg
        self.cache = _Cache(cache_path)
        self.teacher: Teacher | None = None
        if cfg.strategy == "teacher" or cfg.teacher is not None:
            self.teacher = Teacher(cfg.teacher or teacher_config())
        if cfg.paraphraser not in PARAPHRASERS:
            raise UserError(
                f"unknown paraphraser {cfg.paraphraser!r} (choose {', '.join(PARAPHRASERS)})"
            )
        self.notices: list[str] = []  # sources that failed and what was used instead
        self._wordnet: Any = None
        self._teacher_down = False
        if cfg.paraphraser == "semantic":
            from assistant_builder.dataset.wordnet import load

            self._wordnet, why = load()
            if self._wordnet is None:
                self.notices.append(
                    f"paraphrases without synonyms: {why}; sentence forms, registers and "
                    "typos are still made"
                )

    def _engine(self) -> Any:
        if self.cfg.engine is None:
            from assistant_builder.models.engine import Engine

            self.cfg.engine = Engine(self.cfg.base_model)
        return self.cfg.engine

    def section_questions(
        self, sections: list[tuple[dict[str, Any], str]], on_event: OnEvent = ignore
    ) -> list[tuple[list[str], list[str]]]:
        """(questions, fallback questions) per (section item, answer text), in order. For
        ``model`` and ``teacher`` the fallback is the template questions: the dataset build
        uses them only when nothing the generator wrote survives the grounding check, so a
        weak model never loses a section."""
        n = self.cfg.per_section
        out = [template_questions(it.get("heading_path") or [], text) for it, text in sections]
        if self.cfg.strategy == "template":
            return [(t, []) for t in out]
        prompts = [
            (MODEL_PROMPT if self.cfg.strategy == "model" else QUESTION_PROMPT).format(
                n=n, title=_title(it), text=text[:MODEL_CONTEXT_CHARS]
            )
            for it, text in sections
        ]
        who = self.cfg.base_model if self.cfg.strategy == "model" else self._teacher_id()
        keys = [self.cache.key(self.cfg.strategy, who, p) for p in prompts]
        todo = [i for i, k in enumerate(keys) if k not in self.cache.data]
        if todo and self.cfg.strategy == "model":
            from assistant_builder.models.engine import GenSettings

            settings = GenSettings(max_new_tokens=96, repetition_penalty=1.2, batch_size=8)
            # Chunk by chunk, saving the cache after each: an interrupted build keeps its work.
            for start in range(0, len(todo), settings.batch_size):
                on_event(Progress("dataset", "base model writes questions", start, len(todo)))
                chunk = todo[start : start + settings.batch_size]
                answers = self._engine().answer(
                    [prompts[i] for i in chunk], system_prompt=None, tuned=False, settings=settings
                )
                for i, a in zip(chunk, answers, strict=True):
                    self.cache.data[keys[i]] = parse_generated(a.text)[: n * 2]
                self.cache.dirty = True
                self.cache.save()
        elif todo:
            assert self.teacher is not None
            for j, i in enumerate(todo):
                on_event(Progress("dataset", "teacher writes questions", j, len(todo)))
                it, text = sections[i]
                found = self.teacher.questions(_title(it), text[:4000], n)
                self.cache.data[keys[i]] = found
                self.cache.dirty = True
                self.cache.save()
        self.cache.save()
        return [(list(self.cache.data[k]), t) for k, t in zip(keys, out, strict=True)]

    def _teacher_id(self) -> str:
        assert self.teacher is not None
        return self.teacher.config.describe()

    def paraphrases(self, question: str, n: int, answer: str = "") -> list[tuple[str, str, str]]:
        """``n`` (rewording, who wrote it, how): the teacher's first when one is configured,
        then semantic ones (other words, forms, registers; grounded in ``answer``), rule-based
        ones to fill up. A teacher that fails is a notice, never a failed build."""
        if n <= 0:
            return []
        found: list[tuple[str, str, str]] = []
        if self.teacher is not None:
            key = self.cache.key("paraphrase", self._teacher_id(), question, str(n))
            if key not in self.cache.data and not self._teacher_down:
                try:
                    self.cache.data[key] = self.teacher.paraphrases(question, n)
                    self.cache.dirty = True
                except UserError as e:
                    # One failure stands for all: a down teacher would time out per question.
                    self._teacher_down = True
                    self._notice(f"teacher paraphrases skipped ({e}); offline ones used")
            found = [(p, "teacher", "teacher") for p in self.cache.data.get(key, [])]
        if self.cfg.paraphraser == "semantic":
            from assistant_builder.dataset.paraphrase_lexical import semantic_paraphrases

            for p, how in semantic_paraphrases(question, answer, n, self._wordnet):
                if len(found) < n and all(p != f for f, _, _ in found):
                    found.append((p, "semantic", how))
        for p in paraphrases(question, n + len(found)):
            if len(found) >= n:
                break
            if all(p != f for f, _, _ in found):
                found.append((p, "rules", "rules"))
        return found[:n]

    def _notice(self, text: str) -> None:
        if text not in self.notices:
            self.notices.append(text)

    def close(self) -> None:
        self.cache.save()
