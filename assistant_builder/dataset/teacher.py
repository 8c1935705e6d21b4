"""A teacher model behind any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM,
llama.cpp server, Ollama, ``assistant-builder serve``), used to write questions for prose
sections and paraphrases of questions.

Configuration comes from options or the environment: ``ASSISTANT_BUILDER_TEACHER_URL`` (the
base URL, e.g. ``https://api.openai.com/v1``), ``ASSISTANT_BUILDER_TEACHER_MODEL`` and
``ASSISTANT_BUILDER_TEACHER_KEY``. The client is the shared one of ``models/endpoint.py``: the
key is sent in the Authorization header only, never part of the question cache key or a file.
"""

from __future__ import annotations

from assistant_builder.dataset.heading_questions import parse_generated
from assistant_builder.errors import UserError
from assistant_builder.models.endpoint import ChatEndpoint, EndpointConfig

ENV_PREFIX = "ASSISTANT_BUILDER_TEACHER"

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


# The teacher's endpoint settings: the shared endpoint config (models/endpoint.py).
TeacherConfig = EndpointConfig


def teacher_config(
    url: str | None = None, model: str | None = None, key: str | None = None
) -> EndpointConfig:
    """Options win over the environment; a UserError when the teacher is not configured."""
    config = EndpointConfig.from_env(ENV_PREFIX, url, model, key)
    if config is None:
        raise UserError(
            f"the teacher needs an endpoint URL and a model (--teacher-url/--teacher-model "
            f"or {ENV_PREFIX}_URL/{ENV_PREFIX}_MODEL)"
        )
    return config


class Teacher:
    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self.endpoint = ChatEndpoint(config, "teacher")

    @property
    def requests(self) -> int:
        return self.endpoint.requests

    def chat(self, prompt: str, max_tokens: int = 300) -> str:
        messages = [{"role": "user", "content": prompt}]
        return self.endpoint.chat(messages, max_tokens=max_tokens, temperature=0.3)

    def questions(self, title: str, text: str, n: int = 3) -> list[str]:
        return parse_generated(self.chat(QUESTION_PROMPT.format(n=n, title=title, text=text)))[:n]

    def paraphrases(self, question: str, n: int = 3) -> list[str]:
        if n <= 0:
            return []
        prompt = PARAPHRASE_PROMPT.format(n=n, question=question)
        out = parse_generated(self.chat(prompt), questions_only=False)
        return [p for p in out if p.strip().lower() != question.strip().lower()][:n]
