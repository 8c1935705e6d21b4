"""A teacher model behind any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM,
llama.cpp server, Ollama, ``assistant-builder serve``), used to write questions for prose
sections and paraphrases of questions.

Configuration comes from options or the environment: ``ASSISTANT_BUILDER_TEACHER_URL`` (the
base URL, e.g. ``https://api.openai.com/v1``), ``ASSISTANT_BUILDER_TEACHER_MODEL`` and
``ASSISTANT_BUILDER_TEACHER_KEY``. The key is sent in the Authorization header and nowhere else:
it is not part of ``repr``, of error messages, of the question cache key or of any file.
Plain ``urllib`` keeps this dependency-free; requests are bounded in number and time.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from assistant_builder.dataset.heading_questions import parse_generated
from assistant_builder.errors import UserError

ENV_URL = "ASSISTANT_BUILDER_TEACHER_URL"
ENV_MODEL = "ASSISTANT_BUILDER_TEACHER_MODEL"
ENV_KEY = "ASSISTANT_BUILDER_TEACHER_KEY"

QUESTION_PROMPT = (
    "Below is a section of a product's help documentation. Write {n} different questions that "
    "a user of the product could ask and that this section answers. Use the words a user would "
    "type. Write one question per line, nothing else.\n\nSection title: {title}\n\n{text}"
)
PARAPHRASE_PROMPT = (
    "Rewrite this support question in {n} different ways a user might type it into a chat "
    "(vary the wording, keep the meaning; some casual, some short). One per line, nothing "
    "else.\n\nQuestion: {question}"
)


@dataclass
class TeacherConfig:
    url: str
    model: str
    key: str = field(default="", repr=False)
    timeout_s: float = 60.0
    max_requests: int = 500  # a runaway build must not run up a bill

    @classmethod
    def resolve(
        cls, url: str | None = None, model: str | None = None, key: str | None = None
    ) -> TeacherConfig:
        url = url or os.environ.get(ENV_URL, "")
        model = model or os.environ.get(ENV_MODEL, "")
        if not url or not model:
            raise UserError(
                f"the teacher needs an endpoint URL and a model (--teacher-url/--teacher-model "
                f"or {ENV_URL}/{ENV_MODEL})"
            )
        if not url.startswith(("http://", "https://")):
            raise UserError(f"teacher URL must start with http:// or https:// (got {url!r})")
        return cls(url=url.rstrip("/"), model=model, key=key or os.environ.get(ENV_KEY, ""))

    @property
    def endpoint(self) -> str:
        return (
            self.url if self.url.endswith("/chat/completions") else self.url + "/chat/completions"
        )

    def describe(self) -> str:
        """What may be shown or stored about the teacher (never the key)."""
        return f"{self.model}@{self.url}"


class Teacher:
    def __init__(self, config: TeacherConfig) -> None:
        self.config = config
        self.requests = 0

    def chat(self, prompt: str, max_tokens: int = 300) -> str:
        if self.requests >= self.config.max_requests:
            raise UserError(
                f"teacher request limit reached ({self.config.max_requests}); "
                "raise it or generate fewer questions"
            )
        self.requests += 1
        body = {
            "model": self.config.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0.3,
        }
        headers = {"Content-Type": "application/json"}
        if self.config.key:
            headers["Authorization"] = f"Bearer {self.config.key}"
        req = urllib.request.Request(
            self.config.endpoint, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        where = self.config.describe()
        try:
            with urllib.request.urlopen(req, timeout=self.config.timeout_s) as resp:
                data: Any = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise UserError(f"teacher {where} answered HTTP {e.code} ({e.reason})") from None
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(f"cannot reach teacher {where}: {reason}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UserError(f"teacher {where} did not answer with JSON") from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise UserError(f"teacher {where} answered without choices[0].message") from None
        return content if isinstance(content, str) else ""

    def questions(self, title: str, text: str, n: int = 3) -> list[str]:
        return parse_generated(self.chat(QUESTION_PROMPT.format(n=n, title=title, text=text)))[:n]

    def paraphrases(self, question: str, n: int = 3) -> list[str]:
        if n <= 0:
            return []
        prompt = PARAPHRASE_PROMPT.format(n=n, question=question)
        out = parse_generated(self.chat(prompt), questions_only=False)
        return [p for p in out if p.strip().lower() != question.strip().lower()][:n]
