"""Stopping ``train`` from outside: SIGTERM to the command stops the training child too (as
Ctrl-C does: the child is asked to save and stop), and a child whose parent was killed
outright stops by itself instead of training on, orphaned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its new parent) counts as stopped.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[1].startswith("Z"))


def _wait_gone(pid: int, seconds: float) -> bool:
    end = time.time() + seconds
    while time.time() < end:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


# A stand-in for the worker: stops on SIGTERM like the real one (which saves first).
_CHILD = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
    "time.sleep(120)"
)

_PARENT = textwrap.dedent(
    f"""
    import subprocess, sys
    from pathlib import Path
    from assistant_builder.train.launch import TrainHandle, TrainingFailed, _follow_or_cancel
    from assistant_builder.train.launch import _terminate_as_interrupt

    proc = subprocess.Popen([sys.executable, "-c", {_CHILD!r}], start_new_session=True)
    print(proc.pid, flush=True)
    handle = TrainHandle("r", Path(sys.argv[1]), proc)
    try:
        with _terminate_as_interrupt():
            _follow_or_cancel(handle, lambda ev: None)
    except TrainingFailed:
        pass
    print("stopped", proc.poll(), flush=True)
    """
)


def test_sigterm_to_train_stops_the_child(tmp_path: Path) -> None:
    p = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path)], stdout=subprocess.PIPE,
                         text=True, env=_env())  # fmt: skip
    assert p.stdout is not None
    child = int(p.stdout.readline())
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=30)
    assert "stopped 0" in out  # the child was asked to stop and did, before the command ended
    assert _wait_gone(child, 5)


_ORPHAN = textwrap.dedent(
    """
    import subprocess, sys
    code = (
        "import sys, time\\n"
        "from assistant_builder.train import worker\\n"
        "worker._watch_parent(poll=0.1)\\n"
        "while not worker._STOP['requested']: time.sleep(0.05)\\n"
        "sys.exit(0)\\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    print(proc.pid, flush=True)
    proc.wait()
    """
)


def test_worker_stops_when_its_parent_is_killed() -> None:
    p = subprocess.Popen([sys.executable, "-c", _ORPHAN], stdout=subprocess.PIPE, text=True,
                         env=_env())  # fmt: skip
    assert p.stdout is not None
    child = int(p.stdout.readline())
    time.sleep(3)  # the child imports the worker module and starts watching
    assert _alive(child)
    p.kill()  # kill -9: no handler runs in the parent
    p.wait()
    assert _wait_gone(child, 15), "the worker kept running after its parent died"
