"""serve: the official ``openai`` client, as a real client, against the real server (uvicorn,
the batcher, the conversation log) on a free loopback port, answering as a tiny random Llama +
LoRA run (fast) and, in the slow test, as a freshly trained run of the real default model."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from support.serving import client, running

from assistant_builder.errors import UserError

Q = "How do I reset my password?"
CLI = [sys.executable, "-m", "assistant_builder"]


def tuned_answer(ws, run_id: str, question: str, max_tokens: int) -> str:
    """The run's answer from the product's generation engine (adapter on, greedy)."""
    from assistant_builder.models.engine import Engine, GenSettings
    from assistant_builder.runs import Run

    run = Run(ws.run_dir(run_id))
    engine = Engine(run.base_model(), run.adapter_dir)
    settings = GenSettings(max_new_tokens=max_tokens, repetition_penalty=1.0)
    system = ws.load_settings().system_prompt
    return engine.answer([question], system_prompt=system, tuned=True, settings=settings)[0].text


def test_openai_client_chat_models_streaming_and_usage(tiny_run) -> None:
    ws, run_id = tiny_run
    with running(ws, run_id) as srv:
        c = client(srv.url)
        assert [m.id for m in c.models.list().data] == [run_id]
        assert c.models.retrieve(run_id).id == run_id
        res = c.chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": Q}], max_tokens=12
        )
        text = res.choices[0].message.content
        assert res.choices[0].finish_reason == "length"  # a random model never ends its turn
        assert res.usage is not None and res.usage.completion_tokens == 12
        # The merged model answers like the engine's tuned side, with the workspace prompt.
        assert text == tuned_answer(ws, run_id, Q, 12)
        pieces, finish, usage = [], None, None
        stream = c.chat.completions.create(
            model=run_id,
            messages=[{"role": "user", "content": Q}],
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            usage = chunk.usage or usage
            if not chunk.choices:  # the final usage chunk has no choices
                continue
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        assert len([p for p in pieces if p]) > 1, "streamed in several pieces"
        assert "".join(pieces) == text and finish == "length"
        assert usage is not None and usage.completion_tokens == 12
        assert usage.prompt_tokens == res.usage.prompt_tokens


def test_three_turn_conversation_is_answered_and_logged(tiny_run) -> None:
    ws, run_id = tiny_run
    with running(ws, run_id) as srv:
        c = client(srv.url)
        history: list[dict[str, str]] = [{"role": "system", "content": "Be brief."}]
        answers = []
        for q in (Q, "And if I forgot my email too?", "Thanks, anything else?"):
            history.append({"role": "user", "content": q})
            res = c.chat.completions.create(model=run_id, messages=history, max_tokens=8)
            answer = res.choices[0].message.content
            assert answer
            answers.append(answer)
            history.append({"role": "assistant", "content": answer})
        # The history reaches the model: the same question alone is answered differently.
        alone = c.chat.completions.create(
            model=run_id,
            messages=[{"role": "system", "content": "Be brief."}, history[-2]],
            max_tokens=8,
        )
        assert alone.choices[0].message.content != answers[-1]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant_builder",
            "--workspace",
            str(ws.root),
            "conversations",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    convs = json.loads(out.stdout)["conversations"]
    three = next(c for c in convs if len(c["exchanges"]) == 3)
    assert [e["answer"] for e in three["exchanges"]] == answers
    assert three["run"] == run_id


def test_stop_sequences_end_the_answer(tiny_run) -> None:
    ws, run_id = tiny_run
    with running(ws, run_id) as srv:
        c = client(srv.url)
        full = c.chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": Q}], max_tokens=16
        )
        text = full.choices[0].message.content
        stop = text[len(text) // 2 : len(text) // 2 + 3]
        cut = c.chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": Q}], max_tokens=16, stop=[stop]
        )
        assert cut.choices[0].finish_reason == "stop"
        assert cut.choices[0].message.content == text[: text.index(stop)].rstrip()
        streamed = c.chat.completions.create(
            model=run_id,
            messages=[{"role": "user", "content": Q}],
            max_tokens=16,
            stop=stop,
            stream=True,
        )
        pieces = [ch.choices[0].delta.content or "" for ch in streamed if ch.choices]
        assert "".join(pieces) == cut.choices[0].message.content  # the stop text never shows


def test_long_history_is_trimmed_oldest_first(tiny_run) -> None:
    ws, run_id = tiny_run
    with running(ws, run_id, context=160) as srv:
        c = client(srv.url)
        history = [{"role": "system", "content": "Be brief."}]
        for i in range(12):
            history += [
                {"role": "user", "content": f"Question number {i} about my account settings?"},
                {"role": "assistant", "content": f"Answer number {i}: open the settings page."},
            ]
        history.append({"role": "user", "content": Q})
        res = c.chat.completions.create(model=run_id, messages=history, max_tokens=8)
        assert res.choices[0].message.content
        assert res.usage.prompt_tokens + 8 <= 160
        prepared = srv.engine.prepare(history, 8)
        assert prepared.dropped_messages > 0 and len(prepared.ids) + 8 <= 160
        text = srv.engine.backend.decode(prepared.ids)
        assert "Be brief." in text and Q in text and "number 0" not in text and "number 11" in text


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, body, {"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def raw(port: int, data: bytes, wait: float = 5.0) -> bytes:
    """Send bytes on a fresh connection; what came back before the server closed it."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            pass
    return out


