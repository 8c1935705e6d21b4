"""The generation engine: one copy of the base weights answers as *base* or as *tuned* by
switching the LoRA adapter off and on, so comparing never needs two models in memory.

Batched generation uses left padding (the prompt ends where generation starts for every row).
Greedy by default; the settings are part of every answer's cache key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant_builder.events import OnEvent, Progress, ignore


@dataclass(frozen=True)
class GenSettings:
    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    batch_size: int = 16
    seed: int = 0

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass
class Answer:
    text: str
    stopped: bool  # ended with the end-of-turn token rather than hitting max_new_tokens
    new_tokens: int


def adapter_hash(adapter_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        p = adapter_dir / name
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


class Engine:
    """Base model + optional adapter, answering chat questions."""

    def __init__(self, base_model: str, adapter_dir: Path | None = None) -> None:
        import torch

        from assistant_builder.models import load_model, load_tokenizer

        self.base_model = base_model
        self.adapter_dir = adapter_dir
        src = str(adapter_dir) if adapter_dir and (adapter_dir / "tokenizer_config.json").is_file() else base_model
        # The adapter folder carries the tokenizer (and chat template) used in training.
        self.tokenizer = load_tokenizer(src)
        self.tokenizer.padding_side = "left"
        model = load_model(base_model, dtype="float32" if not torch.cuda.is_available() else "bfloat16")
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_dir))
        model.eval()
        self.model = model
        self.adapter_id = adapter_hash(adapter_dir) if adapter_dir else None
        self.end_ids = self._end_token_ids()

    def _end_token_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        for tok in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
            tid = self.tokenizer.convert_tokens_to_ids(tok)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id and tid >= 0:
                ids.add(tid)
        return sorted(i for i in ids if i is not None)

    def prompt_text(self, question: str, system_prompt: str | None) -> str:
        messages = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        messages.append({"role": "user", "content": question})
        text: str = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return text

    def _adapter_ctx(self, tuned: bool) -> Any:
        import contextlib

        if self.adapter_dir is None:
            if tuned:
                raise ValueError("no adapter loaded: cannot answer as tuned")
            return contextlib.nullcontext()
        return contextlib.nullcontext() if tuned else self.model.disable_adapter()

    def answer(
        self,
        questions: list[str],
        *,
        system_prompt: str | None,
        tuned: bool,
        settings: GenSettings = GenSettings(),
        on_event: OnEvent = ignore,
    ) -> list[Answer]:
        import torch

        out: list[Answer] = []
        torch.manual_seed(settings.seed)
        # Sort by prompt length so each batch pads little; restore the order at the end.
        order = sorted(range(len(questions)), key=lambda i: len(questions[i]))
        results: dict[int, Answer] = {}
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            prompts = [self.prompt_text(questions[i], system_prompt) for i in idx]
            enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            enc = enc.to(self.model.device)
            with torch.inference_mode(), self._adapter_ctx(tuned):
                gen = self.model.generate(
                    **enc,
                    max_new_tokens=settings.max_new_tokens,
                    do_sample=settings.do_sample,
                    temperature=settings.temperature if settings.do_sample else None,
                    top_p=settings.top_p if settings.do_sample else None,
                    top_k=None,
                    repetition_penalty=settings.repetition_penalty,
                    eos_token_id=self.end_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = gen[:, enc["input_ids"].shape[1] :]
            for row, i in zip(new.tolist(), idx, strict=True):
                n = len(row)
                stopped = False
                for k, t in enumerate(row):
                    if t in self.end_ids:
                        n, stopped = k, True
                        break
                text = self.tokenizer.decode(row[:n], skip_special_tokens=True).strip()
                results[i] = Answer(text=text, stopped=stopped, new_tokens=n)
            on_event(Progress("generate", "answering", done=len(results), total=len(questions)))
        out = [results[i] for i in range(len(questions))]
        return out

    def stream(
        self,
        question: str,
        *,
        system_prompt: str | None,
        tuned: bool,
        settings: GenSettings = GenSettings(),
    ) -> Iterator[str]:
        """Yield text pieces of one answer as they are generated."""
        import threading

        import torch
        from transformers import TextIteratorStreamer

        prompt = self.prompt_text(question, system_prompt)
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(
            self.model.device
        )
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)

        def run() -> None:
            with torch.inference_mode(), self._adapter_ctx(tuned):
                self.model.generate(
                    **enc,
                    streamer=streamer,
                    max_new_tokens=settings.max_new_tokens,
                    do_sample=settings.do_sample,
                    repetition_penalty=settings.repetition_penalty,
                    eos_token_id=self.end_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                )

        t = threading.Thread(target=run, daemon=True)
        t.start()
        yield from streamer
        t.join()
