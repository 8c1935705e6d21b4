"""The batcher on the real tiny model: answers decoded together (left padding, rows leaving,
late rows joining the running batch) are the answers each request gets alone."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from support.export_run import QUESTIONS

from assistant_builder.serve.batcher import Batcher, Job, _held_back


@pytest.fixture(scope="module")
def backend(tiny_base_and_adapter) -> Any:
    from assistant_builder.serve.backend import TransformersBackend

    base, adapter = tiny_base_and_adapter
    # fp32 weights in the step: the answers below must equal the model's own, token for token
    # (the default, fp16, is close but may round a near tie the other way).
    return TransformersBackend(str(base), adapter, single="fp32")


class Collect:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.info: dict[str, Any] = {}
        self.done = threading.Event()

    def emit(self, kind: str, payload: Any) -> None:
        if kind == "delta":
            self.pieces.append(payload)
        else:
            self.info = payload if kind == "done" else {"error": payload}
            self.done.set()


def job(backend: Any, question: str, max_tokens: int, **kw: Any) -> tuple[Job, Collect]:
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]
    out = Collect()
    return Job(backend.prepare(msgs, max_tokens).ids, max_tokens, out.emit, **kw), out


def alone(backend: Any, question: str, max_tokens: int) -> str:
    batcher = Batcher(backend, max_batch=1).start()
    try:
        j, out = job(backend, question, max_tokens)
        batcher.submit(j)
        assert out.done.wait(60)
        return str(out.info["text"])
    finally:
        batcher.stop()


def test_batched_and_joined_answers_equal_answers_alone(backend) -> None:
    lengths = [5, 9, 14, 20]  # rows leave the batch at different steps
    expected = [alone(backend, q, n) for q, n in zip(QUESTIONS, lengths, strict=True)]
    batcher = Batcher(backend, max_batch=8)
    jobs = [job(backend, q, n) for q, n in zip(QUESTIONS, lengths, strict=True)]
    for j, _ in jobs[:3]:
        batcher.submit(j)
    batcher.start()
    # The fourth arrives while the first three are decoding and joins their batch.
    while not jobs[0][1].pieces:
        time.sleep(0.001)
    batcher.submit(jobs[3][0])
    try:
        for (_, out), want, n in zip(jobs, expected, lengths, strict=True):
            assert out.done.wait(60)
            assert out.info["text"] == want
            assert "".join(out.pieces) == want  # streamed pieces join to the answer
            assert out.info["completion_tokens"] == n and out.info["finish_reason"] == "length"
        # Fewer forward passes than answering one at a time would take.
        assert batcher.steps < sum(lengths) and batcher.joined == 1
    finally:
        batcher.stop()


def test_cancel_and_sampling(backend) -> None:
    batcher = Batcher(backend).start()
    try:
        long_job, long_out = job(backend, QUESTIONS[0], 300)
        batcher.submit(long_job)
        while not long_out.pieces:
            time.sleep(0.001)
        long_job.cancel()
        assert long_out.done.wait(10)
        assert long_out.info["finish_reason"] == "cancelled"
        assert long_out.info["completion_tokens"] < 300
        # Sampling with a seed is reproducible; top_p near 0 is greedy.
        texts = []
        for seed in (7, 7):
            j, out = job(backend, QUESTIONS[1], 10, temperature=1.0, seed=seed)
            batcher.submit(j)
            assert out.done.wait(30)
            texts.append(out.info["text"])
        assert texts[0] == texts[1]
        j, out = job(backend, QUESTIONS[1], 10, temperature=1.0, top_p=0.0, seed=3)
        batcher.submit(j)
        assert out.done.wait(30)
    finally:
        batcher.stop()
    assert out.info["text"] == alone(backend, QUESTIONS[1], 10)


def test_held_back_is_a_stop_prefix() -> None:
    assert _held_back("hello wor", ["world"]) == 3
    assert _held_back("hello", ["xyz"]) == 0
    assert _held_back("ab", ["abc", "b!"]) == 2


def test_a_request_alone_uses_the_step_and_hands_over_when_another_arrives(
    tiny_base_and_adapter, backend
) -> None:
    """The hand-written step (fp32 weights) answers a lone request exactly like the model's
    own forward; a request arriving meanwhile joins, and both answers stay the same."""
    from assistant_builder.serve.backend import TransformersBackend

    base, adapter = tiny_base_and_adapter
    plain = TransformersBackend(str(base), adapter, single="model")
    assert backend.step is not None and plain.step is None
    assert TransformersBackend(str(base), adapter).step.weights == "fp16"  # the default
    assert [alone(backend, q, 12) for q in QUESTIONS] == [alone(plain, q, 12) for q in QUESTIONS]
    expected = [alone(plain, q, 20) for q in QUESTIONS[:2]]
    batcher = Batcher(backend, max_batch=8).start()
    try:
        first, first_out = job(backend, QUESTIONS[0], 20)
        batcher.submit(first)
        while not first_out.pieces:
            time.sleep(0.001)
        second, second_out = job(backend, QUESTIONS[1], 20)
        batcher.submit(second)
        assert first_out.done.wait(60) and second_out.done.wait(60)
        assert [first_out.info["text"], second_out.info["text"]] == expected
        assert batcher.joined == 1
    finally:
        batcher.stop()


def test_guessed_continuations_keep_greedy_answers_and_save_passes(backend) -> None:
    """With the run's answers to guess from, a lone greedy request checks guesses in one pass
    each: the answers are the same, and a guess from the right answer saves passes; wrong
    guesses cost passes, not words."""
    want = [alone(backend, q, 24) for q in QUESTIONS]
    try:
        backend.use_answers(["Nothing like the answers at all, nothing whatsoever."])
        assert [alone(backend, q, 24) for q in QUESTIONS] == want
        assert backend.use_answers(want) == len(set(want))
        batcher = Batcher(backend, max_batch=1).start()
        try:
            j, out = job(backend, QUESTIONS[0], 24)
            batcher.submit(j)
            assert out.done.wait(60)
            assert out.info["text"] == want[0]
            assert batcher.guessed > 0
            assert batcher.steps < out.info["completion_tokens"]
        finally:
            batcher.stop()
        # A sampled request is not checked against guesses (its choices are random).
        batcher = Batcher(backend, max_batch=1).start()
        try:
            j, out = job(backend, QUESTIONS[0], 24, temperature=1.0, seed=1)
            batcher.submit(j)
            assert out.done.wait(60)
            assert batcher.guessed == 0
        finally:
            batcher.stop()
    finally:
        backend.drafts = None
