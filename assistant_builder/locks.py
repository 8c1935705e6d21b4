"""Locks for the stores a command rewrites (``sources/index.json``, the dataset files, ...).

Two commands on one workspace at the same time must not lose each other's writes: each
read-modify-write of a store runs under that store's lock. The lock files live in
``<workspace>/.locks/``; the operating system releases them when their process dies (even by
kill -9), so a killed command never leaves the workspace locked. A second writer says that it
waits, then waits; after ``timeout`` seconds it gives up with a clear reason.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant_builder.errors import UserError

LOCK_DIR = ".locks"
# Long enough for another ingest of a large folder or a dataset build to finish.
DEFAULT_TIMEOUT = 3600.0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def store_lock(
    root: Path,
    name: str,
    on_wait: Callable[[str], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Iterator[None]:
    """Hold the lock of store ``name`` of the workspace at ``root`` for the ``with`` block."""
    from filelock import FileLock, Timeout

    folder = root / LOCK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f"{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        (on_wait or _say)(
            f"waiting: another assistant-builder command is writing {name} in {root} "
            f"(up to {timeout:.0f} s)"
        )
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise UserError(
                f"{name} in {root} is still being written by another command after "
                f"{timeout:.0f} s; try again when it has finished"
            ) from None
    try:
        yield
    finally:
        lock.release()
