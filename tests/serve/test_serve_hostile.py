"""serve against requests nobody here wrote: malformed bodies, odd parameter types, the
OpenAI "content parts" format, roles the model has no use for, very long conversations,
clients that leave at once and a crowd of bad requests while a good one streams.

Every refusal must be a 4xx whose body is OpenAI-shaped (``{"error": {"message", "type",
"param", "code"}}``), and the server must keep answering afterwards.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from support.serving import client, running

Q = "How do I reset my password?"


def _shaped(r: httpx.Response) -> dict[str, Any]:
    """The error body of a refused request, checked to be what OpenAI SDKs expect."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"].strip(), err
    assert "\n" not in err["message"] and "Traceback" not in err["message"]
    return err


def _good(run_id: str, **kw: Any) -> dict[str, Any]:
    return {"model": run_id, "messages": [{"role": "user", "content": Q}], "max_tokens": 3, **kw}


def _refusals(run_id: str) -> list[tuple[str, Any, int, str | None]]:
    """(label, body, status, param named in the error or None)."""
    g = _good(run_id)
    user = {"role": "user", "content": Q}
    return [
        ("messages not a list", {**g, "messages": {"role": "user", "content": Q}}, 400, "messages"),
        ("message not an object", {**g, "messages": ["hi"]}, 400, "messages[0].role"),
        (
            "image part",
            {
                **g,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is this?"},
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:image/png;base64,AAAA"},
                            },
                        ],
                    }
                ],
            },
            400,
            "messages[0].content",
        ),
        (
            "part text not a string",
            {
                **g,
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": {"nested": "x"}}]}
                ],
            },
            400,
            "messages[0].content",
        ),
        (
            "part not an object",
            {**g, "messages": [{"role": "user", "content": ["hi"]}]},
            400,
            "messages[0].content",
        ),
        (
            "tool role",
            {
                **g,
                "messages": [user, {"role": "tool", "content": "42", "tool_call_id": "c1"}, user],
            },
            400,
            "messages[1].role",
        ),
        (
            "function role",
            {**g, "messages": [{"role": "function", "name": "f", "content": "1"}, user]},
            400,
            "messages[0].role",
        ),
        ("missing content", {**g, "messages": [{"role": "user"}]}, 400, "messages"),
        ("null content", {**g, "messages": [{"role": "user", "content": None}]}, 400, "messages"),
        (
            "number content",
            {**g, "messages": [{"role": "user", "content": 42}]},
            400,
            "messages[0].content",
        ),
        (
            "object content",
            {**g, "messages": [{"role": "user", "content": {"text": "hi"}}]},
            400,
            "messages[0].content",
        ),
        ("max_tokens 0", {**g, "max_tokens": 0}, 400, "max_tokens"),
        ("max_tokens negative", {**g, "max_tokens": -5}, 400, "max_tokens"),
        ("max_tokens 1e9", {**g, "max_tokens": 1e9}, 400, "max_tokens"),
        ("max_tokens huge int", {**g, "max_tokens": 10**30}, 400, "max_tokens"),
        ("max_tokens string", {**g, "max_tokens": "5"}, 400, "max_tokens"),
        ("temperature hot", {**g, "temperature": "hot"}, 400, "temperature"),
        ("stop 5 items", {**g, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
        ("stop number", {**g, "stop": 5}, 400, "stop"),
        ("seed beyond 64 bits", {**g, "temperature": 1, "seed": 2**80}, 400, "seed"),
        ("model not a string", {**g, "model": 7}, 400, "model"),
        ("stream_options not an object", {**g, "stream_options": "yes"}, 400, "stream_options"),
    ]


def test_each_bad_request_gets_an_openai_shaped_4xx(tiny_run) -> None:
    ws, run_id = tiny_run
    with running(ws, run_id) as srv, httpx.Client(base_url=srv.url, timeout=60) as h:
        for label, body, status, param in _refusals(run_id):
            r = h.post("/v1/chat/completions", json=body)
            assert r.status_code == status, (label, r.text[:300])
            err = _shaped(r)
            assert err["param"] == param, (label, err)
        assert h.post("/v1/chat/completions", json=_good(run_id)).status_code == 200


def test_bodies_that_are_not_a_json_object(tiny_run) -> None:
    ws, run_id = tiny_run
    good = json.dumps(_good(run_id)).encode()
    bodies = {
        "invalid JSON": b'{"model": ',
        "JSON array": b"[1, 2]",
        "JSON string": b'"hi"',
        "empty body": b"",
        "not UTF-8": b'{"model": "\xff\xfe"}',
        "form body": b"model=x&messages=hi",
        "nested 100k deep": b"[" * 100_000 + b"]" * 100_000,
        "integer of 5000 digits": b'{"max_tokens": ' + b"9" * 5000 + b"}",
        "NaN temperature": good[:-1] + b', "temperature": NaN}',
    }
    with running(ws, run_id) as srv, httpx.Client(base_url=srv.url, timeout=60) as h:
        for label, data in bodies.items():
            r = h.post(
                "/v1/chat/completions", content=data, headers={"content-type": "application/json"}
            )
            assert r.status_code == 400, (label, r.status_code, r.text[:300])
            _shaped(r)
        # A JSON body sent as text/plain (a curl without -H) is still read, as OpenAI does.
        r = h.post("/v1/chat/completions", content=good, headers={"content-type": "text/plain"})
        assert r.status_code == 200, r.text[:300]
        r = h.post(
            "/v1/chat/completions",
            content=b"x" * 2_000_000,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413 and _shaped(r)

        def chunks() -> Any:  # no Content-Length: the cap applies while reading
            for _ in range(40):
                yield b" " * 50_000

        r = h.post("/v1/chat/completions", content=chunks())
        assert r.status_code == 413 and _shaped(r)
        r = h.get("/v1/chat/completions")
        assert r.status_code == 405 and _shaped(r)
        assert h.post("/v1/chat/completions", content=good).status_code == 200


def test_accepted_shapes_text_parts_roles_stops_and_unknown_fields(tiny_run) -> None:
    ws, run_id = tiny_run
    with running(ws, run_id) as srv:
        c = client(srv.url)
        parts = [{"type": "text", "text": "How do I reset "}, {"type": "text", "text": "it?"}]
        for messages in (
            [{"role": "user", "content": parts}],
            [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": Q}],
            [
                {"role": "user", "content": Q, "name": "jane"},
                {"role": "assistant", "content": None},  # an answer that was only a tool call
                {"role": "user", "content": Q},
            ],
        ):
            res = c.chat.completions.create(model=run_id, messages=messages, max_tokens=3)
            assert res.choices[0].message.content is not None
        for stop in ("x", ["x"], ["a", "b", "c", "d"]):
            res = c.chat.completions.create(
                model=run_id, messages=[{"role": "user", "content": Q}], max_tokens=3, stop=stop
            )
            assert res.usage is not None and res.usage.completion_tokens <= 3
        # Fields this server has no use for are ignored, as the OpenAI API ignores unknown ones.
        with httpx.Client(base_url=srv.url, timeout=60) as h:
            extra = {
                "user": "u-1",
                "metadata": {"k": "v"},
                "logprobs": False,
                "presence_penalty": 0.5,
                "frequency_penalty": 0.1,
                "logit_bias": {"50256": -100},
                "response_format": {"type": "text"},
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
                "tool_choice": "none",
                "parallel_tool_calls": False,
                "store": False,
                "service_tier": "auto",
                "some_future_field": [1, {"x": None}],
            }
            r = h.post("/v1/chat/completions", json=_good(run_id, **extra))
            assert r.status_code == 200, r.text[:300]
            assert r.json()["choices"][0]["message"]["role"] == "assistant"


def test_ten_thousand_messages_are_trimmed_quickly(tiny_run) -> None:
    ws, run_id = tiny_run
    history: list[dict[str, str]] = []
    for i in range(5000):
        history += [
            {"role": "user", "content": f"question {i}"},
            {"role": "assistant", "content": f"answer {i}"},
        ]
    history.append({"role": "user", "content": Q})
    with running(ws, run_id) as srv, httpx.Client(base_url=srv.url, timeout=300) as h:
        backend = srv.engine.backend
        encode, calls = backend._encode, []

        def counted(messages: list[dict[str, str]]) -> list[int]:
            calls.append(len(messages))
            return encode(messages)

        backend._encode = counted
        r = h.post("/v1/chat/completions", json=_good(run_id, messages=history))
        assert r.status_code == 200, r.text[:300]
        # Fitting the window must not re-tokenise the conversation once per dropped turn
        # (thousands of chat-template renders of thousands of messages).
        assert len(calls) < 40, len(calls)
        # A single message longer than the window: a 400 naming the context length.
        r = h.post(
            "/v1/chat/completions",
            json=_good(run_id, messages=[{"role": "user", "content": "word " * 150_000}]),
        )
        assert r.status_code == 400 and _shaped(r)["code"] == "context_length_exceeded"


def test_odd_text_in_messages_is_answered_not_crashed(tiny_run) -> None:
    ws, run_id = tiny_run
    with running(ws, run_id) as srv, httpx.Client(base_url=srv.url, timeout=60) as h:
        r = h.post(
            "/v1/chat/completions",
            content=json.dumps(_good(run_id, messages=[{"role": "user", "content": "\ud800?"}])),
        )
        assert r.status_code == 400 and _shaped(r)["param"] == "messages[0].content"
        for content in ("NUL \x00 byte?", "\x1b[31mred?", "😀" * 50):
            body = json.dumps(_good(run_id, messages=[{"role": "user", "content": content}]))
            r = h.post("/v1/chat/completions", content=body.encode())
            assert r.status_code in (200, 400), (content, r.text[:300])
            if r.status_code == 400:
                _shaped(r)
        for top_p, temperature in ((0, 1), (1e-9, 2), (1, 2)):
            r = h.post(
                "/v1/chat/completions",
                json=_good(run_id, top_p=top_p, temperature=temperature, seed=-1),
            )
            assert r.status_code in (200, 400), r.text[:300]
        assert h.post("/v1/chat/completions", json=_good(run_id)).status_code == 200


def test_client_gone_at_once_and_a_crowd_of_bad_requests_during_a_stream(tiny_run) -> None:
    import socket

    ws, run_id = tiny_run
    with running(ws, run_id) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        body = json.dumps(_good(run_id, max_tokens=300, stream=True)).encode()
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        for _ in range(5):  # send the request and leave before reading a byte
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(head + body)

        async def crowd() -> tuple[str, list[int]]:
            async with httpx.AsyncClient(base_url=srv.url, timeout=120) as h:

                async def streamed() -> str:
                    text = ""
                    req = _good(run_id, max_tokens=40, stream=True)
                    async with h.stream("POST", "/v1/chat/completions", json=req) as r:
                        assert r.status_code == 200
                        async for line in r.aiter_lines():
                            if line.startswith("data: {"):
                                delta = json.loads(line[6:])["choices"]
                                text += (delta[0]["delta"].get("content") or "") if delta else ""
                    return text

                async def bad(i: int) -> int:
                    _, req, _, _ = _refusals(run_id)[i % len(_refusals(run_id))]
                    r = await h.post("/v1/chat/completions", json=req)
                    _shaped(r)
                    return r.status_code

                task = asyncio.create_task(streamed())
                codes = await asyncio.gather(*(bad(i) for i in range(200)))
                return await task, list(codes)

        text, codes = asyncio.run(crowd())
        assert text and all(400 <= c < 500 for c in codes)
        steps, deadline = -1, time.monotonic() + 60
        while steps != srv.engine.steps and time.monotonic() < deadline:  # until idle
            steps = srv.engine.steps
            time.sleep(1.0)
        # The five abandoned requests asked for 300 tokens each: they were cancelled, not run.
        assert steps < 250, steps
        res = client(srv.url).chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": Q}], max_tokens=3
        )
        assert res.usage is not None and res.usage.completion_tokens == 3
