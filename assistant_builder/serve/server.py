"""``serve``: the tuned model of a run behind an OpenAI-compatible HTTP API.

``POST /v1/chat/completions`` (plain and streaming: server-sent events ``data: {...}`` chunks
closed by ``data: [DONE]``) and ``GET /v1/models``, so any OpenAI client, SDK or chat UI can
talk to the assistant. Standard library only (``ThreadingHTTPServer``): the model answers one
request at a time behind a lock (one copy of the weights; generation is not thread-safe), while
other connections are still accepted and queued. Binds 127.0.0.1 by default; with ``api_key``
every ``/v1`` request needs ``Authorization: Bearer KEY``.

A conversation is one optional system message plus one user question, the shape the model was
trained on and the generation engine answers; earlier turns are refused with a 400 rather than
silently dropped. Without a system message the workspace system prompt is used, as in training.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from assistant_builder.errors import UserError

MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_TOKENS = 256


class RequestError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def _text(content: Any) -> str:
    """Message content as text: a string, or OpenAI's list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if not isinstance(p, dict) or p.get("type") != "text":
                raise RequestError(400, "only text content parts are supported")
            parts.append(str(p.get("text", "")))
        return "".join(parts)
    raise RequestError(400, "message content must be a string or a list of text parts")


def parse_request(body: dict[str, Any], default_system: str) -> dict[str, Any]:
    """Validate a chat completion request; returns question, system prompt and settings."""
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise RequestError(400, "'messages' must be a non-empty list")
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in (
            "system",
            "developer",
            "user",
            "assistant",
        ):
            raise RequestError(400, "each message needs a role: system, user or assistant")
    system = [_text(m.get("content")) for m in msgs if m["role"] in ("system", "developer")]
    turns = [m for m in msgs if m["role"] not in ("system", "developer")]
    if len(turns) != 1 or turns[0]["role"] != "user":
        raise RequestError(
            400,
            "this server answers one user question per request (plus an optional system "
            "message); earlier turns are not supported",
        )
    question = _text(turns[0].get("content")).strip()
    if not question:
        raise RequestError(400, "the user message is empty")
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= MAX_TOKENS_LIMIT
    ):
        raise RequestError(400, f"max_tokens must be an integer from 1 to {MAX_TOKENS_LIMIT}")
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2
    ):
        raise RequestError(400, "temperature must be a number from 0 to 2")
    if body.get("n", 1) != 1:
        raise RequestError(400, "only n=1 is supported")
    return {
        "question": question,
        "system": "\n\n".join(system) if system else default_system,
        "max_tokens": max_tokens,
        # Greedy unless the client asks for sampling: a support assistant should answer the
        # same question the same way (and greedy is what compare and export verified).
        "temperature": float(temperature or 0.0),
        "top_p": float(body.get("top_p") or 1.0),
        "stream": bool(body.get("stream", False)),
    }


