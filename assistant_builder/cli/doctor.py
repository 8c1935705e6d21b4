"""What this machine can do: torch build, CUDA, bitsandbytes, the default model, and what
training mode ``auto`` would pick and why."""

from __future__ import annotations

import importlib.metadata as md
import os
from typing import Any


def _version(pkg: str) -> str | None:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def doctor() -> dict[str, Any]:
    import torch

    from assistant_builder.models.default import model_status

    cuda = torch.cuda.is_available()
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_build": "cuda" if torch.version.cuda else "cpu",
        "cuda_available": cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "cpu_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "packages": {
            p: _version(p)
            for p in ("transformers", "trl", "peft", "bitsandbytes", "textual", "llama-cpp-python")
        },
    }
    try:
        import bitsandbytes  # noqa: F401

        info["bitsandbytes_ok"] = True
    except Exception as e:  # bitsandbytes raises many kinds of errors on odd setups
        info["bitsandbytes_ok"] = False
        info["bitsandbytes_error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
    if cuda:
        info["auto_mode"] = "qlora"
        info["auto_reason"] = "CUDA GPU found: QLoRA (4-bit nf4 base, bf16 compute)"
    else:
        info["auto_mode"] = "lora"
        info["auto_reason"] = "no CUDA GPU: plain LoRA in fp32 (QLoRA on CPU measured ~13x slower)"
    info["default_model"] = model_status()
    return info
