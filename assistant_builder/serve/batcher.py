"""Dynamic batching: concurrent requests share the model's forward passes.

One worker thread owns the model. Requests wait in a queue; the worker takes every waiting one
(up to ``max_batch``), prefills their prompts together (left padding) and decodes them one token
per step as one batch. Requests that arrive while a batch is decoding join it at the next step:
their prompts are prefilled on the side and their KV cache is spliced into the running one.
A row leaves the batch as soon as it ends (end of turn, stop sequence, token budget) or its
client goes away (:meth:`Job.cancel`), so an abandoned stream costs at most one more step.

Per step a 135M model's forward pass on CPU costs about the same for 1 row as for 16 (it is
bound by per-layer overhead and weight reads, not arithmetic), which is where the throughput of
concurrent clients comes from (benchmarks/serve_load.py). A request with nothing else waiting
runs through the backend's hand-written step when it has one (cheaper per token for one row);
when another request arrives meanwhile, its cache is handed to the batched loop and the
newcomer joins as above.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A job reports ("delta", text) while decoding and then exactly one ("done", info) or
# ("error", message). ``emit`` is called on the worker thread and must not block.
Emit = Callable[[str, Any], None]


@dataclass
class Job:
    prompt_ids: list[int]
    max_tokens: int
    emit: Emit
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled.set()


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters might be the start of a stop sequence (not shown yet)."""
    hold = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), hold, -1):
            if text.endswith(s[:k]):
                hold = k
                break
    return hold


class Row:
    """One request's decoding state: its tokens, the text already streamed, its sampler."""

    def __init__(self, job: Job, decode: Callable[[list[int]], str]) -> None:
        import torch

        self.job = job
        self.decode = decode
        self.ids: list[int] = []
        self.shown = ""
        self.generator = None
        if job.temperature > 0:
            self.generator = torch.Generator()
            if job.seed is not None:
                self.generator.manual_seed(job.seed)
            else:
                self.generator.seed()

    def choose(self, logits: Any) -> int:
        import torch

        if self.generator is None:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / self.job.temperature, dim=-1)
        if self.job.top_p < 1.0:
            sorted_p, order = torch.sort(probs, descending=True)
            # Keep the smallest set of tokens whose mass reaches top_p (always the first).
            drop = torch.cumsum(sorted_p, dim=-1) - sorted_p > self.job.top_p
            sorted_p[drop] = 0.0
            probs = torch.zeros_like(probs).scatter_(0, order, sorted_p)
        return int(torch.multinomial(probs, 1, generator=self.generator))

    def advance(self, token: int, end_ids: set[int]) -> str | None:
        """Take one generated token; stream what is safe to show; the finish reason or None."""
        if token in end_ids:
            return self._finish("stop", self.decode(self.ids).strip())
        self.ids.append(token)
        text = self.decode(self.ids).lstrip()
        for s in self.job.stop:
            at = text.find(s)
            if at >= 0:
                return self._finish("stop", text[:at].rstrip())
        if len(self.ids) >= self.job.max_tokens:
            return self._finish("length", text.rstrip())
        # Hold back a half-decoded character, trailing space (the final answer is stripped)
        # and anything that may turn out to be the start of a stop sequence.
        safe = text.rstrip()
        safe = safe[: len(safe) - _held_back(safe, self.job.stop)].rstrip("\ufffd")
        if len(safe) > len(self.shown) and safe.startswith(self.shown):
            self.job.emit("delta", safe[len(self.shown) :])
            self.shown = safe
        return None

    def _finish(self, reason: str, text: str) -> str:
        if text.startswith(self.shown) and len(text) > len(self.shown):
            self.job.emit("delta", text[len(self.shown) :])
        info = {"finish_reason": reason, "completion_tokens": len(self.ids), "text": text}
        self.job.emit("done", info)
        return reason

    def cancel(self) -> None:
        self.job.emit(
            "done",
            {"finish_reason": "cancelled", "completion_tokens": len(self.ids), "text": self.shown},
        )


