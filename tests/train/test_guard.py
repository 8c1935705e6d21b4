"""The update's guard (train/guard.py): which answers it keeps an eye on, and the one-pass check
that greedy decoding would give an answer back word for word."""

from __future__ import annotations

from typing import Any

from assistant_builder.train.guard import _encode, guard_rows, reproduces


def _row(q: str, a: str, group: str, how: str) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
        "meta": {"group": group, "how": how},
    }


def test_one_row_per_unchanged_answer_its_own_question_first() -> None:
    rows = [
        _row("reset it how", "Hold the button.", "g1", "paraphrased"),
        _row("How do I reset it?", "Hold the button.", "g1", "extracted"),
        _row("pair it how", "Open the app.", "g2", "paraphrased"),
        _row("How do I pair it?", "Open the app.", "g2", "extracted"),
    ]
    picked = guard_rows(rows, [0, 1, 2])  # row 3 is not unchanged: g2 keeps its paraphrase
    assert [r["messages"][0]["content"] for r in picked] == ["How do I reset it?", "pair it how"]


class _Lookup:
    """Logits that put all weight on one chosen next token per position: the model whose
    greedy answer is exactly ``ids`` (whatever the prompt), with one position optionally
    tipped to another token."""

    training = False

    def __init__(self, ids: list[int], vocab: int, tip: int | None = None) -> None:
        self.ids, self.vocab, self.tip = ids, vocab, tip

    def eval(self) -> None: ...

    def train(self, mode: bool = True) -> None: ...

    def parameters(self) -> Any:
        import torch

        yield torch.zeros(1)

    def __call__(self, input_ids: Any) -> Any:
        import torch

        n = input_ids.shape[1]
        logits = torch.zeros(1, n, self.vocab)
        for i in range(n - 1):
            nxt = self.ids[i + 1]
            if self.tip is not None and i + 1 == self.tip:
                nxt = (nxt + 1) % self.vocab
            logits[0, i, nxt] = 1.0
        return type("Out", (), {"logits": logits})()


def test_reproduces_checks_every_answer_token_and_the_end_of_turn(tiny_model: str) -> None:
    from assistant_builder.models.loading import load_tokenizer

    tok = load_tokenizer(tiny_model)
    row = _row("How do I reset lamp 3?", "Hold the power button for six seconds.", "g", "x")
    ids, start = _encode(tok, row)
    assert 0 < start < len(ids)
    assert tok.decode(ids[start:]).strip().startswith("Hold the power button")
    vocab = len(tok)
    assert reproduces(_Lookup(ids, vocab), tok, [row]) == [True]
    assert reproduces(_Lookup(ids, vocab, tip=start + 2), tok, [row]) == [False]
    assert reproduces(_Lookup(ids, vocab, tip=len(ids) - 1), tok, [row]) == [False]  # the end
    # A tipped prompt token is not the answer's business.
    assert reproduces(_Lookup(ids, vocab, tip=start - 1), tok, [row]) == [True]
