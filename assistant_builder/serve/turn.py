"""One chat request being answered: the events from the batcher's worker thread, the response
shapes (a whole chat.completion or server-sent chunks) and the request's entry in the log.

With ``serve --retrieval`` a turn also carries what grounded it: the ``sources`` and
``notices`` fields on the chat.completion object, and on the chunk that ends a stream (the one
with ``finish_reason``, and the usage chunk after it); ``--sources-footer`` appends a
"Sources: file:lines" line to the answer the client sees (the log keeps the answer without it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from assistant_builder.serve.batcher import Job
from assistant_builder.serve.requests import ChatRequest, RequestError


class Events:
    """Hands a job's events from the worker thread to the request's event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def emit(self, kind: str, payload: Any) -> None:
        # RuntimeError: the loop is gone (server shut down), so nobody is listening.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, payload))


class Turn:
    """One request being answered: its response shapes and its entry in the log."""

    def __init__(
        self,
        req: ChatRequest,
        model_id: str,
        prompt_tokens: int,
        log: Any,
        grounded: Any = None,
        footer: bool = False,
    ) -> None:
        self.req = req
        self.model_id = model_id
        self.prompt_tokens = prompt_tokens
        self.log = log
        self.grounded = grounded  # serve.grounding.Grounded, or None without retrieval
        self.footer = grounded.footer() if grounded is not None and footer else ""
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.started = time.perf_counter()

    def usage(self, completion: int) -> dict[str, int]:
        p = self.prompt_tokens
        return {"prompt_tokens": p, "completion_tokens": completion, "total_tokens": p + completion}

    async def _record(self, info: dict[str, Any]) -> None:
        if self.log is None:
            return
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(
            self.log.record,
            self.model_id,
            self.id,
            self.req.messages,
            info["text"],
            info["finish_reason"],
            (self.prompt_tokens, info["completion_tokens"]),
            time.perf_counter() - self.started,
            None if self.grounded is None else self.grounded.sources,
        )

    def _extra(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The retrieval fields on a response object (none without retrieval)."""
        if self.grounded is not None:
            obj["sources"] = self.grounded.sources
            obj["notices"] = self.grounded.notices
        return obj

    def _with_footer(self, text: str) -> str:
        if not self.footer:
            return text
        return f"{text}\n\n{self.footer}" if text else self.footer

    async def whole(self, events: Events, job: Job, request: Any) -> dict[str, Any]:
        """Wait for the whole answer; a client that hangs up cancels its generation."""
        while True:
            try:
                kind, payload = await asyncio.wait_for(events.queue.get(), 0.25)
            except TimeoutError:
                if await request.is_disconnected():
                    job.cancel()
                continue
            if kind == "error":
                raise RequestError(500, payload, "server_error")
            if kind == "done":
                break
        await self._record(payload)
        return self._extra(
            {
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model_id,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": self._with_footer(payload["text"]),
                        },
                        "finish_reason": payload["finish_reason"],
                        "logprobs": None,
                    }
                ],
                "usage": self.usage(payload["completion_tokens"]),
            }
        )

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> str:
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model_id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if self.req.include_usage:
            obj["usage"] = None  # the spec: null on every chunk but the last
        if finish is not None:
            self._extra(obj)
        return f"data: {json.dumps(obj)}\n\n"

    async def stream(self, events: Events, job: Job) -> AsyncIterator[str]:
        """Server-sent events as the OpenAI API sends them. Leaving early (the client went
        away) cancels the generation."""
        done = False
        try:
            yield self._chunk({"role": "assistant", "content": ""})
            while True:
                kind, payload = await events.queue.get()
                if kind == "delta":
                    yield self._chunk({"content": payload})
                    continue
                done = True
                if kind == "error":
                    body = RequestError(500, payload, "server_error").body()
                    yield f"data: {json.dumps(body)}\n\n"
                    return
                break
            if self.footer:
                sep = "\n\n" if payload["text"] else ""
                yield self._chunk({"content": sep + self.footer})
            yield self._chunk({}, payload["finish_reason"])
            if self.req.include_usage:
                obj = {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model_id,
                    "choices": [],
                    "usage": self.usage(payload["completion_tokens"]),
                }
                yield f"data: {json.dumps(self._extra(obj))}\n\n"
            yield "data: [DONE]\n\n"
            await self._record(payload)
        finally:
            if not done:
                job.cancel()
