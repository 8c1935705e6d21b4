"""Shared by the serve tests: the server on a free loopback port, and an openai client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def running(ws: Any, run_id: str, **options: Any) -> Iterator[Any]:
    """The real server (uvicorn + app + batcher + log) for a run; yields the Server (``.url``)."""
    from assistant_builder.serve.run import ServeOptions, serving_in_thread

    opts = ServeOptions(host="127.0.0.1", port=0, **options)
    with serving_in_thread(ws, run_id, opts) as srv:
        yield srv


def client(base: str, key: str = "unused") -> Any:
    from openai import OpenAI

    return OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=120)
