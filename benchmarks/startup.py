"""Start-up time: ``assistant-builder --help`` and the app's first frame.

    python benchmarks/startup.py [--runs 9]

- ``python -c pass``: the floor on this machine now, for scale.
- ``--help``: the installed entry point (beside this Python, else ``python -m
  assistant_builder``), wall time of the whole process, median of ``--runs``.
- first frame, tmux: ``assistant-builder --workspace WS`` in a detached tmux pane (a real
  terminal, 100x30); time from launching it until the home screen's "Stages" panel is on the
  screen (capture-pane polled every 20 ms). Skipped where tmux is missing.
- first frame, headless: a child Python runs the app under Textual's ``App.run_test()``
  and prints a line once the home screen is mounted; time from spawning that child until the
  line arrives (interpreter start, imports, workspace reads, mount, first layout).

The workspace holds the starter FAQ (``init --demo`` → ``ingest`` → ``dataset``), so the home
screen reads real stage state.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PY, ROOT, build_dataset, finish_record, start_record, table

TARGET_HELP = 0.5
TARGET_FRAME = 1.5

_HEADLESS = """
import asyncio, sys
from assistant_builder.tui.app import AssistantBuilderApp
from assistant_builder.workspace import Workspace

async def main():
    app = AssistantBuilderApp(Workspace(sys.argv[1]))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.screen.query_one("#stages")  # the home screen is there
        print("MOUNTED", flush=True)

asyncio.run(main())
"""


def entry_point() -> list[str]:
    beside = Path(PY).with_name("assistant-builder")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("assistant-builder")
    return [found] if found else [PY, "-m", "assistant_builder"]


def time_cmd(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return times


def time_headless(ws: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.Popen(
            [PY, "-c", _HEADLESS, str(ws)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - t
        _, err = proc.communicate()
        if "MOUNTED" not in line:
            raise RuntimeError(f"the app did not mount: {err.strip()[-800:]}")
        times.append(elapsed)
    return times


def time_tmux(ws: Path, runs: int, text: str = "Stages") -> list[float] | None:
    if shutil.which("tmux") is None:
        return None
    times = []
    for i in range(runs):
        tmux = ["tmux", "-L", f"ab-bench-{i}-{time.time_ns()}"]
        cmd = " ".join(shlex.quote(c) for c in [*entry_point(), "--workspace", str(ws)])
        t = time.perf_counter()
        subprocess.run(
            [
                *tmux,
                "new-session",
                "-d",
                "-s",
                "b",
                "-x",
                "100",
                "-y",
                "30",
                f"TERM=xterm-256color exec {cmd}",
            ],
            check=True,
        )
        try:
            while time.perf_counter() - t < 30:
                screen = subprocess.run(
                    [*tmux, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True
                ).stdout
                if text in screen:
                    times.append(time.perf_counter() - t)
                    break
                time.sleep(0.02)
            else:
                raise RuntimeError(f"{text!r} never appeared; the screen shows:\n{screen}")
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True)
    return times


def stats(times: list[float] | None) -> dict[str, Any] | None:
    if not times:
        return None
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "runs": [round(x, 3) for x in times],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="--help and first-frame start-up times")
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/out/startup.json)")
    args = p.parse_args(argv)

    record = start_record()
    from _common import OUT

    ws = build_dataset(OUT / "train-data-ws").parents[1]
    record.update(
        runs=args.runs,
        # The floor: a bare interpreter on this machine, now (a loaded machine slows both).
        python=stats(time_cmd([PY, "-c", "pass"], args.runs)),
        help=stats(time_cmd([*entry_point(), "--help"], args.runs)),
        first_frame_tmux=stats(time_tmux(ws, args.runs)),
        first_frame_headless=stats(time_headless(ws, args.runs)),
    )
    py = record["python"]
    rows: list[list[Any]] = [
        ["python -c pass (floor)", py["median"], py["min"], py["max"], None, None]
    ]
    for name, key, target in (
        ("assistant-builder --help", "help", TARGET_HELP),
        ("first frame (tmux, home screen shown)", "first_frame_tmux", TARGET_FRAME),
        ("first frame (run_test, home mounted)", "first_frame_headless", TARGET_FRAME),
    ):
        s = record[key]
        if s is None:
            rows.append([name, None, None, None, target, "skipped (no tmux)"])
            continue
        s["target"], s["met"] = target, s["median"] < target
        rows.append([name, s["median"], s["min"], s["max"], target, s["met"]])
    path = finish_record(record, "startup", args.out)
    print(table(["measure", "median s", "min s", "max s", "target s", "met"], rows))
    print(
        f"\n{args.runs} runs each; load: {record['uptime_before']}  ->  "
        f"{record['uptime_after']}\nwrote {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
