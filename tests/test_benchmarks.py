"""Fast checks of the benchmark scripts' plumbing: arguments, the pure helpers, the process
sampler and the GPU script's clean skip. No timings are asserted (these are measurements)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import _common from beside them
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    ("script", "flag"),
    [
        ("train", "--default-steps"),
        ("generate", "--single-sample"),
        ("startup", "--runs"),
        ("memory", "--steps"),
        ("gpu", "--models"),
        ("profile_train", "--steps"),
        ("plain_trl", "--fair"),
        ("step_breakdown", "--batch-size"),
        ("serve_load", "--burst"),
        ("single_stream", "--repeats"),
        ("retrieval", "--passages"),
        ("retrieval_match", "--bar"),
        ("llama_backend", "--repeats"),
        ("incremental", "--full-run"),
        ("quality", "--systems"),
    ],
)
def test_every_script_has_help_with_its_size_flags(
    script: str, flag: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mod = _load(script, monkeypatch)
    with pytest.raises(SystemExit) as exc:
        mod.main(["--help"])
    assert exc.value.code == 0
    assert flag in capsys.readouterr().out


def test_bad_size_argument_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _load("train", monkeypatch)
    with pytest.raises(SystemExit) as exc:
        mod.main(["--steps", "many"])
    assert exc.value.code == 2


def test_rates_leave_out_the_first_step(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _load("train", monkeypatch)
    # begin at 100; steps end at 110 (slow warm-up), 112 and 114; 50 tokens per step
    r = mod._rates(100.0, [(110.0, 50), (112.0, 100), (114.0, 150)], 150)
    assert r["step_seconds"] == [10.0, 2.0, 2.0]
    assert r["tokens_per_s"] == pytest.approx(25.0)  # (150 - 50) / (114 - 110)
    assert r["tokens_per_s_all"] == pytest.approx(150 / 14)
    assert mod._rates(0.0, [], 0) == {"steps_timed": 0}


def test_flops_per_token_counts_base_lora_and_causal_attention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mod = _load("train", monkeypatch)
    facts = {"params": 1100, "trainable_params": 100, "layers": 2, "attention_width": 8}
    f = mod.flops_per_token(facts, [3, 1])
    assert (f["base_4n"], f["lora_6n"]) == (4000, 600)
    # per layer: 6 x width x T(T+1) per row = 6*8*12 + 6*8*2 = 672; x 2 layers / 4 tokens
    assert f["attention"] == pytest.approx(336)
    assert f["total"] == pytest.approx(4000 + 600 + 336)


def test_aggregate_takes_medians_and_pairs_ratios_by_round(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _load("train", monkeypatch)
    base = [{"tokens_per_s": b, "peak_rss_mb": 1} for b in (100, 50, 100)]
    ours = [
        {"tokens_per_s": t, "mfu": m, "peak_rss_mb": r}
        for t, m, r in [(200, 0.6, 5), (90, 0.3, 9), (190, 0.5, 7)]
    ]
    row = mod.aggregate("ours", ours, base)
    assert row["tokens_per_s"] == 190 and row["tokens_per_s_range"] == [90, 200]
    # per-round ratios 2.0, 1.8, 1.9: a slow round for both sides does not hide the gain
    assert row["ratio_tokens_per_s"] == pytest.approx(1.9)
    assert row["mfu"] == 0.5 and row["peak_rss_mb"] == 9
    assert mod._spread(row, "mfu") == "50% (30%-60%)"
    assert mod._spread({"mfu": 0.5}, "mfu") == "50%"


def test_benchmark_dataset_is_rebuilt_when_the_sources_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = _load("_common", monkeypatch)
    faqs = []
    for topic in ("billing", "shipping"):
        f = tmp_path / f"{topic}.md"
        f.write_text(
            f"# {topic} FAQ\n\n## How does {topic} work?\n\n{topic.title()} works in three "
            f"steps, all described on the {topic} page of your account.\n",
            encoding="utf-8",
        )
        faqs.append(f)

    def questions(path: Path) -> str:
        return path.read_text(encoding="utf-8")

    ws = tmp_path / "ws"
    first = questions(common.build_dataset(ws, [faqs[0]]))
    assert "billing" in first and "shipping" not in first
    assert questions(common.build_dataset(ws, [faqs[0]])) == first  # same sources: reused
    second = questions(common.build_dataset(ws, [faqs[1]]))
    assert "shipping" in second and "billing" not in second


def test_rows_cycle_and_table_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    common = _load("_common", monkeypatch)
    assert common.take_rows([{"a": 1}, {"a": 2}], 5) == [{"a": i} for i in (1, 2, 1, 2, 1)]
    text = common.table(["x", "y"], [["a", 1234.5], ["b", None], ["c", 0.12345]])
    assert text.splitlines()[2:] == ["| a | 1234 |", "| b | - |", "| c | 0.123 |"]


def test_tree_sampler_sees_a_childs_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    common = _load("_common", monkeypatch)
    code = "import time; x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096]); "
    code += "time.sleep(1.0)"
    # The sampler watches the shell and finds the Python grandchild that holds the memory.
    r = common.run_sampled(["sh", "-c", f'{sys.executable} -c "{code}"; true'])
    assert r["returncode"] == 0
    assert r["sampler"].peak_rss > 300 * 2**20
    assert r["sampler"].peak_single > 300 * 2**20


def test_profile_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _load("profile_train", monkeypatch)

    def ev(name: str, shapes: Any = None, parent: Any = None) -> SimpleNamespace:
        return SimpleNamespace(name=name, input_shapes=shapes or [], cpu_parent=parent)

    assert mod.head_dims(49152) == {49152, 32768, 16384}
    assert mod.head_dims(1000) == {1000}
    head = mod.head_dims(49152)
    step = ev("Optimizer.step#AdamW.step")
    assert mod._bucket(ev("aten::add_", parent=ev("aten::foo", parent=step)), head) == "optimizer"
    assert mod._bucket(ev("aten::mm", [[12, 576], [576, 49152]]), head).startswith("LM head")
    assert mod._bucket(ev("aten::mm", [[12, 576], [576, 32768]]), head).startswith("LM head")
    assert mod._bucket(ev("aten::mm", [[12, 576], [576, 1536]]), head).startswith("other mat")
    name = "aten::_scaled_dot_product_flash_attention_for_cpu"
    assert mod._bucket(ev(name), head) == "attention (SDPA)"
    loader = ev("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__")
    assert mod._bucket(ev("aten::cat", parent=loader), head) == "dataloader"


def test_gpu_script_skips_cleanly_without_cuda(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():  # there it would run the real benchmark (minutes)
        pytest.skip("this machine has a CUDA GPU: the skip path does not apply")
    out = tmp_path / "gpu.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "gpu.py"), "--out", str(out)], capture_output=True, text=True
    )
    data = json.loads(out.read_text())
    assert proc.returncode == 0
    assert "skipped" in proc.stdout and "no CUDA GPU" in data["skipped"]
    assert data["machine"]["nproc"] >= 1 and "load average" in data["uptime_before"]


def test_matmul_peak_counts_the_kernels_the_trainer_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The MFU bar is the best of torch.matmul and oneDNN (which fast_lora uses for the frozen
    matmuls); a peak from MKL alone would flatter the trainer where oneDNN is faster."""
    from assistant_builder.models.cpu.fast_lora import onednn_linear_works

    common = _load("_common", monkeypatch)
    peak = common.matmul_peak(sizes=(64,), seconds=0.01)
    kernels = {key.split()[0] for key in peak["by_size"]}
    assert "matmul" in kernels
    if onednn_linear_works():
        assert "onednn" in kernels
    assert peak["gflops"] == max(peak["by_size"].values()) > 0


