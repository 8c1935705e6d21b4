"""Training on several processes, GPUs and machines: the same worker
(``python -m assistant_builder.train.worker RUN_DIR``) started by accelerate's launcher (torchrun
underneath) instead of directly, when the recipe asks for ``processes`` x ``nodes`` > 1.

Parent side (imports torch only to count GPUs, and only for such a recipe): check the world
against this machine before anything starts, write ``RUN_DIR/accelerate_config.yaml`` (the
launch, replayable by hand on a cluster) and build the launch command. Cancel is a ``STOP``
file rather than a signal: torchrun's agent answers SIGTERM by killing its workers 30 s later,
whatever they are doing, and exits with an error.

Worker side: the rank, the stop decision shared by every rank each step (ranks that stopped at
different steps would wait for each other forever), the rows each rank saw, the adapter saved
once. Only rank 0 writes events, metrics and the adapter.

Several machines (``nodes`` > 1, ``main_address`` HOST:PORT of machine 0, the workspace on a
shared filesystem): ``assistant-builder train`` on machine 0 prepares the run and starts its
processes; the command on the first line of the run's ``accelerate_config.yaml``, with
``--machine_rank R``, starts machine R. Machine 0 waits ``join_timeout`` seconds for the others.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.runs import mark_adapter_complete
from assistant_builder.runs import save_adapter as whole_save
from assistant_builder.train.recipe import Recipe, load_recipe

CONFIG = "accelerate_config.yaml"
STOP = "STOP"
SHARDS = "shards.json"
_DISTRIBUTED_TYPE = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed": "DEEPSPEED"}
# Row fingerprints kept per rank in shards.json: enough to check the split of a real dataset
# without writing a huge file for a huge one (the count stops there too: "capped").
_MAX_FINGERPRINTS = 100_000


# -- parent side --------------------------------------------------------------------------------
def world_size_of(recipe: Recipe) -> int:
    return recipe.processes * recipe.nodes


def is_distributed(recipe: Recipe) -> bool:
    return world_size_of(recipe) > 1


def world(recipe: Recipe) -> dict[str, Any]:
    """What the run records about its world: sizes and the effective (global) batch."""
    size = world_size_of(recipe)
    return {
        "world_size": size,
        "processes": recipe.processes,
        "nodes": recipe.nodes,
        "strategy": recipe.strategy if size > 1 else "single",
        "effective_batch": recipe.batch_size * recipe.grad_accum * size,
    }


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_world(recipe: Recipe, cuda: int | None = None, cores: int | None = None) -> None:
    """A UserError, before any run folder or process exists, for a world this machine or its
    packages cannot run."""
    if not is_distributed(recipe):
        return
    if find_spec("accelerate") is None:
        raise UserError("processes > 1 needs the accelerate package (pip install accelerate)")
    cuda = cuda_devices() if cuda is None else cuda
    cores = cpu_cores() if cores is None else cores
    n, strategy = recipe.processes, recipe.strategy
    if cuda and n > cuda:
        raise UserError(f"processes={n} but this machine has {cuda} CUDA GPU(s): at most {cuda}")
    if not cuda:
        if n > cores:
            raise UserError(
                f"processes={n} but this machine has {cores} CPU core(s) and no CUDA GPU: "
                f"at most {cores} (each process needs a core of its own)"
            )
        if strategy != "ddp":
            raise UserError(
                f"strategy={strategy} shards the model over CUDA GPUs and this machine has none:"
                " use strategy=ddp on CPU"
            )
    if strategy == "deepspeed" and find_spec("deepspeed") is None:
        raise UserError(
            "strategy=deepspeed needs the deepspeed package (pip install deepspeed): "
            "or use strategy=ddp (or fsdp for a model that does not fit one GPU)"
        )
    if strategy == "fsdp" and (recipe.mode == "qlora" or (recipe.mode == "auto" and cuda)):
        raise UserError(
            "strategy=fsdp shards bf16 weights: set mode=lora (a 4-bit base is for one GPU "
            "per copy: use strategy=ddp with mode=qlora)"
        )


def _address(recipe: Recipe) -> tuple[str, int]:
    if not recipe.main_address:
        return "127.0.0.1", 0  # one machine: accelerate picks a free port
    host, port = recipe.main_address.rsplit(":", 1)
    return host.strip("[]"), int(port)


def accelerate_config(recipe: Recipe) -> dict[str, Any]:
    """The accelerate config of the run (the format ``accelerate config`` writes)."""
    host, port = _address(recipe)
    cfg: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": _DISTRIBUTED_TYPE[recipe.strategy],
        "num_machines": recipe.nodes,
        "num_processes": world_size_of(recipe),
        "machine_rank": 0,
        "main_process_ip": host,
        "main_process_port": port,
        "rdzv_backend": "static",
        "same_network": True,
        "gpu_ids": "all",
        # With use_cpu accelerate would start a single process; the worker's TrainingArguments
        # pick the device (gloo on a machine without CUDA) and the precision (bf16 on CUDA).
        "use_cpu": False,
        "mixed_precision": "no",
        "downcast_bf16": "no",
        "debug": False,
        "main_training_function": "main",
    }
    if recipe.strategy == "fsdp":
        cfg["fsdp_config"] = {
            "fsdp_version": 2,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_reshard_after_forward": True,
            "fsdp_state_dict_type": "FULL_STATE_DICT",
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_offload_params": False,
            "fsdp_activation_checkpointing": recipe.gradient_checkpointing,
        }
    elif recipe.strategy == "deepspeed":
        cfg["deepspeed_config"] = {
            "zero_stage": 2,
            "gradient_accumulation_steps": recipe.grad_accum,
            "gradient_clipping": recipe.max_grad_norm,
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
            "zero3_init_flag": False,
        }
    return cfg


def launch_command(run_dir: Path, recipe: Recipe, machine_rank: int = 0) -> list[str]:
    """accelerate's launcher (``accelerate launch``) on the run's config, for one machine."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(run_dir / CONFIG),
        "--machine_rank",
        str(machine_rank),
        # Machine 0 waits this long for the others, then fails with "k/n clients joined".
        "--rdzv_conf",
        f"timeout={recipe.join_timeout}",
        "-m",
        "assistant_builder.train.worker",
        str(run_dir),
    ]


