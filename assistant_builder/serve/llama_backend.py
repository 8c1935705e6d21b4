"""``serve --backend llama-cpp``: the run's verified GGUF export answered by llama.cpp
(llama-cpp-python, the ``gguf`` extra), one request at a time.

The prompt is built by the run's own tokenizer and chat template (the one it was trained with)
and fitted into the window exactly as the transformers backend does; llama.cpp samples the
tokens; stop sequences, streaming and the finish reason use the same :class:`Row` logic as the
batcher, so both backends answer the API identically.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.serve.backend import Prepared, fit_conversation
from assistant_builder.serve.batcher import Job, Row

PREFERRED = ("model.q8_0.gguf", "model.f16.gguf")  # the export's verified types, best first


def import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise UserError(
            "the llama-cpp backend needs llama-cpp-python, which is not installed "
            "(pip install 'assistant-builder[gguf]' builds it, ~10 minutes); "
            "or serve with --backend transformers"
        ) from None
    return llama_cpp


def find_gguf(ws: Any, run_id: str) -> Path:
    folder = ws.exports_dir / run_id / "gguf"
    for name in PREFERRED:
        if (folder / name).is_file():
            return folder / name
    raise UserError(
        f"run {run_id} has no GGUF export in {folder}; "
        f"run `assistant-builder export --run {run_id} --format gguf` first"
    )


class LlamaCppEngine:
    """Same interface as the Batcher: ``prepare``, ``submit``, ``stop``."""

    def __init__(self, llm: Any, tokenizer: Any, n_ctx: int) -> None:
        self.llm = llm
        self.tokenizer = tokenizer
        self.n_ctx = n_ctx
        ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
        self.end_ids = {i for i in ids if isinstance(i, int) and i >= 0}
        self.pending: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="llama-cpp", daemon=True)
        self.thread.start()

    @classmethod
    def for_run(cls, ws: Any, run_id: str, context: int | None) -> LlamaCppEngine:
        llama_cpp = import_llama_cpp()
        from assistant_builder.models.loading import load_tokenizer
        from assistant_builder.runs import Run

        path = find_gguf(ws, run_id)
        tokenizer = load_tokenizer(str(Run(ws.run_dir(run_id)).adapter_dir))
        n_ctx = context or 2048
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, verbose=False)
        return cls(llm, tokenizer, n_ctx)

    def _encode(self, messages: list[dict[str, str]]) -> list[int]:
        with self._lock:
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def _decode(self, ids: list[int]) -> str:
        with self._lock:
            text: str = self.tokenizer.decode(ids, skip_special_tokens=True)
        return text

    def prepare(self, messages: list[dict[str, str]], max_tokens: int | None) -> Prepared:
        kept, _, budget = fit_conversation(
            messages, lambda ms: len(self._encode(ms)), self.n_ctx, max_tokens
        )
        return Prepared(self._encode(kept), budget, len(messages) - len(kept))

    def submit(self, job: Job) -> Job:
        self.pending.put(job)
        return job

    def stop(self) -> None:
        self.pending.put(None)
        self.thread.join(10)

    def _loop(self) -> None:
        while (job := self.pending.get()) is not None:
            try:
                self._answer(job)
            except Exception as e:  # one failed request, not a dead server
                job.emit("error", f"generation failed: {type(e).__name__}: {e}")

    def _answer(self, job: Job) -> None:
        row = Row(job, self._decode)
        if job.seed is not None:
            self.llm.set_seed(job.seed)
        greedy = job.temperature <= 0
        tokens = self.llm.generate(
            job.prompt_ids,
            temp=0.0 if greedy else job.temperature,
            top_p=1.0 if greedy else job.top_p,
            top_k=1 if greedy else 0,
            repeat_penalty=1.0,
            reset=True,
        )
        for token in tokens:
            if job.cancelled.is_set():
                row.cancel()
                return
            if row.advance(int(token), self.end_ids) is not None:
                return