def test_hostile_requests_get_clear_4xx_and_the_server_keeps_answering(tiny_run) -> None:
    from assistant_builder.serve.app import Limits

    ws, run_id = tiny_run
    with running(ws, run_id, limits=Limits(max_body=4000, read_timeout=1.0)) as srv:
        url = f"{srv.url}/v1/chat/completions"
        good = {"model": run_id, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}
        cases = [
            ({**good, "model": "gpt-4"}, 404, "model"),
            ({**good, "stream": "false"}, 400, "stream"),
            ({**good, "top_p": 1.5}, 400, "top_p"),
            ({**good, "top_p": "high"}, 400, "top_p"),
            ({**good, "temperature": -1}, 400, "temperature"),
            ({**good, "max_tokens": 0}, 400, "max_tokens"),
            ({**good, "max_tokens": "10"}, 400, "max_tokens"),
            ({**good, "max_tokens": 5000}, 400, "max_tokens"),
            ({**good, "n": 2}, 400, "n"),
            ({**good, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
            ({**good, "messages": [{"role": "assistant", "content": "x"}]}, 400, "messages"),
            ({**good, "messages": [{"role": "tool", "content": "x"}]}, 400, "messages[0].role"),
            ({**good, "messages": "hello"}, 400, "messages"),
            ({**good, "messages": [{"role": "user", "content": "x" * 5000}]}, 413, None),
        ]
        for body, status, param in cases:
            code, got = post(url, json.dumps(body).encode())
            assert code == status, (body, got)
            assert got["error"]["message"] and got["error"]["type"]
            if param:
                assert got["error"]["param"] == param, got
        assert post(url, b"{not json")[0] == 400
        assert post(url, b"[1, 2]")[0] == 400
        code, got = post(f"{srv.url}/v1/nothing", b"{}")
        assert code == 404 and got["error"]["type"] == "not_found_error"
        port = int(srv.url.rsplit(":", 1)[1])
        head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        bad_length = raw(port, (head + "Content-Length: abc\r\n\r\n{}").encode())
        assert bad_length.startswith(b"HTTP/1.1 400")
        # A body that never arrives in full: 408 once the read timeout (1 s here) is over.
        short_body = raw(port, (head + "Content-Length: 100\r\n\r\n{").encode())
        assert short_body.startswith(b"HTTP/1.1 408"), short_body[:200]
        # ...and a good request is still answered.
        assert post(url, json.dumps(good).encode())[0] == 200


def test_api_key_from_env_or_file_and_sdk_errors(tiny_run, tmp_path, monkeypatch) -> None:
    import openai

    from assistant_builder.serve.run import resolve_api_key

    monkeypatch.setenv("ASSISTANT_BUILDER_API_KEY", "from-env")
    assert resolve_api_key(None, None) == ("from-env", "$ASSISTANT_BUILDER_API_KEY")
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n")
    assert resolve_api_key(None, str(key_file))[0] == "from-file"
    with pytest.raises(UserError, match="empty"):
        (tmp_path / "empty").write_text("")
        resolve_api_key(None, str(tmp_path / "empty"))
    ws, run_id = tiny_run
    with running(ws, run_id, api_key="s3cret") as srv:
        with pytest.raises(openai.AuthenticationError):
            client(srv.url, "wrong").models.list()
        good = client(srv.url, "s3cret")
        assert good.models.list().data[0].id == run_id
        # The SDK's own exceptions, with the server's message.
        ask = {"messages": [{"role": "user", "content": Q}], "max_tokens": 2}
        with pytest.raises(openai.NotFoundError, match="does not exist"):
            good.chat.completions.create(model="gpt-4o", **ask)
        with pytest.raises(openai.BadRequestError, match="n=1"):
            good.chat.completions.create(model=run_id, n=2, **ask)
        with pytest.raises(openai.BadRequestError, match="top_p"):
            good.chat.completions.create(model=run_id, top_p=3, stream=True, **ask)
        assert good.chat.completions.create(model=run_id, **ask).choices[0].message.content
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{srv.url}/v1/models", timeout=10)
        assert e.value.code == 401
        assert json.loads(e.value.read())["error"]["type"] == "authentication_error"


def test_cli_serve_warns_about_api_key_flag_and_hides_the_key(tiny_run) -> None:
    import os
    import signal

    ws, _run_id = tiny_run
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assistant_builder",
            "--workspace",
            str(ws.root),
            "serve",
            "--port",
            "0",
            "--api-key",
            "TOPSECRET-123",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        # Ctrl-C as a terminal delivers it: the default handler, whatever the test process
        # inherited (a child started with SIGINT ignored keeps ignoring it, by POSIX rule).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "curl" in line:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            # Stopping is not what this test is about; in a loaded full run the interpreter's
            # exit after Ctrl-C has taken over 30 s, so wait longer, then kill and read.
            rest = proc.communicate(timeout=120)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            rest = proc.communicate()[1]
    text = "".join(lines) + rest
    assert "process list" in text and "web page: http://127.0.0.1:" in text
    assert "TOPSECRET-123" not in text


def test_disconnected_stream_cancels_generation(tiny_run) -> None:
    import http.client

    ws, run_id = tiny_run
    with running(ws, run_id) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        body = {
            "model": run_id,
            "messages": [{"role": "user", "content": Q}],
            "max_tokens": 400,
            "stream": True,
        }
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("POST", "/v1/chat/completions", json.dumps(body))
        r = conn.getresponse()
        assert r.status == 200
        r.fp.readline()  # the first event
        conn.sock.close()  # the client goes away mid-answer
        conn.close()
        time.sleep(1.5)
        steps = srv.engine.steps
        time.sleep(1.0)
        assert srv.engine.steps == steps, "generation went on after the client left"
        assert steps < 350
        # The server is idle and still answers.
        res = client(srv.url).chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": "Hi"}], max_tokens=3
        )
        assert res.usage.completion_tokens == 3


def test_feedback_route_and_no_log(tiny_run) -> None:
    ws, run_id = tiny_run
    with running(ws, run_id) as srv:
        res = client(srv.url).chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": Q}], max_tokens=4
        )
        fb = {"completion_id": res.id, "rating": "down", "correction": "Use the reset link."}
        assert post(f"{srv.url}/feedback", json.dumps(fb).encode())[0] == 200
        code, _ = post(f"{srv.url}/feedback", json.dumps({**fb, "rating": "meh"}).encode())
        assert code == 400
        code, _ = post(f"{srv.url}/feedback", json.dumps({**fb, "completion_id": "x"}).encode())
        assert code == 404
        convs = srv.log.conversations()
    ex = convs[0]["exchanges"][0]
    assert ex["question"] == Q and ex["feedback"][0]["correction"] == "Use the reset link."
    before = (ws.root / "conversations.db").stat().st_mtime_ns
    with running(ws, run_id, log=False) as srv:
        client(srv.url).chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": Q}], max_tokens=4
        )
        assert post(f"{srv.url}/feedback", json.dumps(fb).encode())[0] == 404
    assert (ws.root / "conversations.db").stat().st_mtime_ns == before


def test_serve_refuses_a_run_without_adapter_or_llama_cpp(tiny_run) -> None:
    import importlib.util
    import shutil

    ws, run_id = tiny_run
    if importlib.util.find_spec("llama_cpp") is None:
        with (
            pytest.raises(UserError, match="llama-cpp-python"),
            running(ws, run_id, backend="llama-cpp"),
        ):
            pass
    shutil.rmtree(ws.runs_dir / run_id / "adapter")
    with pytest.raises(UserError, match="no adapter"), running(ws, run_id):
        pass


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
    with running(ws, run_id) as srv:
        res = client(srv.url).chat.completions.create(
            model=run_id,
            messages=[{"role": "user", "content": q[0]}],
            max_tokens=VERIFY_NEW_TOKENS,
        )
    # Served with the workspace system prompt and greedy decoding: the trained model's answer.
    assert res.choices[0].message.content == ref.text
    assert res.choices[0].finish_reason == ("stop" if ref.stopped else "length")
