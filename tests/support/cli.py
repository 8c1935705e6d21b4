"""The one way tests run the command line: ``python -m assistant_builder`` in a subprocess, as a
user or a script would (exit status, stdout/stderr split, a fresh interpreter). The ``run_cli``
fixture in conftest.py hands out :func:`run_cli`; session fixtures import it from here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def cli_command(ws: Path | str, *args: str) -> list[str]:
    return [sys.executable, "-m", "assistant_builder", "--workspace", str(ws), *args]


def run_cli(
    ws: Path | str,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a command on workspace ``ws``; ``env`` adds to (not replaces) the environment."""
    return subprocess.run(
        cli_command(ws, *args),
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env} if env else None,
        timeout=timeout,
    )


def run_cli_json(ws: Path | str, *args: str, timeout: float = 1200) -> dict[str, Any]:
    """Run a command with ``--json``, which must succeed; its JSON object."""
    r = run_cli(ws, *args, "--json", timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    out: dict[str, Any] = json.loads(r.stdout)
    return out
