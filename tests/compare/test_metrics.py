"""Automatic metrics on examples small enough to check by hand (the working is in comments)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant_builder.metrics import (
    AGGREGATE_KEYS,
    contains_reference,
    lcs_length,
    normalize,
    reference_recall,
    rouge_l,
    score_answer,
    score_answers,
    token_f1,
    tokens,
    wilson_interval,
)


def test_normalize_lowercases_strips_punctuation_and_collapses_whitespace() -> None:
    assert normalize("  Hello,   WORLD!\n\tHow's it going?  ") == "hello world hows it going"
    # Punctuation between words separates them; apostrophes (straight or curly) vanish.
    assert normalize("e-mail us:support@example.com") == "e mail us support example com"
    assert normalize("Don\u2019t") == normalize("don't") == "dont"
    # Symbols carry meaning in support answers and stay.
    assert tokens("It costs $5 (+10%).") == ["it", "costs", "$5", "+10%"]
    assert normalize("...!?") == ""


def test_lcs_length_hand_examples() -> None:
    # a b c d e  vs  a c e  -> "a c e", length 3
    assert lcs_length(list("abcde"), list("ace")) == 3
    # a b c  vs  c b a -> any single letter, length 1
    assert lcs_length(list("abc"), list("cba")) == 1
    assert lcs_length([], list("abc")) == 0
    assert lcs_length(list("abc"), list("abc")) == 3


def test_rouge_l_hand_example() -> None:
    # answer    = "the cat sat on the mat"        (6 tokens)
    # reference = "the cat is on the mat"         (6 tokens)
    # LCS = "the cat on the mat" = 5 -> P = 5/6, R = 5/6, F = 5/6
    assert rouge_l("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(5 / 6)
    # answer = "reset your password in settings" (5), reference = "open settings reset password" (4)
    # LCS: "reset password" = 2 ("settings" comes after it in the answer, before it in the
    # reference, so it cannot extend the run) -> P = 2/5, R = 2/4, F = 2*0.4*0.5/0.9 = 4/9
    assert rouge_l(
        "Reset your password in Settings", "Open settings, reset password"
    ) == pytest.approx(4 / 9)


def test_token_f1_hand_example() -> None:
    # Same pair as above, order ignored: overlap {reset, password, settings} = 3
    # P = 3/5, R = 3/4, F1 = 2 * 0.6 * 0.75 / 1.35 = 0.9 / 1.35 = 2/3
    assert token_f1(
        "Reset your password in Settings", "Open settings, reset password"
    ) == pytest.approx(2 / 3)
    # Multiset overlap: "the the the" vs "the cat": overlap min(3,1) = 1 -> P=1/3, R=1/2, F=0.4
    assert token_f1("the the the", "the cat") == pytest.approx(0.4)


def test_empty_texts_follow_squad_convention() -> None:
    assert rouge_l("", "") == 1.0
    assert token_f1("", "") == 1.0
    assert rouge_l("something", "") == 0.0
    assert token_f1("", "something") == 0.0
    assert rouge_l("a b", "c d") == 0.0


def test_contains_reference_is_strict_and_token_aligned() -> None:
    assert contains_reference("Refunds take 10 days, usually.", "10 days")
    assert not contains_reference("Refunds take 110 days.", "10 days")  # not inside a token
    assert not contains_reference("Refunds take days, 10 at most.", "10 days")  # order matters
    assert contains_reference("anything", "") is False
    assert contains_reference("", "") is True


def test_reference_recall_is_the_relaxed_containment() -> None:
    # reference "go to settings then security" (5 tokens); the answer has "go to settings"
    # and "security" in order, with other words between: LCS = 4 -> recall 4/5.
    answer = "Go to Settings, scroll down, and open Security."
    reference = "go to settings then security"
    assert not contains_reference(answer, reference)
    assert reference_recall(answer, reference) == pytest.approx(4 / 5)
    # Saying more than the reference does not lower recall (it does lower ROUGE-L precision).
    assert reference_recall("yes and much more", "yes") == 1.0


def test_score_answer_matches_the_single_metrics() -> None:
    s = score_answer("The cat sat on the mat.", "the cat is on the mat", stopped=True)
    assert s.rouge_l == pytest.approx(5 / 6)
    assert s.token_f1 == pytest.approx(5 / 6)  # overlap the,cat,on,the,mat = 5 of 6 and 6
    assert s.contains_reference is False
    assert s.reference_recall == pytest.approx(5 / 6)
    assert s.length == 6
    assert s.as_dict()["stopped"] is True


def test_score_answers_aggregates_hand_example() -> None:
    answers = ["Refunds take 10 days.", "No idea", ""]
    references = ["10 days", "Call support", "Call support"]
    # item 1: tokens [refunds, take, 10, days] vs [10, days]: LCS 2 -> P=2/4 R=2/2 F=2/3;
    #         F1 same (bag overlap 2) = 2/3; contains yes; recall 1; length 4
    # item 2: no overlap -> 0, 0, no, 0; length 2
    # item 3: empty answer, non-empty reference -> 0, 0, no, 0; length 0
    # means: rouge_l = token_f1 = (2/3)/3 = 2/9; contains = 1/3; recall = 1/3; length = 2
    # stopped [True, False, True] -> 2/3
    out = score_answers(answers, references, [True, False, True])
    assert tuple(out) == AGGREGATE_KEYS
    assert out["n"] == 3
    assert out["rouge_l"] == pytest.approx(2 / 9)
    assert out["token_f1"] == pytest.approx(2 / 9)
    assert out["contains_reference"] == pytest.approx(1 / 3)
    assert out["reference_recall"] == pytest.approx(1 / 3)
    assert out["length"] == pytest.approx(2.0)
    assert out["stopped_share"] == pytest.approx(2 / 3)


def test_score_answers_without_stopped_flags_and_empty() -> None:
    out = score_answers(["a"], ["a"])
    assert "stopped_share" not in out  # unmeasured is absent, not 0
    assert out["rouge_l"] == 1.0
    empty = score_answers([], [])
    assert empty["n"] == 0 and empty["rouge_l"] == 0.0
    with pytest.raises(ValueError, match="references"):
        score_answers(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="stopped"):
        score_answers(["a"], ["a"], [True, False])


def test_wilson_interval_hand_example() -> None:
    # 7 successes of 10, z = 1.96: p = 0.7, z^2 = 3.8416
    # denom  = 1 + 3.8416/10 = 1.38416
    # centre = (0.7 + 3.8416/20) / 1.38416 = 0.89208 / 1.38416 = 0.644492...
    # half   = 1.96 * sqrt(0.7*0.3/10 + 3.8416/400) / 1.38416
    #        = 1.96 * sqrt(0.021 + 0.009604) / 1.38416 = 1.96 * 0.174940 / 1.38416 = 0.247718...
    # -> (0.396774, 0.892210)
    lo, hi = wilson_interval(7, 10)
    assert lo == pytest.approx(0.39677, abs=1e-4)
    assert hi == pytest.approx(0.89221, abs=1e-4)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 5)
    # p = 0: lower bound is exactly 0, upper = z^2/n / (1 + z^2/n) = 0.76832/1.76832 = 0.43449
    assert lo == 0.0
    assert hi == pytest.approx(0.43449, abs=1e-4)
    lo, hi = wilson_interval(5, 5)
    assert hi == 1.0 and lo == pytest.approx(1 - 0.43449, abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(6, 5)
    with pytest.raises(ValueError):
        wilson_interval(-1, 5)


@given(st.integers(min_value=0, max_value=500), st.integers(min_value=0, max_value=500))
def test_wilson_interval_contains_the_point_estimate(a: int, b: int) -> None:
    successes, n = min(a, b), max(a, b)
    lo, hi = wilson_interval(successes, n)
    assert 0.0 <= lo <= hi <= 1.0
    if n:
        assert lo <= successes / n + 1e-12 and successes / n - 1e-12 <= hi


@given(st.text(max_size=40), st.text(max_size=40))
def test_overlap_metrics_are_bounded_and_identity_scores_one(a: str, b: str) -> None:
    for value in (rouge_l(a, b), token_f1(a, b), reference_recall(a, b)):
        assert 0.0 <= value <= 1.0 and not math.isnan(value)
    assert rouge_l(a, a) == 1.0
    assert token_f1(a, a) == 1.0
    assert contains_reference(a, a)
