"""serve: the official ``openai`` client, as a real client, against the server on a free
loopback port, answering as a tiny random Llama + LoRA run (fast) and, in the slow test, as a
freshly trained run of the real default model."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from assistant_builder.errors import UserError


@contextmanager
def running(ws: Any, run_id: str, api_key: str | None = None) -> Iterator[str]:
    from assistant_builder.serve.server import server_for_run

    server = server_for_run(ws, run_id, "127.0.0.1", 0, api_key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def client(url: str, key: str = "unused") -> Any:
    from openai import OpenAI

    return OpenAI(base_url=url, api_key=key, max_retries=0, timeout=120)


def test_openai_client_chat_models_and_streaming(tiny_run) -> None:
    from assistant_builder.export.registry import reference_answers, verify_settings
    from assistant_builder.models.engine import Engine

    ws, run_id = tiny_run
    q = "How do I reset my password?"
    with running(ws, run_id) as url:
        c = client(url)
        assert [m.id for m in c.models.list().data] == [run_id]
        res = c.chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": q}], max_tokens=12
        )
        text = res.choices[0].message.content
        assert res.choices[0].finish_reason == "length"  # a random model never ends its turn
        assert res.usage is not None and res.usage.completion_tokens == 12
        # The server answers as the tuned model (adapter on), with the workspace system prompt.
        ref = reference_answers(ws, ws.runs_dir / run_id, [q])[0].text
        tuned_12 = (
            Engine(
                json.loads((ws.runs_dir / run_id / "run.json").read_text())["base_model"],
                ws.runs_dir / run_id / "adapter",
            )
            .answer(
                [q],
                system_prompt=ws.load_settings().system_prompt,
                tuned=True,
                settings=verify_settings().__class__(max_new_tokens=12, repetition_penalty=1.0),
            )[0]
            .text
        )
        assert text == tuned_12 and ref.startswith(text[:10])
        # Streaming: SSE chunks that join to the same answer, then a finish reason.
        pieces, finish = [], None
        stream = c.chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": q}], max_tokens=12, stream=True
        )
        for chunk in stream:
            delta = chunk.choices[0].delta
            if delta.content:
                pieces.append(delta.content)
            finish = chunk.choices[0].finish_reason or finish
        assert len(pieces) > 1, "streamed in several pieces"
        assert "".join(pieces) == text
        assert finish == "length"


def test_sse_wire_format_ends_with_done(tiny_run) -> None:
    ws, run_id = tiny_run
    with running(ws, run_id) as url:
        body = json.dumps(
            {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "stream": True}
        ).encode()
        req = urllib.request.Request(
            f"{url}/chat/completions", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.headers["Content-Type"] == "text/event-stream"
            events = [e for e in r.read().decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    first = json.loads(events[0][6:])
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["role"] == "assistant"


def test_api_key_and_bad_requests(tiny_run) -> None:
    import openai

    ws, run_id = tiny_run
    with running(ws, run_id, api_key="s3cret") as url:
        with pytest.raises(openai.AuthenticationError):
            client(url, "wrong").models.list()
        good = client(url, "s3cret")
        assert good.models.list().data[0].id == run_id
        with pytest.raises(openai.BadRequestError, match="one user question"):
            good.chat.completions.create(
                model=run_id,
                messages=[
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                    {"role": "user", "content": "c"},
                ],
            )
        with pytest.raises(openai.BadRequestError, match="max_tokens"):
            good.chat.completions.create(
                model=run_id, messages=[{"role": "user", "content": "a"}], max_tokens=0
            )
        # Plain HTTP: no key → 401 with an OpenAI-shaped error; unknown route → 404.
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{url}/models", timeout=10)
        assert e.value.code == 401
        assert json.loads(e.value.read())["error"]["type"] == "authentication_error"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{url[:-3]}/nothing", timeout=10)
        assert e.value.code in (401, 404)


def test_parse_request_defaults_and_system_prompt() -> None:
    from assistant_builder.serve.server import RequestError, parse_request

    req = parse_request({"messages": [{"role": "user", "content": " Hi "}]}, "WS prompt")
    assert req == {
        "question": "Hi",
        "system": "WS prompt",
        "max_tokens": 256,
        "temperature": 0.0,
        "top_p": 1.0,
        "stream": False,
    }
    req = parse_request(
        {
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "Own prompt"}]},
                {"role": "user", "content": "Hi"},
            ],
            "max_completion_tokens": 5,
        },
        "WS prompt",
    )
    assert req["system"] == "Own prompt" and req["max_tokens"] == 5
    for bad in (
        {},
        {"messages": [{"role": "tool", "content": "x"}]},
        {"messages": [{"role": "user", "content": ""}]},
        {"messages": [{"role": "user", "content": "x"}], "temperature": 5},
    ):
        with pytest.raises(RequestError):
            parse_request(bad, "x")


def test_serve_refuses_a_run_without_adapter(tiny_run) -> None:
    import shutil

    from assistant_builder.serve.server import server_for_run

    ws, run_id = tiny_run
    shutil.rmtree(ws.runs_dir / run_id / "adapter")
    with pytest.raises(UserError, match="no adapter"):
        server_for_run(ws, run_id, "127.0.0.1", 0)


@pytest.mark.slow
def test_serve_trained_default_model(trained_default_run) -> None:
    from assistant_builder.export.registry import (
        VERIFY_NEW_TOKENS,
        reference_answers,
        trained_questions,
    )

    ws, run_id = trained_default_run
    q = trained_questions(ws.runs_dir / run_id, 1)
    ref = reference_answers(ws, ws.runs_dir / run_id, q)[0]
    with running(ws, run_id) as url:
        res = client(url).chat.completions.create(
            model=run_id,
            messages=[{"role": "user", "content": q[0]}],
            max_tokens=VERIFY_NEW_TOKENS,
        )
    # Served with the workspace system prompt and greedy decoding: the trained model's answer.
    assert res.choices[0].message.content == ref.text
    assert res.choices[0].finish_reason == ("stop" if ref.stopped else "length")