class Batcher:
    """The worker thread that answers :class:`Job` s in shared batches."""

    def __init__(self, backend: Any, max_batch: int = 16) -> None:
        self.backend = backend
        self.max_batch = max_batch
        self.pending: queue.Queue[Job | None] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="batcher", daemon=True)
        self.steps = 0  # decode steps taken (tests and benchmarks read it)
        self.guessed = 0  # tokens taken from checked guesses (speculative decoding)
        self.joined = 0  # requests that joined a running batch

    def start(self) -> Batcher:
        self.thread.start()
        return self

    def prepare(self, messages: list[dict[str, str]], max_tokens: int | None) -> Any:
        """The conversation as prompt tokens that fit the model (see the backend)."""
        return self.backend.prepare(messages, max_tokens)

    def submit(self, job: Job) -> Job:
        self.pending.put(job)
        return job

    def stop(self) -> None:
        self.pending.put(None)
        self.thread.join(10)

    def _take(self, limit: int, block: bool) -> tuple[list[Job], bool]:
        """Up to ``limit`` waiting jobs (blocking for the first when asked); False on stop."""
        jobs: list[Job] = []
        while len(jobs) < limit:
            try:
                job = self.pending.get(block=block and not jobs)
            except queue.Empty:
                break
            if job is None:
                return jobs, False
            if job.cancelled.is_set():
                job.emit("done", {"finish_reason": "cancelled", "completion_tokens": 0, "text": ""})
                continue
            jobs.append(job)
        return jobs, True

    def _loop(self) -> None:
        import torch

        running = True
        while running:
            jobs, running = self._take(self.max_batch, block=True)
            if not jobs:
                continue
            try:
                with torch.inference_mode():
                    running = self._decode(jobs) and running
            except Exception as e:  # a failed batch fails its requests, not the server
                msg = f"generation failed: {type(e).__name__}: {e}"
                for job in jobs:
                    job.emit("error", msg)

    def _prefill(self, rows: list[Row]) -> tuple[Any, Any, Any, Any]:
        """Left-padded prompts through the model: logits, mask, next positions, cache."""
        import torch
        from transformers import DynamicCache

        width = max(len(r.job.prompt_ids) for r in rows)
        pad = self.backend.tokenizer.pad_token_id or 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r.job.prompt_ids)
            ids[i, width - n :] = torch.tensor(r.job.prompt_ids)
            mask[i, width - n :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        dev = self.backend.device
        logits = self.backend.forward(ids.to(dev), mask.to(dev), positions.to(dev), cache)
        return logits, mask.to(dev), positions[:, -1:].to(dev) + 1, cache

    def _decode(self, jobs: list[Job]) -> bool:
        """Decode until every row is done; late arrivals join. False when asked to stop."""
        import torch

        if len(jobs) == 1 and getattr(self.backend, "step", None) is not None:
            state = self._decode_alone(Row(jobs[0], self.backend.decode))
            if state is None:
                return True
            rows, (logits, mask, pos, cache) = state[0], state[1:]
        else:
            rows = [Row(j, self.backend.decode) for j in jobs]
            logits, mask, pos, cache = self._prefill(rows)
        running = True
        while rows:
            tokens = [r.choose(logits[i]) for i, r in enumerate(rows)]
            keep = []
            for i, (r, t) in enumerate(zip(rows, tokens, strict=True)):
                if r.job.cancelled.is_set():
                    r.cancel()
                elif r.advance(t, self.backend.end_ids) is None:
                    keep.append(i)
            if len(keep) < len(rows):
                index = torch.tensor(keep, dtype=torch.long, device=mask.device)
                rows = [rows[i] for i in keep]
                tokens = [tokens[i] for i in keep]
                mask, pos = mask[index], pos[index]
                cache.batch_select_indices(index)
            if running and len(rows) < self.max_batch and not self.pending.empty():
                late, running = self._take(self.max_batch - len(rows), block=False)
                if late:
                    rows, tokens, mask, pos, cache = self._join(
                        rows, tokens, mask, pos, cache, late
                    )
            if not rows:
                break
            step = torch.tensor(tokens, dtype=torch.long, device=mask.device)[:, None]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            logits = self.backend.forward(step, mask, pos, cache)
            pos = pos + 1
            self.steps += 1
        return running

    def _decode_alone(self, row: Row) -> tuple[list[Row], Any, Any, Any, Any] | None:
        """One request with nothing else waiting: the backend's hand-written step, which has no
        batching but costs less per token. When another request arrives meanwhile, the state
        so far is handed to the batched loop (rows, logits, mask, positions, cache) and the
        newcomer joins there; None when the request finished here."""
        import torch

        logits = self.backend.step_start(row.job.prompt_ids)
        # Greedy rows check guessed continuations (the prompt's words, the run's answers) in
        # one pass; a sampled row's choice is random, so a guess cannot be checked that way.
        guesses = None
        if row.generator is None and getattr(self.backend, "drafts", None) is not None:
            guesses = self.backend.request_drafts(row.job.prompt_ids)
        while True:
            token = row.choose(logits)
            if row.job.cancelled.is_set():
                row.cancel()
                return None
            if row.advance(token, self.backend.end_ids) is not None:
                return None
            guess = guesses.propose(row.ids) if guesses is not None else []
            if guess:
                logits = self._verify(row, token, guess, guesses)
                if logits is None:
                    return None
            else:
                logits = self.backend.step_next(token)
            self.steps += 1
            if not self.pending.empty():
                n = self.backend.step.length
                dev = logits.device
                mask = torch.ones((1, n), dtype=torch.long, device=dev)
                pos = torch.full((1, 1), n, dtype=torch.long, device=dev)
                return [row], logits[None], mask, pos, self.backend.step.transformers_cache()

    def _verify(self, row: Row, token: int, guess: list[int], guesses: Any) -> Any:
        """Check ``token`` and the guess after it in one pass; advance the row by the guessed
        tokens the model itself chooses (stopping at the first other choice, whose logits
        are then the next step's). None when the row finished on a guessed token."""
        step = self.backend.step
        start = step.length
        every = self.backend.step_verify([token, *guess])
        right = 0
        for i, g in enumerate(guess):
            if row.choose(every[i]) != g:
                break
            right += 1
            if row.advance(g, self.backend.end_ids) is not None:
                return None
        self.guessed += right
        guesses.taken(right)
        step.keep(start + 1 + right)  # the chosen token and the guessed ones the model chose
        return every[right]

    def _join(
        self, rows: list[Row], tokens: list[int], mask: Any, pos: Any, cache: Any, late: list[Job]
    ) -> tuple[list[Row], list[int], Any, Any, Any]:
        """Prefill ``late`` jobs and splice them into the running batch. Their first token is
        chosen here; from then on every row feeds its last token to the next step."""
        import torch

        new_rows = [Row(j, self.backend.decode) for j in late]
        logits, new_mask, new_pos, new_cache = self._prefill(new_rows)
        joined, new_tokens = [], []
        for i, r in enumerate(new_rows):
            t = r.choose(logits[i])
            if r.advance(t, self.backend.end_ids) is None:
                joined.append(i)
                new_tokens.append(t)
        if not joined:
            return rows, tokens, mask, pos, cache
        self.joined += len(joined)
        index = torch.tensor(joined, dtype=torch.long, device=mask.device)
        new_mask, new_pos = new_mask[index], new_pos[index]
        new_cache.batch_select_indices(index)
        if not rows:
            return [new_rows[i] for i in joined], new_tokens, new_mask, new_pos, new_cache
        # Left-pad the shorter side (zeros, masked out) so both have the same cache length.
        width = max(mask.shape[1], new_mask.shape[1])
        for layer, new_layer in zip(cache.layers, new_cache.layers, strict=True):
            layer.keys = torch.cat([_pad_left(layer.keys, width), _pad_left(new_layer.keys, width)])
            layer.values = torch.cat(
                [_pad_left(layer.values, width), _pad_left(new_layer.values, width)]
            )
        mask = torch.cat([_pad_left(mask, width), _pad_left(new_mask, width)])
        pos = torch.cat([pos, new_pos])
        return rows + [new_rows[i] for i in joined], tokens + new_tokens, mask, pos, cache


def _pad_left(t: Any, width: int) -> Any:
    """Zero-pad the sequence axis (dim 1 of a mask, dim 2 of a key/value tensor) to ``width``."""
    import torch

    axis = 1 if t.dim() == 2 else 2
    missing = width - t.shape[axis]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[axis] = missing
    return torch.cat([t.new_zeros(shape), t], dim=axis)
