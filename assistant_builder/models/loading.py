"""Loading a base model and its tokenizer by name: ``default`` (the embedded SmolLM2-135M-Instruct,
converted once by ``default_model.py``, whose docstring records the facts about it the rest of
the code relies on), a local folder, or a hub id the user named. Remote code is never trusted
and local weights are read from safetensors only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from assistant_builder.errors import UserError, one_line
from assistant_builder.models.default import DEFAULT_MODEL, ensure_default_model

if TYPE_CHECKING:  # heavy imports only for type checking: importing this module stays light
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["DEFAULT_MODEL", "load_model", "load_tokenizer", "resolve_base_model"]

_DTYPES = ("float32", "bfloat16", "float16", "auto")
# A hub id is "name" or "owner/name" made of these characters; anything else that is not an
# existing folder is reported as a missing folder instead of being sent to the hub.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve_base_model(name: str) -> str:
    """What to pass to ``from_pretrained`` for a base model the user named.

    ``"default"`` → the converted embedded checkpoint (converting on first use); an existing
    folder → its absolute path; anything shaped like a hub id → returned as is (the user named
    it, so downloading it is allowed). A path-like name that does not exist is a UserError.
    """
    name = name.strip()
    if not name:
        raise UserError("no base model named; use 'default' or a Hugging Face model id or folder")
    if name == DEFAULT_MODEL:
        return str(ensure_default_model())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.absolute())
    if path.exists():
        raise UserError(f"base model {name!r} is a file, not a model folder")
    if _HUB_ID.match(name) and not name.startswith((".", "~")):
        return name
    raise UserError(f"base model folder not found: {name}")


def _is_local(resolved: str) -> bool:
    return Path(resolved).is_dir()


def load_tokenizer(
    name: str,
    *,
    padding_side: Literal["left", "right"] | None = None,
    require_chat_template: bool = True,
) -> PreTrainedTokenizerBase:
    """The tokenizer of a base model (or of any folder holding a saved tokenizer, such as a
    training run's adapter folder), with a pad token set.

    Pad token: the model's own if it has one; else a dedicated pad token already in the
    vocabulary; else eos. Never adds a token, so the embeddings are never resized. Generation
    callers set ``padding_side="left"``.
    """
    from transformers import AutoTokenizer

    resolved = resolve_base_model(name)
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    if _is_local(resolved):
        kwargs["local_files_only"] = True
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError) as e:
        raise UserError(
            f"could not load the tokenizer of {name!r}: {one_line(e, with_type=False)}"
        ) from e
    if padding_side is not None:
        tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        vocab = tokenizer.get_vocab()
        dedicated = next(
            (t for t in ("<pad>", "<|pad|>", "[PAD]", "<|finetune_right_pad_id|>") if t in vocab),
            None,
        )
        if dedicated is not None:
            tokenizer.pad_token = dedicated
        elif tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            raise UserError(f"the tokenizer of {name!r} has neither a pad nor an eos token")
    if require_chat_template and not tokenizer.chat_template:
        raise UserError(
            f"base model {name!r} has no chat template; pick an instruction-tuned (chat) model"
        )
    return tokenizer


def load_model(
    name: str,
    *,
    dtype: str = "float32",
    quantization: str | None = None,
    device_map: str | None = None,
) -> PreTrainedModel:
    """A causal LM by name (see :func:`resolve_base_model`), in eval mode off the hub's defaults.

    ``quantization="nf4"`` loads 4-bit NF4 weights with double quantisation and bfloat16
    compute (bitsandbytes; the QLoRA path). Remote code is never trusted, and local folders are
    read from safetensors only (pickled ``.bin`` weights can run code when loaded).
    """
    import torch
    from transformers import AutoModelForCausalLM

    if dtype not in _DTYPES:
        raise UserError(f"unknown dtype {dtype!r}; use one of {', '.join(_DTYPES)}")
    resolved = resolve_base_model(name)
    kwargs: dict[str, Any] = {
        "dtype": "auto" if dtype == "auto" else getattr(torch, dtype),
        "trust_remote_code": False,
    }
    if _is_local(resolved):
        if not (Path(resolved) / "config.json").is_file():
            raise UserError(f"{resolved} is not a model folder (no config.json)")
        kwargs.update(use_safetensors=True, local_files_only=True)
    if quantization in (None, "none"):
        pass
    elif quantization == "nf4":
        try:
            import bitsandbytes  # noqa: F401
        except Exception as e:  # it raises several kinds of errors on unsupported setups
            raise UserError(
                f"4-bit (nf4) loading needs a working bitsandbytes: {one_line(e, with_type=False)}"
            ) from e
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    else:
        raise UserError(f"unknown quantization {quantization!r}; use 'nf4' or none")
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError) as e:
        raise UserError(
            f"could not load base model {name!r}: {one_line(e, with_type=False)}"
        ) from e
    model.eval()
    return model
