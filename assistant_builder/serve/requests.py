"""Validation of OpenAI chat-completion requests, and the OpenAI-shaped error they fail with.

Every check names the offending parameter (``param`` in the error body, as the OpenAI API
does), so a chat front end shows the user something better than "400 Bad Request".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_TOKENS = 256
MAX_STOP_SEQUENCES = 4  # the OpenAI API's own limit
ROLES = ("system", "developer", "user", "assistant")


class RequestError(Exception):
    """A request the server refuses; becomes ``{"error": {...}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": str(self),
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass
class ChatRequest:
    """A validated request: the conversation and how to answer it."""

    model: str
    messages: list[dict[str, str]]  # role + plain-text content, system prompt first
    max_tokens: int | None  # None: as many as the context window leaves, up to the default
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    seed: int | None = None


def _text(content: Any, where: str) -> str:
    """Message content as text: a string, or OpenAI's list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        parts = []
        for p in content:
            kind = p.get("type") if isinstance(p, dict) else None
            if kind != "text":
                what = f"content part type {kind!r}" if isinstance(kind, str) else "a content part"
                raise RequestError(
                    400,
                    f"{what} is not supported: parts must be objects of type 'text' "
                    "(this model reads text only)",
                    param=where,
                )
            text = p.get("text")
            if not isinstance(text, str):
                raise RequestError(400, "a text content part needs 'text' (a string)", param=where)
            parts.append(text)
        return "".join(parts)
    raise RequestError(400, "message content must be a string or a list of text parts", param=where)


def _unicode(text: str, where: str) -> str:
    # "\ud800" is valid JSON but no character: the tokenizer would fail on it (a 500).
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(
            400, "message content is not valid Unicode (a lone surrogate)", param=where
        ) from None
    return text


def _messages(raw: Any, default_system: str) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise RequestError(400, "'messages' must be a non-empty list", param="messages")
    system: list[str] = []
    turns: list[dict[str, str]] = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            role = m.get("role") if isinstance(m, dict) else None
            why = (  # tool results make no sense to a model that was never offered tools
                f"role {role!r} is not supported (this model has no tools); "
                if role in ("tool", "function")
                else ""
            )
            raise RequestError(
                400,
                f"messages[{i}] needs a role: {why}one of {', '.join(ROLES)}",
                param=f"messages[{i}].role",
            )
        text = _unicode(_text(m.get("content"), f"messages[{i}].content"), f"messages[{i}].content")
        if m["role"] in ("system", "developer"):
            system.append(text)
        else:
            turns.append({"role": m["role"], "content": text})
    if not turns or turns[-1]["role"] != "user":
        raise RequestError(400, "the last message must be from the user", param="messages")
    if not turns[-1]["content"].strip():
        raise RequestError(400, "the last user message is empty", param="messages")
    # Without a system message the workspace system prompt is used, as in training.
    prompt = "\n\n".join(s for s in system if s.strip()) or default_system
    head = [{"role": "system", "content": prompt}] if prompt else []
    return head + turns


def _number(body: dict[str, Any], name: str, lo: float, hi: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not lo <= value <= hi:
        raise RequestError(400, f"{name} must be a number from {lo:g} to {hi:g}", param=name)
    return float(value)


def _max_tokens(body: dict[str, Any]) -> int | None:
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS_LIMIT:
        raise RequestError(
            400, f"{name} must be an integer from 1 to {MAX_TOKENS_LIMIT}", param=name
        )
    return value


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise RequestError(
            400,
            f"stop must be a non-empty string or a list of up to {MAX_STOP_SEQUENCES} of them",
            param="stop",
        )
    return list(stops)


def _flag(body: dict[str, Any], name: str) -> bool:
    # JSON booleans only: "false" is a non-empty string, and treating it as true would stream
    # to a client that asked for the opposite.
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestError(400, f"{name} must be true or false (a JSON boolean)", param=name)
    return value


def parse_request(body: Any, default_system: str) -> ChatRequest:
    """Validate a decoded JSON body; raises :class:`RequestError` naming the bad parameter."""
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "'model' must be a model id (see GET /v1/models)", param="model")
    n = body.get("n", 1)
    if n is not None and n != 1:
        raise RequestError(400, "only n=1 is supported (one answer per request)", param="n")
    stream = _flag(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise RequestError(400, "stream_options must be an object", param="stream_options")
    seed = body.get("seed")
    # torch's generators take a 64-bit seed; a larger one would fail the whole decode batch.
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**64
    ):
        raise RequestError(400, "seed must be a 64-bit integer", param="seed")
    return ChatRequest(
        model=model,
        messages=_messages(body.get("messages"), default_system),
        max_tokens=_max_tokens(body),
        # Greedy unless the client asks for sampling: a support assistant should answer the
        # same question the same way (and greedy is what compare and export verified).
        temperature=_number(body, "temperature", 0, 2, 0.0),
        top_p=_number(body, "top_p", 0, 1, 1.0),
        stop=_stop(body.get("stop")),
        stream=stream,
        include_usage=bool(stream and options and options.get("include_usage") is True),
        seed=seed,
    )