@pytest.mark.slow
def test_step_breakdown_times_every_frozen_matmul(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-place timing sees each frozen matmul of the default model once per direction
    (the first layer's q/k/v need no input gradient), counts the FLOPs of the rows actually in
    the batch, times attention, and puts every patched function back."""
    import torch
    from transformers import AttentionInterface

    import assistant_builder.models.cpu.fast_lora as fast_lora
    from assistant_builder.models.cpu.varlen_attention import NAME, varlen_sdpa_forward

    mod = _load("step_breakdown", monkeypatch)
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"How do I reset my password, case {i}?"},
                {"role": "assistant", "content": "Open Settings, then Security, then Reset."},
            ]
        }
        for i in range(6)
    ]
    op, make_fn = torch.ops.mkldnn._linear_pointwise, fast_lora._lora_fn
    res = mod.timed_run(rows, steps=3, batch=2, workdir=tmp_path)
    assert torch.ops.mkldnn._linear_pointwise is op and fast_lora._lora_fn is make_fn
    assert AttentionInterface()[NAME] is varlen_sdpa_forward

    steps, layers, tokens = res["steps_timed"], res["model"]["layers"], res["tokens"]
    assert steps == 2 and tokens > 0
    mm = {(m["dir"], m["in"], m["out"]): m for m in res["matmuls"]}
    fwd = sum(
        m["calls"] for (d, i, o), m in mm.items() if d == "fwd" and res["vocab"] not in (i, o)
    )
    bwd = sum(
        m["calls"] for (d, i, o), m in mm.items() if d == "bwd" and res["vocab"] not in (i, o)
    )
    assert fwd == 7 * layers * steps
    assert bwd == (7 * layers - 3) * steps
    gate_up = mm[("fwd", 576, 1536)]  # gate and up: 2 per layer, over every token of the rows
    assert gate_up["gflop"] * 1e9 == pytest.approx(2 * tokens * 576 * 1536 * 2 * layers)
    assert mm[("fwd", 576, res["vocab"])]["calls"] == steps  # the head, answer tokens only
    assert mm[("bwd", res["vocab"], 576)]["calls"] == steps
    parts = res["buckets"]
    assert parts["attention (per-row SDPA, forward + backward)"] > 0
    # Which part is larger depends on the machine (AVX-512 or not): only that both were timed.
    assert parts["frozen matmuls (oneDNN)"] > 0
    assert parts["LoRA products + fused-layer overhead"] > 0


def test_gpu_mfu_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU script's MFU: dense bf16 peaks by device name, QLoRA FLOPs per token, per GPU."""
    mod = _load("gpu", monkeypatch)
    assert mod.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert mod.peak_flops("NVIDIA H100 PCIe") == 756e12
    assert mod.peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert mod.peak_flops("NVIDIA A10G") == 125e12 and mod.peak_flops("NVIDIA L40S") == 362e12
    assert mod.peak_flops("Tesla T4") is None and mod.mfu(1000.0, 1e9, None) is None
    config = {
        "hidden_size": 4,
        "intermediate_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "vocab_size": 10,
    }
    # matmul weights 16+8+8+16+32+32+32 = 144, LM head 40: 4 x 184; LoRA r=1 on the seven
    # projections: 6 x 64; attention 6 x 4 x (3*4 + 1*2) over 4 tokens.
    assert mod.flops_per_token(config, [3, 1], lora_r=1) == 4 * 184 + 6 * 64 + 84
    assert mod.mfu(1000.0, 1e9, 1e12, gpus=2) == pytest.approx(0.5)
    assert mod.scaling_counts(1) == [1] and mod.scaling_counts(8) == [1, 2, 4, 8]
    assert mod.scaling_counts(6) == [1, 2, 4, 6]
    # Every shape the script offers has a recipe and a random-weight config.
    shapes = _load("random_model", monkeypatch).SHAPES
    for shape, recipe in mod.SHAPE_RECIPES.items():
        assert (
            shapes[shape]["hidden_size"] > 0
            and (BENCH.parent / "recipes" / f"{recipe}.yaml").is_file()
        )
    assert shapes["qwen2.5-3b"]["num_hidden_layers"] == 36


def test_incremental_edits_three_faq_answers_and_compares_by_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mod = _load("incremental", monkeypatch)
    faq = (
        "# FAQ\n\n"
        + "".join(f"## {q}\n\nOld answer.\n\n" for q in mod.EDITS)
        + "## Keep?\n\nYes.\n"
    )
    edited = mod.edit_faq(faq)
    assert "Old answer" not in edited and edited.endswith("## Keep?\n\nYes.\n")
    assert all(a in edited for a in mod.EDITS.values())
    with pytest.raises(SystemExit, match="no section"):
        mod.edit_faq("## Something else?\n\nNo.\n")
    full = {"tokens": 100_000, "train_seconds": 500.0, "wall_seconds": 600.0}
    shares = mod._shares(full, {"tokens": 10_000, "train_seconds": 60.0})
    assert shares["tokens_share"] == 0.1 and shares["train_seconds_share"] == 0.12
    assert "wall_share" not in shares  # the update was not timed as a command here
    assert 0.1 < shares["quiet_share"] < 0.25  # the fixed overhead weighs on the short run