class Assistant:
    """The model side: answers parsed requests (tests may pass any object with this API)."""

    def __init__(self, base_model: str, adapter_dir: Any) -> None:
        from assistant_builder.models.engine import Engine

        self.engine = Engine(base_model, adapter_dir)
        self.lock = threading.Lock()

    def _settings(self, req: dict[str, Any]) -> Any:
        from assistant_builder.models.engine import GenSettings

        return GenSettings(
            max_new_tokens=req["max_tokens"],
            do_sample=req["temperature"] > 0,
            temperature=req["temperature"] or 1.0,
            top_p=req["top_p"],
            repetition_penalty=1.0,
            batch_size=1,
        )

    def count_tokens(self, text: str) -> int:
        return len(self.engine.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_tokens(self, req: dict[str, Any]) -> int:
        return self.count_tokens(self.engine.prompt_text(req["question"], req["system"]))

    def answer(self, req: dict[str, Any]) -> tuple[str, bool, int]:
        with self.lock:
            a = self.engine.answer(
                [req["question"]],
                system_prompt=req["system"],
                tuned=True,
                settings=self._settings(req),
            )[0]
        return a.text, a.stopped, a.new_tokens

    def stream(self, req: dict[str, Any]) -> Iterator[str]:
        with self.lock:
            yield from self.engine.stream(
                req["question"],
                system_prompt=req["system"],
                tuned=True,
                settings=self._settings(req),
            )


def make_handler(
    assistant: Any,
    model_id: str,
    system_prompt: str,
    api_key: str | None,
    log: Callable[[str], None],
) -> type[BaseHTTPRequestHandler]:
    created = int(time.time())

    class Handler(BaseHTTPRequestHandler):
        server_version = "assistant-builder"

        def log_message(self, format: str, *args: Any) -> None:
            log(f"{self.address_string()} {format % args}")

        # -- helpers -----------------------------------------------------------------
        def _json(self, status: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, kind: str) -> None:
            self._json(status, {"error": {"message": message, "type": kind, "code": None}})

        def _authorised(self) -> bool:
            if api_key is None:
                return True
            got = self.headers.get("Authorization", "")
            ok = hmac.compare_digest(got.encode(), f"Bearer {api_key}".encode())
            if not ok:
                self._error(401, "invalid or missing API key", "authentication_error")
            return ok

        # -- routes ------------------------------------------------------------------
        def do_GET(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            if path == "/health":
                return self._json(200, {"status": "ok"})
            if not self._authorised():
                return None
            card = {
                "id": model_id,
                "object": "model",
                "created": created,
                "owned_by": "assistant-builder",
            }
            if path == "/v1/models":
                return self._json(200, {"object": "list", "data": [card]})
            if path == f"/v1/models/{model_id}":
                return self._json(200, card)
            return self._error(404, f"no route {path}", "not_found_error")

        def do_POST(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            if path != "/v1/chat/completions":
                return self._error(404, f"no route {path}", "not_found_error")
            if not self._authorised():
                return None
            try:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                except json.JSONDecodeError as e:
                    raise RequestError(400, f"the body is not valid JSON ({e.msg})") from None
                if not isinstance(body, dict):
                    raise RequestError(400, "the body must be a JSON object")
                req = parse_request(body, system_prompt)
            except RequestError as e:
                return self._error(e.status, str(e), e.kind)
            cid = f"chatcmpl-{uuid.uuid4().hex}"
            if req["stream"]:
                return self._stream(cid, req)
            text, stopped, n = assistant.answer(req)
            prompt = assistant.prompt_tokens(req)
            return self._json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model_id,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop" if stopped else "length",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": n,
                        "total_tokens": prompt + n,
                    },
                },
            )

        def _stream(self, cid: str, req: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes

            def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
                obj = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model_id,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
                self.wfile.flush()

            chunk({"role": "assistant", "content": ""})
            pieces = []
            for piece in assistant.stream(req):
                if piece:
                    pieces.append(piece)
                    chunk({"content": piece})
            # The streamer does not say why generation ended; a full token budget means it
            # was cut off, anything shorter ended on the end-of-turn token.
            used = assistant.count_tokens("".join(pieces))
            chunk({}, "length" if used >= req["max_tokens"] else "stop")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


def make_server(
    assistant: Any,
    model_id: str,
    system_prompt: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> ThreadingHTTPServer:
    handler = make_handler(assistant, model_id, system_prompt, api_key, log)
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    server.daemon_threads = True
    return server


def server_for_run(
    ws: Any,
    run_id: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> ThreadingHTTPServer:
    """A server answering as the tuned model of ``run_id`` (loads the model first)."""
    from assistant_builder.export.registry import run_info

    ws.require()
    run_dir = ws.run_dir(run_id)
    if not (run_dir / "adapter").is_dir():
        raise UserError(f"run {run_id} has no adapter (did it finish?)")
    assistant = Assistant(run_info(run_dir)["base_model"], run_dir / "adapter")
    system = ws.load_settings().system_prompt
    return make_server(assistant, run_id, system, host, port, api_key, log)
