"""One client for any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, the
llama.cpp server, Ollama, ``assistant-builder serve``): the dataset's teacher and the compare
stage's LLM judge both talk through it.

Configuration comes from options or the environment (``<PREFIX>_URL``, ``_MODEL``, ``_KEY``).
The key is sent in the Authorization header and nowhere else: it is not part of the config's
repr, of an error message or of anything written to disk. Plain ``urllib`` keeps this free of
a client library; requests are bounded in number (a runaway loop must not run up a bill) and in
time.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from assistant_builder.errors import UserError


@dataclass(frozen=True)
class EndpointConfig:
    url: str
    model: str
    key: str = field(default="", repr=False)
    timeout_s: float = 60.0
    max_requests: int = 500

    @classmethod
    def from_env(
        cls,
        prefix: str,
        url: str | None = None,
        model: str | None = None,
        key: str | None = None,
        **limits: Any,
    ) -> EndpointConfig | None:
        """Options win over ``$<prefix>_URL/_MODEL/_KEY``; None when no URL is set at all.
        ``limits`` sets ``timeout_s`` / ``max_requests``."""
        url = url or os.environ.get(f"{prefix}_URL", "")
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise UserError(f"endpoint URL must start with http:// or https:// (got {url!r})")
        model = model or os.environ.get(f"{prefix}_MODEL", "")
        if not model:
            raise UserError(f"{url} needs a model name (an option or ${prefix}_MODEL)")
        key = key or os.environ.get(f"{prefix}_KEY", "")
        return cls(url=url.rstrip("/"), model=model, key=key, **limits)

    @property
    def endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"

    def describe(self) -> str:
        """What may be shown or stored about the endpoint (never the key)."""
        return f"{self.model}@{self.url}"


class ChatEndpoint:
    """Sends chat requests and counts them against the config's ``max_requests``."""

    def __init__(self, config: EndpointConfig, role: str = "endpoint") -> None:
        self.config = config
        self.role = role  # "teacher", "LLM judge": who is speaking, in error messages
        self.requests = 0

    def chat(self, messages: list[dict[str, str]], max_tokens: int, temperature: float) -> str:
        """The assistant's reply to ``messages``; a UserError naming the endpoint (never the
        key) when it cannot be reached, refuses, or answers something else than a chat reply."""
        if self.requests >= self.config.max_requests:
            raise UserError(
                f"{self.role} request limit reached: the limit of {self.config.max_requests} "
                "requests (raise max_requests or ask for less)"
            )
        self.requests += 1
        body = {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        headers = {"Content-Type": "application/json"}
        if self.config.key:
            headers["Authorization"] = f"Bearer {self.config.key}"
        req = urllib.request.Request(
            self.config.endpoint, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        where = f"{self.role} {self.config.describe()}"
        try:
            with urllib.request.urlopen(req, timeout=self.config.timeout_s) as resp:
                data: Any = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            e.close()  # the error holds the open response
            raise UserError(f"{where} answered HTTP {e.code} ({e.reason})") from None
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(f"cannot reach {where} (unreachable: {reason})") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UserError(f"{where} did not answer with JSON") from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise UserError(f"{where} answered without choices[0].message.content") from None
        return content if isinstance(content, str) else ""
