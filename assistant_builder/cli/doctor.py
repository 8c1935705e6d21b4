"""What this machine can do: torch build, CUDA, bitsandbytes, the default model, and what
training mode ``auto`` would pick and why."""

from __future__ import annotations

import os
from typing import Any

from assistant_builder import package_versions
from assistant_builder.errors import one_line


def doctor() -> dict[str, Any]:
    import torch

    from assistant_builder.models.default import model_status
    from assistant_builder.train.launch import resolve_mode
    from assistant_builder.train.recipe import Recipe

    cuda = torch.cuda.is_available()
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_build": "cuda" if torch.version.cuda else "cpu",
        "cuda_available": cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "cpu_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "packages": package_versions(
            ("transformers", "trl", "peft", "bitsandbytes", "textual", "llama-cpp-python")
        ),
    }
    try:
        import bitsandbytes  # noqa: F401

        info["bitsandbytes_ok"] = True
    except Exception as e:  # bitsandbytes raises many kinds of errors on odd setups
        info["bitsandbytes_ok"] = False
        info["bitsandbytes_error"] = one_line(e)
    # The same rule (and words) a training run with mode=auto uses.
    auto = Recipe.model_validate({"mode": "auto"})
    info["auto_mode"], info["auto_reason"] = resolve_mode(auto, cuda)
    info["default_model"] = model_status()
    return info