def machine_command(run_dir: Path, recipe: Recipe, machine_rank: str = "R") -> str:
    """The shell line that starts machine ``machine_rank`` of the run (for people)."""
    argv = launch_command(run_dir, recipe)[3:]
    argv[argv.index("--machine_rank") + 1] = machine_rank
    return "accelerate launch " + shlex.join(argv)


def write_config(run_dir: Path, recipe: Recipe) -> Path | None:
    """``RUN_DIR/accelerate_config.yaml`` for a distributed recipe, opening with the command
    that starts each machine; None for a single process."""
    import yaml

    from assistant_builder.workspace import atomic_write_text

    if not is_distributed(recipe):
        return None
    path = run_dir / CONFIG
    header = f"# on machine R (0..{recipe.nodes - 1}): {machine_command(run_dir, recipe)}\n"
    atomic_write_text(path, header + yaml.safe_dump(accelerate_config(recipe), sort_keys=False))
    return path


def worker_command(run_dir: Path) -> list[str]:
    """The command that trains ``run_dir`` on this machine: the worker itself, or accelerate's
    launcher when the run has an accelerate config (checked again here: a resumed run may be
    on another machine). A STOP left by an earlier attempt is cleared."""
    (run_dir / STOP).unlink(missing_ok=True)
    plain = [sys.executable, "-m", "assistant_builder.train.worker", str(run_dir)]
    if not (run_dir / CONFIG).is_file():
        return plain
    recipe = load_recipe(str(run_dir / "recipe.yaml"))
    check_world(recipe)
    return launch_command(run_dir, recipe)


def is_launched(run_dir: Path) -> bool:
    return (run_dir / CONFIG).is_file()


def request_stop(run_dir: Path) -> None:
    """Ask every rank to save a checkpoint and stop after the current step."""
    (run_dir / STOP).write_text("1")


def kill_all(process: subprocess.Popen[bytes]) -> None:
    """The launcher and its workers, now. torchrun starts each worker in a session of its own,
    so neither a signal to the launcher's process group nor the launcher's death reaches them:
    they are found as its descendants first."""
    import psutil  # accelerate's own dependency

    try:
        workers = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        workers = []
    process.kill()
    for w in workers:
        with contextlib.suppress(psutil.Error):
            w.kill()


_JOINED = re.compile(r"Timed out after (\d+) seconds waiting for clients\. (\d+)/(\d+) clients")


def explain_failure(run_dir: Path) -> str | None:
    """A launch that ended before training: machines that never joined, in words."""
    log = run_dir / "worker.log"
    if not is_launched(run_dir) or not log.is_file():
        return None
    m = _JOINED.search(log.read_text(errors="replace"))
    if m is None:
        return None
    recipe = load_recipe(str(run_dir / "recipe.yaml"))
    return (
        f"only {m.group(2)} of {m.group(3)} processes joined within {m.group(1)} s "
        f"(join_timeout): start every other machine with: {machine_command(run_dir, recipe)}"
    )


