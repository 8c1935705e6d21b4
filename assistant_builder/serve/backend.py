"""The model behind ``serve``: a run's tuned model, with its LoRA adapter merged into the base.

A server answers as one adapter only, so folding it into the weights once (``merge_and_unload``)
removes the LoRA work from every decode step; the batcher then drives the forward pass itself.
A request decoded alone runs through a hand-written step for Llama-architecture models
(:mod:`assistant_builder.models.cpu.llama_step`: fewer operations per token, optionally int8
weights) when the model is one it can run on the CPU; batches use the model's own forward.

Conversations are fitted into the context window here: the system prompt and the newest user
message are always kept, earlier turns are dropped oldest first (a user turn together with the
answers that followed it) until the prompt plus the answer budget fits.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant_builder.serve.requests import DEFAULT_MAX_TOKENS, RequestError

# How a request decoded alone runs: the model's own forward, or the hand-written Llama step
# (assistant_builder/models/cpu/llama_step.py) with fp32 or int8 weights.
SINGLE = ("model", "fp32", "fp16", "int8")
DEFAULT_SINGLE = "fp16"


@dataclass
class Prepared:
    """A conversation turned into prompt tokens that fit the context window."""

    ids: list[int]
    max_tokens: int
    dropped_messages: int  # earlier messages left out to fit the window


def fit_conversation(
    messages: list[dict[str, str]],
    count: Any,
    n_ctx: int,
    max_tokens: int | None,
) -> tuple[list[dict[str, str]], int, int]:
    """The messages to send (system kept, oldest turns dropped first), their token count as
    ``count(messages)`` says, and the answer budget. Raises a 400 when even the last user
    message alone leaves no room for the answer the client asked for."""
    head = [m for m in messages[:1] if m["role"] == "system"]
    turns = messages[len(head) :]
    want = max_tokens or 1  # without max_tokens, any room at all will do

    def fits(used: int) -> bool:
        return used + want <= n_ctx

    def result(start: int, used: int) -> tuple[list[dict[str, str]], int, int]:
        budget = max_tokens or min(DEFAULT_MAX_TOKENS, n_ctx - used)
        return head + turns[start:], used, budget

    used = count(head + turns)
    if fits(used):
        return result(0, used)
    # Where a kept history may start: at a user turn (never on a dangling answer). Fewer
    # turns never need more tokens, so the longest history that fits is found by bisection:
    # a 10,000-message request costs a few dozen tokenisations, not thousands.
    starts = [0] + [i for i in range(1, len(turns)) if turns[i]["role"] == "user"]
    last = len(starts) - 1
    last_used = count(head + turns[starts[last] :]) if last else used
    if not last or not fits(last_used):
        raise RequestError(
            400,
            f"the conversation needs {last_used} tokens and the answer {want}, more than the "
            f"model's context window of {n_ctx} tokens; shorten the last message"
            + (" or max_tokens" if max_tokens else ""),
            param="messages",
            code="context_length_exceeded",
        )
    lo, hi, hi_used = 0, last, last_used  # starts[lo] does not fit, starts[hi] does
    while hi - lo > 1:
        mid = (lo + hi) // 2
        mid_used = count(head + turns[starts[mid] :])
        if fits(mid_used):
            hi, hi_used = mid, mid_used
        else:
            lo = mid
    return result(starts[hi], hi_used)


class TransformersBackend:
    """Tokenizer + merged model, loaded once; the batcher runs its forward passes."""

    name = "transformers"

    def __init__(
        self,
        base_model: str,
        adapter_dir: Path | None,
        n_ctx: int | None = None,
        single: str = DEFAULT_SINGLE,
    ):
        import torch

        self._threads = torch.get_num_threads()  # torch's own setting, for prefills and batches
        # Only the batcher's thread computes; loading here on one thread keeps this thread
        # from starting OpenMP workers of its own. With two thread teams on a 2-core machine
        # OpenMP stops spinning between parallel regions, and a decode step (a few hundred
        # short regions) took 1.7x as long (benchmarks/README.md, "Single stream").
        torch.set_num_threads(1)
        try:
            self._load(base_model, adapter_dir, n_ctx, single)
        finally:
            torch.set_num_threads(self._threads)

    def _load(
        self, base_model: str, adapter_dir: Path | None, n_ctx: int | None, single: str
    ) -> None:
        import torch

        from assistant_builder.models.loading import load_model, load_tokenizer

        # The adapter folder carries the tokenizer (and chat template) used in training.
        own = adapter_dir is not None and (adapter_dir / "tokenizer_config.json").is_file()
        self.tokenizer: Any = load_tokenizer(str(adapter_dir if own else base_model))
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = "bfloat16" if self.device == "cuda" else "float32"
        model: Any = load_model(base_model, dtype=dtype)
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
        self.model: Any = model.to(self.device).eval()
        window = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
        self.n_ctx = min(n_ctx or window, window)
        self.end_ids = self._end_token_ids()
        self.end_of_turn = self._end_of_turn()
        # transformers renamed `past_key_values` to `cache` (the old name warns, then goes).
        params = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        # The tokenizer is shared by request threads (encode) and the batcher (decode); a
        # fast tokenizer raises "Already borrowed" when used from two threads at once.
        self._tok_lock = threading.Lock()
        self.step = self._single_step(single)
        self.drafts: Any = None  # models.drafts.Drafts over the run's answers (use_answers)

    def _single_step(self, single: str) -> Any:
        """The hand-written decode step for a request decoded alone, or None (the model's own
        forward) when ``single`` is "model" or the model is not one it can run."""
        from assistant_builder.models.cpu import llama_step

        if single not in SINGLE:
            raise ValueError(f"single-stream decode must be one of {', '.join(SINGLE)}")
        if single == "model" or llama_step.unsupported(self.model):
            return None
        try:
            return llama_step.LlamaStep(self.model, weights=single, capacity=512)
        except ValueError:  # a rotary variant it does not cover: the model's own forward
            return None

    def step_start(self, prompt_ids: list[int]) -> Any:
        """Logits (1-D) after a prompt, through the hand-written step (torch's threads)."""
        self._set_threads(self._threads)
        return self.step.start(prompt_ids)

    def step_next(self, token: int) -> Any:
        """Logits (1-D) after one more token, with the decode threads of one row."""
        self._set_threads(self._step_threads(rows=1))
        return self.step.step(token)

    def _step_threads(self, rows: int) -> int:
        """Threads for the hand-written step: ``$ASSISTANT_BUILDER_DECODE_THREADS`` when set,
        else one for one fp32 row (a second thread does not pay there) and torch's own
        setting otherwise: the fp16 and int8 kernels and several rows do use the second core
        (benchmarks/README.md, "Single stream")."""
        import os

        from assistant_builder.models.decode import THREADS_ENV, decode_threads

        if os.environ.get(THREADS_ENV, "").strip():
            return decode_threads() or self._threads
        return 1 if rows == 1 and self.step.weights == "fp32" else self._threads

    def step_verify(self, tokens: list[int]) -> Any:
        """Logits after each of ``tokens`` (a chosen token and a guess), in one pass."""
        self._set_threads(self._step_threads(rows=len(tokens)))
        return self.step.verify(tokens)

    def use_answers(self, answers: list[str]) -> int:
        """Guess continuations from these answers (the run's training answers) when a greedy
        request is decoded alone; how many distinct answers were indexed."""
        from assistant_builder.models.drafts import answer_drafts

        def encode(text: str) -> list[int]:
            with self._tok_lock:
                ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            return ids

        self.drafts = answer_drafts(answers, encode, self.end_of_turn)
        return len(self.drafts)

    def request_drafts(self, prompt_ids: list[int]) -> Any:
        """The guesses for one request: its prompt, then the run's answers."""
        from assistant_builder.models.drafts import RequestDrafts

        return RequestDrafts(prompt_ids, self.drafts)

    def _set_threads(self, n: int) -> None:
        import torch

        if n != torch.get_num_threads():
            torch.set_num_threads(n)

    def _end_token_ids(self) -> set[int]:
        tok = self.tokenizer
        ids = {tok.eos_token_id}
        for name in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
            tid = tok.convert_tokens_to_ids(name)
            if isinstance(tid, int) and tid != tok.unk_token_id and tid >= 0:
                ids.add(tid)
        return {i for i in ids if i is not None}

    def _end_of_turn(self) -> int | None:
        """The token the chat template puts after an assistant turn (None if not found)."""
        tok = self.tokenizer
        for name in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
            tid = tok.convert_tokens_to_ids(name)
            if isinstance(tid, int) and tid != tok.unk_token_id and tid >= 0:
                return tid
        eos = tok.eos_token_id
        return eos if isinstance(eos, int) else None

    def _encode(self, messages: list[dict[str, str]]) -> list[int]:
        with self._tok_lock:
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def prepare(self, messages: list[dict[str, str]], max_tokens: int | None) -> Prepared:
        kept, _, budget = fit_conversation(
            messages, lambda ms: len(self._encode(ms)), self.n_ctx, max_tokens
        )
        return Prepared(self._encode(kept), budget, len(messages) - len(kept))

    def decode(self, ids: list[int]) -> str:
        with self._tok_lock:
            text: str = self.tokenizer.decode(ids, skip_special_tokens=True)
        return text

    def forward(self, input_ids: Any, mask: Any, positions: Any, cache: Any) -> Any:
        """Logits of the last position of each row (the KV cache grows in place)."""
        from assistant_builder.models.decode import decode_threads

        # One row, one token: a step of tiny operations, faster with fewer threads on CPU
        # (see assistant_builder/models/decode.py); prefills and batches get torch's own
        # setting back. The batcher's thread is the only one running the model, so the
        # process-wide setting changes only when the kind of step changes.
        one = tuple(input_ids.shape) == (1, 1) and self.device == "cpu"
        self._set_threads((decode_threads() or self._threads) if one else self._threads)
        out = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **{self._cache_arg: cache},
            logits_to_keep=1,  # the LM head on the last position only, not the whole prompt
        )
        return out.logits[:, -1, :].float()
