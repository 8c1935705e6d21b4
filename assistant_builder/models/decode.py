"""A greedy decode loop for one prompt at a time, used instead of transformers' ``generate``.

For one row, a decode step of a small model on CPU is a few hundred tiny operations, and
``generate`` adds its own per-step work on top (logits processors, stopping criteria, streamer
hand-offs, re-slicing inputs and masks). The loop here calls the model's forward directly with
what greedy decoding needs: the last position's logits only, the repetition penalty computed
exactly as transformers' ``RepetitionPenaltyLogitsProcessor`` does, ``argmax``. The KV cache
grows into preallocated buffers (:class:`GrowingLayer`) instead of being concatenated anew
every step.

The arithmetic of the forward pass is the model's own, unchanged (same kernels, same weights,
LoRA layers included), so the tokens are the ones ``generate`` picks: tests compare them token
for token on the tiny models and on the default model. Where a model's generation config asks
for a logits processor this loop does not implement, :func:`supports_fast_greedy` says no and
the caller keeps ``generate``.

Threads: on CPU each of those tiny operations is split across the intra-op thread pool, and
every split is a hand-off between the threads; on a busy machine a hand-off waits for a
descheduled thread. :func:`decode_threads` runs the loop with the number of threads
``ASSISTANT_BUILDER_DECODE_THREADS`` names (default 1) and restores the setting after.

Measured (benchmarks/README.md, "Single stream", a busy 2-core machine): 4% less CPU per token
than ``generate``, 1 thread 1.37x the tokens/s of 2; not measured on an idle machine, where 2
threads may read the weights faster. Most of a step's time is the forward pass itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

THREADS_ENV = "ASSISTANT_BUILDER_DECODE_THREADS"

# Generation-config fields that add a logits processor to greedy decoding in transformers;
# when a model sets any of them (to something other than "off"), generate() stays in charge.
_PROCESSOR_FIELDS = (
    "no_repeat_ngram_size",
    "bad_words_ids",
    "suppress_tokens",
    "begin_suppress_tokens",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "min_length",
    "min_new_tokens",
    "sequence_bias",
    "exponential_decay_length_penalty",
    "guidance_scale",
    "watermarking_config",
)


def _base_lm(model: Any) -> Any:
    """The transformers model under a PEFT wrapper (the LoRA layers live inside it, so calling
    it directly still runs the active adapter, or none inside ``disable_adapter()``)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def supports_fast_greedy(model: Any) -> bool:
    """Whether :func:`greedy_tokens` picks exactly the tokens ``generate`` would for this model:
    a decoder-only model whose generation config adds no other logits processor."""
    lm = _base_lm(model)
    config = getattr(lm, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    gc = getattr(lm, "generation_config", None)
    for name in _PROCESSOR_FIELDS:
        value = getattr(gc, name, None)
        off = value in (None, 0, [], {}) or (name == "guidance_scale" and value == 1)
        if not off:
            return False
    return True


def decode_threads() -> int:
    """The intra-op threads for one row's decode: ``$ASSISTANT_BUILDER_DECODE_THREADS``, else 1
    (0 or an unreadable value: leave torch's setting alone)."""
    raw = os.environ.get(THREADS_ENV, "1").strip()
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (0: unchanged), restoring the previous count.
    torch's setting is process-wide: callers hold the engine's lock, so no other generation
    runs meanwhile."""
    import torch

    before = torch.get_num_threads()
    if n <= 0 or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _growing_layer_class() -> Any:
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A KV cache layer that writes each step into spare room of a preallocated buffer and
        returns views of the filled part (``DynamicLayer`` concatenates the whole past anew at
        every step). Room doubles when it runs out."""

        def __init__(self, capacity: int) -> None:
            super().__init__()
            self.capacity = max(1, capacity)
            self.length = 0

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            import torch

            self.device = key_states.device
            self._k = torch.empty(
                (*key_states.shape[:2], self.capacity, key_states.shape[-1]),
                dtype=key_states.dtype,
                device=key_states.device,
            )
            self._v = torch.empty(
                (*value_states.shape[:2], self.capacity, value_states.shape[-1]),
                dtype=value_states.dtype,
                device=value_states.device,
            )
            self.is_initialized = True

        def _grow(self, need: int) -> None:
            cap = max(need, 2 * self.capacity)
            for name in ("_k", "_v"):
                old = getattr(self, name)
                new = old.new_empty((*old.shape[:2], cap, old.shape[-1]))
                new[:, :, : self.length].copy_(old[:, :, : self.length])
                setattr(self, name, new)
            self.capacity = cap

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n = key_states.shape[-2]
            end = self.length + n
            if end > self.capacity:
                self._grow(end)
            self._k[:, :, self.length : end].copy_(key_states)
            self._v[:, :, self.length : end].copy_(value_states)
            self.length = end
            self.keys = self._k[:, :, :end]
            self.values = self._v[:, :, :end]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

    return GrowingLayer


def growing_cache(model: Any, capacity: int) -> Any:
    """A KV cache for one row of ``model``, with room for ``capacity`` positions per layer."""
    from transformers.cache_utils import Cache

    lm = _base_lm(model)
    text = lm.config.get_text_config(decoder=True)
    layer = _growing_layer_class()
    return Cache(layers=[layer(capacity) for _ in range(text.num_hidden_layers)])


def _cache_arg(lm: Any) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (the old name warns, then goes)."""
    import inspect

    params = inspect.signature(lm.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def greedy_tokens(
    model: Any,
    prompt_ids: list[int],
    *,
    max_new_tokens: int,
    end_ids: list[int] | set[int],
    repetition_penalty: float = 1.0,
) -> Iterator[int]:
    """Yield the greedy continuation of ``prompt_ids`` one token at a time: at most
    ``max_new_tokens`` tokens, the first end token included (then it stops). Run it inside
    ``torch.inference_mode()`` and whatever adapter context the caller needs."""
    import torch

    if max_new_tokens <= 0 or not prompt_ids:
        return
    lm = _base_lm(model)
    device = lm.device
    cache = growing_cache(lm, len(prompt_ids) + max_new_tokens)
    kwargs = {_cache_arg(lm): cache, "use_cache": True, "logits_to_keep": 1}
    ends = set(end_ids)
    seen = set(prompt_ids)
    penalise = repetition_penalty != 1.0
    ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)
    for _ in range(max_new_tokens):
        logits = lm(input_ids=ids, **kwargs).logits[0, -1, :].to(dtype=torch.float32)
        if penalise:
            # transformers' RepetitionPenaltyLogitsProcessor over prompt + answer so far.
            index = torch.tensor(sorted(seen), dtype=torch.long, device=device)
            score = logits.gather(0, index)
            score = torch.where(score < 0, score * repetition_penalty, score / repetition_penalty)
            logits = logits.scatter(0, index, score)
        token = int(torch.argmax(logits))
        yield token
        if token in ends:
            return
        seen.add(token)
        ids = torch.tensor([[token]], dtype=torch.long, device=device)