# -- worker side ----------------------------------------------------------------------------------
def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def threads_per_process() -> int | None:
    """CPU threads for each of several local processes (torchrun would leave them at 1)."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, cpu_cores() // local) if local > 1 else None


def prepare_device(cuda: bool) -> None:
    """Each local process on its own GPU, before the (4-bit) weights are loaded onto it."""
    if cuda and world_size() > 1:
        import torch

        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def tune_trainer(trainer: Any) -> None:
    """DDP settings for LoRA: every adapter weight gets a gradient each step, so DDP's search
    for unused parameters (a graph walk per step) is not needed. The rows of every step are
    fingerprinted as they train, to record what each rank trained on."""
    trainer.args.ddp_find_unused_parameters = False
    step = trainer.training_step

    def training_step(model: Any, inputs: dict[str, Any], *args: Any, **kw: Any) -> Any:
        if len(_SEEN) < _MAX_FINGERPRINTS:
            _SEEN.extend(_fingerprints(inputs))
        return step(model, inputs, *args, **kw)

    trainer.training_step = training_step


_SEEN: list[str] = []


def _fingerprints(inputs: dict[str, Any]) -> list[str]:
    """One short hash per conversation of a batch: padding-free batches are one row of
    conversations whose positions restart at 0, padded ones a row each (padding masked out)."""
    import hashlib

    ids: list[list[int]] = inputs["input_ids"].tolist()
    pos = inputs.get("position_ids")
    mask = inputs.get("attention_mask")
    rows: list[list[int]] = []
    if pos is not None and len(ids) == 1:
        for tok, p in zip(ids[0], pos[0].tolist(), strict=True):
            if p == 0 or not rows:
                rows.append([])
            rows[-1].append(tok)
    elif mask is not None:
        rows = [
            [t for t, k in zip(r, m, strict=True) if k]
            for r, m in zip(ids, mask.tolist(), strict=True)
        ]
    else:
        rows = ids
    return [hashlib.sha1(",".join(map(str, r)).encode()).hexdigest()[:12] for r in rows]


def rows_per_rank(run_dir: Path) -> list[int]:
    """Gather every rank's row fingerprints on rank 0 and write ``shards.json`` there (added
    to an earlier attempt's when resumed); the rows each rank trained on. Every rank calls it."""
    import json

    shards: list[Any] = [list(_SEEN)]
    if world_size() > 1:
        import torch.distributed as dist

        shards = [None] * world_size()
        dist.all_gather_object(shards, list(_SEEN))
    if not is_main():
        return []
    path = run_dir / SHARDS
    if path.is_file():  # a resumed run: the rows of the attempts before count too
        before = json.loads(path.read_text(encoding="utf-8")).get("ranks", [])
        for r, old in enumerate(before[: len(shards)]):
            shards[r] = old["fingerprints"] + shards[r]
    from assistant_builder.workspace import atomic_write_json

    record = [
        {"rank": r, "rows": len(s), "unique_rows": len(set(s)), "fingerprints": s}
        for r, s in enumerate(shards)
    ]
    capped = any(len(s) >= _MAX_FINGERPRINTS for s in shards)
    atomic_write_json(path, {"world_size": len(shards), "capped": capped, "ranks": record})
    return [len(s) for s in shards]


def stop_callback(run_dir: Path, stop: dict[str, bool]) -> Any:
    """Each step: stop when any rank was signalled or rank 0 sees RUN_DIR/STOP, on every rank
    at the same step (``stop["requested"]`` is set on all of them)."""
    from transformers import TrainerCallback

    class SharedStop(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            flag = stop["requested"] or (is_main() and (run_dir / STOP).is_file())
            if world_size() > 1:
                import torch
                import torch.distributed as dist

                t = torch.tensor([int(flag)], device=args.device)
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                flag = bool(t.item())
            stop["requested"] = flag

    return SharedStop()


def save_adapter(trainer: Any, adapter: Path) -> bool:
    """Save the adapter (and tokenizer) once; True on the rank that goes on to write the
    metrics. With several ranks every one takes part (FSDP gathers the shards), rank 0 writes."""
    if world_size() > 1:
        trainer.save_model(str(adapter))
        if is_main():  # the adapter folder holds what inference and export read, as below
            (adapter / "training_args.bin").unlink(missing_ok=True)
            mark_adapter_complete(adapter)  # the save is over: the adapter counts from now
        return is_main()
    # The tokenizer (with its chat template) travels with the adapter, so inference and export
    # format prompts exactly as training did. Saved whole or not at all (adapter.partial/ first).
    whole_save(trainer.model, trainer.processing_class, adapter)
    return True
