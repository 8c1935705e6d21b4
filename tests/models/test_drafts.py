"""Guessed continuations for speculative decoding (models/drafts.py): what is proposed, from
where, and what a bad rows file does."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant_builder.models.drafts import (
    GUESS,
    Drafts,
    RequestDrafts,
    answer_drafts,
    answers_of,
)


def test_the_continuation_of_the_last_tokens_first_occurrence() -> None:
    d = Drafts([[1, 2, 3, 4, 5, 6], [9, 2, 3, 4, 7, 8]], match=3)
    assert d.propose([0, 2, 3, 4]) == [5, 6]  # the first sequence's continuation wins
    assert d.propose([9, 2, 3, 4, 7], limit=1) == [8]
    assert d.propose([3, 2, 1]) == []  # never seen
    assert d.propose([3, 4]) == []  # shorter than the match
    assert d.propose([1, 2, 3], limit=0) == []
    with pytest.raises(ValueError):
        Drafts(match=0)


def test_a_request_looks_in_its_prompt_before_the_shared_answers() -> None:
    shared = Drafts([[10, 11, 12, 13, 14]], match=2)
    req = RequestDrafts([5, 10, 11, 50, 51], shared)
    # Nothing generated yet: the prompt's tail is the context (its last 2 tokens, 50 51).
    assert req.propose([]) == []
    # "10 11" occurs in the prompt (then 50 51) and in the answers (then 12 13 14).
    assert req.propose([10, 11]) == [50, 51]
    assert req.propose([12, 13]) == [14]  # only in the answers
    assert req.propose([51]) == []  # the context "50 51" ends the prompt: nothing follows
    assert RequestDrafts([1, 2, 3, 4], None).propose([1, 2, 3]) == [4]  # 3-token match


def test_answers_of_reads_assistant_turns_and_skips_what_it_cannot(tmp_path: Path) -> None:
    rows = tmp_path / "train.jsonl"
    rows.write_text(
        '{"messages": [{"role": "user", "content": "Q?"}, '
        '{"role": "assistant", "content": "Answer one."}]}\n'
        "not json\n"
        "[1, 2]\n"
        '{"messages": [{"role": "assistant", "content": "  "}, "odd", '
        '{"role": "assistant", "content": "Answer two."}]}\n',
        encoding="utf-8",
    )
    assert answers_of(rows) == ["Answer one.", "Answer two."]
    assert answers_of(tmp_path / "missing.jsonl") == []


def test_answer_drafts_end_each_answer_with_the_end_of_turn_and_index_repeats_once() -> None:
    words = {"a": 1, "b": 2, "c": 3, "d": 4}

    def encode(text: str) -> list[int]:
        return [words[w] for w in text.split()]

    d = answer_drafts(["a b c d", "a b c d", "b c a"], encode, end_id=0)
    assert len(d) == 2
    assert d.propose([2, 3, 4], limit=5) == [0]  # the answer can end on a guess
    assert d.propose([1, 2, 3]) == [4, 0]
    assert answer_drafts(["a b c"], encode, end_id=None).sequences == [[1, 2, 3]]


def test_wrong_guesses_pause_guessing_longer_each_time_and_a_right_one_resumes() -> None:
    req = RequestDrafts([1, 2, 3, 4, 5], None)
    ctx = [1, 2, 3]

    def guesses_in(n: int) -> int:
        return sum(bool(req.propose(ctx)) for _ in range(n))

    assert req.propose(ctx) == [4, 5]
    req.taken(0)  # wrong: skip 1 token
    assert req.propose(ctx) == [] and req.propose(ctx) == [4, 5]
    req.taken(0)  # wrong again: skip 2
    assert guesses_in(3) == 1 and req.pause == 0
    req.taken(0)
    req.taken(0)  # four in a row: skip 8
    assert req.pause == 8
    req.pause = 0
    req.taken(2)  # right: guesses go on at once, and the next miss pauses for 1 again
    assert req.propose(ctx) == [4, 5]
    req.taken(0)
    assert req.pause == 1
    for _ in range(20):
        req.taken(0)
    assert req.pause == RequestDrafts.MAX_PAUSE


def test_the_guess_grows_after_a_guess_taken_whole_and_shrinks_after_a_partial_one() -> None:
    prompt = list(range(1, 40))
    req = RequestDrafts(prompt, None)
    ctx = [1, 2, 3]
    first = req.propose(ctx)
    assert first == prompt[3 : 3 + RequestDrafts.FIRST_GUESS]
    req.taken(len(first))  # taken whole: two longer next time
    assert len(req.propose(ctx)) == RequestDrafts.FIRST_GUESS + 2
    req.taken(1)  # one of six: one shorter, and no pause (a token was right)
    assert req.pause == 0 and len(req.propose(ctx)) == RequestDrafts.FIRST_GUESS + 1
    for _ in range(10):
        req.propose(ctx)
        req.taken(1)
    assert len(req.propose(ctx)) == RequestDrafts.MIN_GUESS  # never shorter than this
    for _ in range(10):
        req.taken(len(req.propose(ctx)))
    assert len(req.propose(ctx)) == GUESS  # and never longer than GUESS
    assert len(req.propose(ctx, limit=3)) == 3  # nor than the caller's limit
