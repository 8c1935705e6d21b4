"""The HTTP side of ``serve``: an ASGI app (FastAPI) speaking OpenAI's chat-completions and
models API, the web page at ``/`` and the page's feedback route.

Every refusal is an OpenAI-shaped error body (``{"error": {"message", "type", "param",
"code"}}``) with a 4xx status, so SDKs raise their usual exceptions and the server keeps
answering. Bodies are capped in size and must arrive within a time limit.
"""

# No `from __future__ import annotations`: FastAPI reads the route parameters' annotations
# (Request) at run time, and they are imported inside create_app.

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from assistant_builder.serve.batcher import Job
from assistant_builder.serve.requests import RequestError, parse_request
from assistant_builder.serve.turn import Events, Turn

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 1_000_000
READ_TIMEOUT_S = 30.0
MAX_WAITING = 256  # requests queued or decoding at once; more get a 429


class Limits:
    def __init__(
        self,
        max_body: int = MAX_BODY_BYTES,
        read_timeout: float = READ_TIMEOUT_S,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.max_waiting = max_waiting


async def read_json(request: Any, limits: Limits) -> Any:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limits.max_body:
        raise RequestError(413, f"the body is larger than {limits.max_body} bytes")

    async def collect() -> bytes:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limits.max_body:
                raise RequestError(413, f"the body is larger than {limits.max_body} bytes")
        return bytes(data)

    try:
        raw = await asyncio.wait_for(collect(), limits.read_timeout)
    except TimeoutError:
        raise RequestError(
            408, f"the body did not arrive within {limits.read_timeout:g} s", code="timeout"
        ) from None
    try:
        return json.loads(raw or b"null", parse_constant=_not_json)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RequestError(400, f"the body is not valid JSON ({e})") from None
    except RecursionError:
        raise RequestError(400, "the body is not valid JSON (nested too deeply)") from None
    except ValueError as e:  # NaN/Infinity, or an integer of thousands of digits
        raise RequestError(400, f"the body is not valid JSON ({e})") from None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class Api:
    """What the routes share: the engine, the model card, the key, the log, the limits."""

    def __init__(
        self,
        engine: Any,
        model_id: str,
        system_prompt: str,
        api_key: str | None,
        log: Any,
        limits: Limits,
        grounding: Any = None,
        sources_footer: bool = False,
    ) -> None:
        self.engine = engine
        self.grounding = grounding  # serve.grounding.Grounding with --retrieval, else None
        self.sources_footer = sources_footer
        self.model_id = model_id
        self.system_prompt = system_prompt
        self.api_key = api_key
        self.log = log
        self.limits = limits
        self.card = {
            "id": model_id,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "assistant-builder",
        }
        self.busy = {"n": 0}  # requests queued or decoding

    def authorise(self, request: Any) -> None:
        if self.api_key is None:
            return
        got = request.headers.get("authorization", "")
        if not hmac.compare_digest(got.encode(), f"Bearer {self.api_key}".encode()):
            raise RequestError(
                401, "invalid or missing API key", "authentication_error", code="invalid_api_key"
            )

    async def feedback(self, request: Any) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        from assistant_builder.errors import UserError

        self.authorise(request)
        body = await read_json(request, self.limits)
        if self.log is None:
            raise RequestError(404, "this server does not log conversations (--no-log)")
        if not isinstance(body, dict) or not isinstance(body.get("completion_id"), str):
            raise RequestError(400, "feedback needs completion_id, rating, optional correction")
        rating, correction = body.get("rating"), body.get("correction") or ""
        if rating not in ("up", "down") or not isinstance(correction, str):
            raise RequestError(400, "rating must be 'up' or 'down' and correction a string")
        try:
            fid = await run_in_threadpool(
                self.log.feedback, body["completion_id"], rating, correction
            )
        except UserError as e:
            raise RequestError(404, str(e)) from None
        return {"id": fid}

    async def chat(self, request: Any) -> Any:
        from fastapi.responses import StreamingResponse
        from starlette.concurrency import run_in_threadpool

        self.authorise(request)
        req = parse_request(await read_json(request, self.limits), self.system_prompt)
        if req.model != self.model_id:
            raise _unknown_model(req.model, self.model_id)
        if self.busy["n"] >= self.limits.max_waiting:
            raise RequestError(
                429, "too many requests in progress; retry shortly", "rate_limit_error"
            )
        grounded, messages = None, req.messages
        if self.grounding is not None:
            grounded = await run_in_threadpool(self.grounding.ground, messages, req.max_tokens)
            messages = grounded.messages
        prepared = await run_in_threadpool(self.engine.prepare, messages, req.max_tokens)
        events = Events()
        job = Job(
            prepared.ids,
            prepared.max_tokens,
            events.emit,
            temperature=req.temperature,
            top_p=req.top_p,
            stop=req.stop,
            seed=req.seed,
        )
        turn = Turn(req, self.model_id, len(prepared.ids), self.log, grounded, self.sources_footer)
        self.busy["n"] += 1
        self.engine.submit(job)
        if req.stream:
            return StreamingResponse(
                _counted(turn.stream(events, job), self.busy),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            return await turn.whole(events, job, request)
        finally:
            self.busy["n"] -= 1


def _error_handlers(app: Any, say: Callable[[str], None]) -> None:
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestError)
    async def _refused(_: Request, e: RequestError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, e: HTTPException) -> JSONResponse:
        kind = "not_found_error" if e.status_code == 404 else "invalid_request_error"
        return JSONResponse(RequestError(e.status_code, str(e.detail), kind).body(), e.status_code)

    @app.exception_handler(Exception)
    async def _crash(_: Request, e: Exception) -> JSONResponse:
        say(f"[red]internal error:[/] {type(e).__name__}: {e}")
        body = RequestError(500, f"internal error: {type(e).__name__}", "server_error").body()
        return JSONResponse(body, status_code=500)


def _routes(app: Any, api: Api) -> None:
    from fastapi import Request
    from fastapi.responses import HTMLResponse

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": api.model_id}

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/config")
    async def config() -> dict[str, Any]:
        logging = api.log is not None
        return {
            "model": api.model_id,
            "auth": api.api_key is not None,
            "logging": logging,
            "retrieval": api.grounding is not None,
        }

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        api.authorise(request)
        return {"object": "list", "data": [api.card]}

    @app.get("/v1/models/{name:path}")
    async def model(name: str, request: Request) -> dict[str, Any]:
        api.authorise(request)
        if name != api.model_id:
            raise _unknown_model(name, api.model_id)
        return api.card

    @app.post("/feedback")
    async def feedback(request: Request) -> dict[str, Any]:
        return await api.feedback(request)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        return await api.chat(request)


def create_app(
    engine: Any,
    model_id: str,
    system_prompt: str,
    *,
    api_key: str | None = None,
    log: Any = None,
    limits: Limits | None = None,
    say: Callable[[str], None] = lambda _: None,
    grounding: Any = None,
    sources_footer: bool = False,
) -> Any:
    """``engine`` has ``prepare(messages, max_tokens)`` and ``submit(job)`` (the Batcher);
    ``log`` is a ConversationLog or None (no logging); ``grounding`` a
    serve.grounding.Grounding (answer with retrieval) or None."""
    from fastapi import FastAPI

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    _error_handlers(app, say)
    api = Api(
        engine,
        model_id,
        system_prompt,
        api_key,
        log,
        limits or Limits(),
        grounding,
        sources_footer,
    )
    _routes(app, api)
    return app


def _unknown_model(name: str, model_id: str) -> RequestError:
    return RequestError(
        404,
        f"the model {name!r} does not exist; this server serves {model_id!r}",
        param="model",
        code="model_not_found",
    )


async def _counted(stream: AsyncIterator[str], busy: dict[str, int]) -> AsyncIterator[str]:
    try:
        async for item in stream:
            yield item
    finally:
        busy["n"] -= 1
