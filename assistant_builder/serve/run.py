"""Putting ``serve`` together: a run's model, the batcher, the conversation log, the ASGI app,
and uvicorn on a socket bound before the model loads (so a busy port fails at once).

The API key comes from ``$ASSISTANT_BUILDER_API_KEY`` or a file (``--api-key-file``); it is
never printed. ``--api-key KEY`` still works but is visible to every user of the machine in
the process list, and the command says so.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError

API_KEY_ENV = "ASSISTANT_BUILDER_API_KEY"
BACKENDS = ("transformers", "llama-cpp")


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    log: bool = True
    keep_days: int | None = 90
    backend: str = "transformers"
    max_batch: int = 16
    single: str = "fp16"  # a request decoded alone: hand-written step (fp16/fp32/int8) or "model"
    drafts: bool = True  # a greedy request alone checks guesses from the run's answers
    context: int | None = None  # tokens; default: the model's own window
    retrieval: bool = False  # ground each answer in the workspace's retrieval index
    sources_footer: bool = False  # with retrieval: "Sources: file:lines" after each answer
    model_check: bool = True  # with retrieval, matched-question: the default model checks entries
    limits: Any = None
    say: Callable[[str], None] = field(default=lambda _: None)


def resolve_api_key(flag: str | None, key_file: str | None) -> tuple[str | None, str]:
    """The key and where it came from: the flag, a file, the environment, or none."""
    if flag and key_file:
        raise UserError("give the API key with --api-key or --api-key-file, not both")
    if key_file:
        path = Path(key_file)
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise UserError(f"cannot read the API key file {path}: {e.strerror or e}") from None
        if not key:
            raise UserError(f"the API key file {path} is empty")
        return key, f"file {path}"
    if flag:
        return flag, "--api-key"
    env = os.environ.get(API_KEY_ENV, "").strip()
    return (env, f"${API_KEY_ENV}") if env else (None, "none")


def bind(host: str, port: int) -> socket.socket:
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)  # a burst of chat clients must queue, not be reset
    sock.set_inheritable(True)
    return sock


def load_engine(ws: Any, run_id: str, opts: ServeOptions) -> Any:
    """The generation side for a run: the batcher over the merged model, or llama.cpp."""
    from assistant_builder.runs import Run

    run = Run(ws.run_dir(run_id))
    if not run.has_adapter():
        raise UserError(f"run {run_id} has no adapter (did it finish?)")
    if opts.backend == "llama-cpp":
        from assistant_builder.serve.llama_backend import LlamaCppEngine

        return LlamaCppEngine.for_run(ws, run_id, opts.context)
    if opts.backend != "transformers":
        raise UserError(f"unknown backend {opts.backend!r}; use one of {', '.join(BACKENDS)}")
    from assistant_builder.serve.backend import TransformersBackend
    from assistant_builder.serve.batcher import Batcher

    backend = TransformersBackend(run.base_model(), run.adapter_dir, opts.context, opts.single)
    if opts.drafts and backend.step is not None:
        from assistant_builder.models.drafts import answers_of

        answers = answers_of(run.dir / "data" / "train.jsonl")
        if answers:
            n = backend.use_answers(answers)
            opts.say(f"Speculative decoding: guesses from the run's {n} training answers")
    return Batcher(backend, max_batch=opts.max_batch).start()


@dataclass
class Server:
    server: Any  # uvicorn.Server
    sock: socket.socket
    engine: Any
    log: Any
    grounding: Any = None  # serve.grounding.Grounding with --retrieval

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def run(self) -> None:
        """Serve until Ctrl-C (uvicorn handles the signal and drains open requests)."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.close()

    def close(self) -> None:
        self.engine.stop()
        if self.log is not None:
            self.log.close()
        self.sock.close()


def build_server(ws: Any, run_id: str, opts: ServeOptions) -> Server:
    import uvicorn

    from assistant_builder.serve.app import create_app

    ws.require()
    sock = bind(opts.host, opts.port)
    log: Any = None
    engine: Any = None
    grounding: Any = None
    try:
        if opts.retrieval:  # a missing index fails before the model loads
            from assistant_builder.retrieval.index import INDEX_DIR, open_index

            if not (ws.dataset_dir / INDEX_DIR / "meta.json").is_file():
                open_index(ws, ws.run_dir(run_id))
        if opts.log:
            from assistant_builder.serve.conversations import open_log

            log = open_log(ws.root, opts.keep_days)
        engine = load_engine(ws, run_id, opts)
        if opts.retrieval:
            from assistant_builder.serve.grounding import Grounding

            grounding = Grounding.open(ws, ws.run_dir(run_id), engine, opts.model_check)
    except BaseException:
        sock.close()
        if log is not None:
            log.close()
        if engine is not None:
            engine.stop()
        raise
    app = create_app(
        engine,
        run_id,
        ws.load_settings().system_prompt,
        api_key=opts.api_key,
        log=log,
        limits=opts.limits,
        say=opts.say,
        grounding=grounding,
        sources_footer=opts.sources_footer,
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        timeout_keep_alive=15,
        timeout_graceful_shutdown=5,
        # Headers must arrive in one reasonably sized piece; bodies are capped by the app.
        h11_max_incomplete_event_size=64 * 1024,
    )
    return Server(uvicorn.Server(config), sock, engine, log, grounding)


@contextmanager
def serving_in_thread(ws: Any, run_id: str, opts: ServeOptions) -> Iterator[Server]:
    """The server on a background thread (tests, benchmarks); stopped on exit."""
    import time

    srv = build_server(ws, run_id, opts)
    thread = threading.Thread(target=srv.server.run, kwargs={"sockets": [srv.sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield srv
    finally:
        srv.server.should_exit = True
        thread.join(15)
        srv.close()
