"""Shared pieces of the speed benchmarks: machine facts, the benchmark dataset, a process-tree
sampler (RSS and CPU seconds), the fp32 matmul peak, tables and JSON output.

Every benchmark writes ``benchmarks/out/NAME.json`` (git-ignored) and prints a table. The
machine these run on is often shared, so each result carries the load average before and after
and the CPU seconds next to wall seconds; ratios measured in the same run are what to trust.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
PY = sys.executable


# -- machine -------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, Any]:
    from assistant_builder import package_versions

    versions = package_versions(("torch", "transformers", "trl", "peft", "bitsandbytes", "textual"))
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "packages": versions,
    }


def start_record() -> dict[str, Any]:
    return {"machine": machine(), "uptime_before": uptime(), "started": time.time()}


def finish_record(record: dict[str, Any], name: str, out: Path | None = None) -> Path:
    record["uptime_after"] = uptime()
    record["seconds"] = round(time.time() - record.pop("started"), 1)
    path = out or OUT / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (it reads fine in a terminal and pastes into the README)."""

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


# -- process tree sampling -------------------------------------------------------------------
class TreeSampler:
    """Samples a process and all its descendants every ``interval`` seconds: the summed RSS
    (peak kept) and the summed CPU seconds (user + system), so CPU seconds between two wall
    times can be read off the series. Children that already exited keep the CPU time they
    had at the last sample (a short-lived helper may be missed, which does not matter here)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.samples: list[tuple[float, int, float]] = []  # (time, rss bytes, cpu seconds)
        self.peak_rss = 0
        self.peak_single = 0  # the largest one process reached
        self._cpu_by_pid: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            rss = 0
            for p in procs:
                try:
                    mem = p.memory_info().rss
                    t = p.cpu_times()
                except psutil.Error:
                    continue
                rss += mem
                self.peak_single = max(self.peak_single, mem)
                self._cpu_by_pid[p.pid] = t.user + t.system
            self.peak_rss = max(self.peak_rss, rss)
            self.samples.append((time.time(), rss, sum(self._cpu_by_pid.values())))
            self._stop.wait(self.interval)

    def cpu_between(self, t0: float, t1: float) -> float | None:
        """CPU seconds the tree used between wall times t0 and t1 (nearest samples)."""
        if not self.samples:
            return None

        def at(t: float) -> float:
            return min(self.samples, key=lambda s: abs(s[0] - t))[2]

        return at(t1) - at(t0)


def run_sampled(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command to the end under a TreeSampler; its output, exit status and samples."""
    t0 = time.time()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    with TreeSampler(proc.pid) as sampler:
        stdout, stderr = proc.communicate()
    return {
        "returncode": proc.returncode,
        "stdout": stdout,
        "stderr": stderr,
        "wall": time.time() - t0,
        "sampler": sampler,
    }


# -- data ----------------------------------------------------------------------------------------
def build_dataset(workspace: Path, sources: list[Path] | None = None) -> Path:
    """``init`` + ``ingest`` + ``dataset`` through the real CLI (the starter FAQ from
    data_templates unless sources are given); returns the workspace's train.jsonl."""
    cli = [PY, "-m", "assistant_builder", "--workspace", str(workspace), "--json"]
    # The workspace is reused between runs, but only for the same sources: a run with --faq
    # after one without (or with other files) must not train on the old rows.
    marker = workspace / "benchmark-sources.json"
    wanted = json.dumps(sorted(str(Path(p).resolve()) for p in sources or []))
    if marker.is_file() and marker.read_text(encoding="utf-8") != wanted:
        shutil.rmtree(workspace)
    if not (workspace / "dataset" / "train.jsonl").is_file():
        shutil.rmtree(workspace, ignore_errors=True)
        subprocess.run([*cli, "init", "--demo"], check=True, capture_output=True)
        paths = [str(p) for p in sources] if sources else [str(workspace / "demo-data")]
        subprocess.run([*cli, "ingest", *paths], check=True, capture_output=True)
        subprocess.run([*cli, "dataset"], check=True, capture_output=True)
        marker.write_text(wanted, encoding="utf-8")
    return workspace / "dataset" / "train.jsonl"


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def take_rows(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first n rows, cycling when the dataset is smaller."""
    return [rows[i % len(rows)] for i in range(n)]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def token_lengths(rows: list[dict[str, Any]]) -> list[int]:
    """Tokens of each whole conversation through the default model's chat template: the
    non-padding tokens any trainer has to process for that row."""
    from assistant_builder.models.loading import load_tokenizer

    tok = load_tokenizer("default")
    out = []
    for r in rows:
        ids = tok.apply_chat_template(r["messages"], tokenize=True)
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        out.append(len(ids))
    return out


# -- hardware peak -------------------------------------------------------------------------------
def matmul_peak(
    sizes: tuple[int, ...] = (1024, 2048, 3072), seconds: float = 1.5
) -> dict[str, Any]:
    """Best fp32 GFLOP/s of a square matrix product, with torch's default thread count (all
    cores), through each kernel library torch offers on CPU: ``torch.matmul`` (its BLAS, MKL
    in the PyPI wheels) and oneDNN's linear op, which the trainer uses for the frozen layers
    (assistant_builder/fast_lora.py). MKL does not use AVX-512 on every CPU; on the 2-core
    AMD machine of benchmarks/README.md oneDNN ran squares ~30% faster. Each size and kernel
    runs for about ``seconds``; the best single timing counts, since on a shared machine the
    slow ones measure the neighbours, not the hardware."""
    import torch

    result: dict[str, Any] = {"threads": torch.get_num_threads(), "by_size": {}}
    onednn = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        kernels = {"matmul": lambda a=a, b=b: torch.matmul(a, b)}
        if onednn is not None:
            kernels["onednn"] = lambda a=a, b=b: onednn(a, b, None, "none", [], "")
        for name, run in kernels.items():
            try:
                run()  # warm up the allocator and the kernels
            except RuntimeError:
                continue
            best, end = float("inf"), time.perf_counter() + seconds
            reps = 0
            while time.perf_counter() < end or reps < 2:
                t = time.perf_counter()
                run()
                best = min(best, time.perf_counter() - t)
                reps += 1
            # Three significant digits, not one decimal: a small size on a busy machine can
            # run below 0.05 GFLOP/s, and rounding it to 0 would read as "no kernel".
            result["by_size"][f"{name} {n}"] = float(f"{2 * n**3 / best / 1e9:.3g}")
    result["gflops"] = max(result["by_size"].values())
    return result
