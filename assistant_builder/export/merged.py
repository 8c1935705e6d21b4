"""``merged`` export: the LoRA adapter folded into a full-precision copy of the base model.

Merging into 4-bit weights would round the small LoRA update away (the common "my merged model
forgot its fine-tune" failure), so the base is always reloaded in floating point, whatever the
run trained with (QLoRA included), and saved in the base checkpoint's own float dtype (float32
for the embedded default model, whose dequantised weights do not fit half precision exactly).
The folder is a normal Hugging Face checkpoint: safetensors, config, generation config and the
training tokenizer with its chat template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress
from assistant_builder.workspace import Workspace

_FLOAT_DTYPES = ("float32", "float16", "bfloat16")
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>")


def base_dtype(resolved_base: str) -> str:
    """The float dtype the base checkpoint is stored in (float32 when it does not say)."""
    cfg_path = Path(resolved_base) / "config.json"
    if not cfg_path.is_file():
        return "float32"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    dtype = cfg.get("dtype") or cfg.get("torch_dtype") or "float32"
    return dtype if dtype in _FLOAT_DTYPES else "float32"


def end_of_turn_ids(tokenizer: Any) -> list[int]:
    """eos plus the chat template's end-of-turn token(s): generation must stop on either."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
    return sorted(ids)


def merge_adapter(base_model: str, adapter_dir: Path, out: Path, dtype: str | None = None) -> str:
    """Write base + adapter, merged, to ``out``; returns the dtype it was saved in."""
    import torch
    from peft import PeftModel

    from assistant_builder.models.loading import load_model, load_tokenizer, resolve_base_model

    resolved = resolve_base_model(base_model)
    dtype = dtype or base_dtype(resolved)
    if dtype not in _FLOAT_DTYPES:
        raise UserError(f"merged export needs a float dtype, not {dtype!r}")
    # Merge in float32 (exact sum of W + s·BA), cast once at the end.
    model = load_model(base_model, dtype="float32")
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir))
    merged = peft_model.merge_and_unload()
    if any(p.dtype not in (torch.float32,) for p in merged.parameters()):
        raise UserError("merge produced non-float32 weights; refusing to save a quantised merge")
    merged = merged.to(getattr(torch, dtype))
    tok_src = str(adapter_dir) if (adapter_dir / "tokenizer_config.json").is_file() else base_model
    tokenizer = load_tokenizer(tok_src)
    gen = merged.generation_config
    gen.eos_token_id = end_of_turn_ids(tokenizer)
    gen.pad_token_id = tokenizer.pad_token_id
    merged.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return dtype


def export_merged(ws: Workspace, run_dir: Path, tmp: Path, on_event: OnEvent) -> dict[str, Any]:
    from assistant_builder.export.registry import run_info

    base = run_info(run_dir)["base_model"]
    on_event(Progress("export", "merging the adapter into a full-precision base"))
    dtype = merge_adapter(base, run_dir / "adapter", tmp)
    check = verify_merged(ws, run_dir, tmp, on_event)
    if not check["verified"]:
        first = check["mismatches"][0]
        raise UserError(
            f"merged model does not answer like base + adapter on {len(check['mismatches'])} "
            f"of {check['checked_questions']} questions, e.g. {first['question']!r}: "
            f"{first['merged'][:80]!r} vs {first['trained'][:80]!r}"
        )
    return {
        "dtype": dtype,
        "base_model": base,
        **{k: v for k, v in check.items() if k != "mismatches"},
        # The folder is an argument, not part of the Python code: any path stays one word.
        "usage": 'python -c "import sys; from transformers import pipeline; '
        "print(pipeline('text-generation', model=sys.argv[1])"
        "([{'role': 'user', 'content': 'Hello'}])[0]['generated_text'][-1]['content'])\" {path}",
    }


def verify_merged(ws: Workspace, run_dir: Path, folder: Path, on_event: OnEvent) -> dict[str, Any]:
    """Greedy answers of the merged folder (plain transformers, no PEFT) vs base + adapter."""
    from assistant_builder.export.registry import (
        reference_answers,
        verify_questions,
        verify_settings,
    )
    from assistant_builder.models.engine import Engine

    questions = verify_questions(run_dir)
    ref = reference_answers(ws, run_dir, questions, on_event)
    on_event(Progress("export", "verifying merged model with transformers"))
    got = Engine(str(folder)).answer(
        questions,
        system_prompt=ws.load_settings().system_prompt,
        tuned=False,
        settings=verify_settings(),
    )
    mismatches = [
        {"question": q, "merged": g.text, "trained": r.text}
        for q, g, r in zip(questions, got, ref, strict=True)
        if g.text != r.text or g.stopped != r.stopped
    ]
    return {
        "verified": not mismatches,
        "checked_questions": len(questions),
        "mismatches": mismatches,
    }
