from __future__ import annotations

import pytest

from assistant_builder.dataset.build import _near_duplicate, _token_set, normalize_question
from assistant_builder.dataset.paraphrase import casual, keywords, paraphrases

QUESTIONS = [
    "How do I update my local packages?",
    "Why does `brew upgrade <formula>` also upgrade other stuff?",
    'What does "keg-only" mean?',
    "Can I edit formulae myself?",
    "Is there a glossary of terms around?",
    "My Contoso smart light won't turn on.",
    "Where does stuff get downloaded?",
    "Why haven’t you merged my pull request?",
]


@pytest.mark.parametrize("q", QUESTIONS)
def test_paraphrases_are_distinct_deterministic_and_bounded(q: str) -> None:
    out = paraphrases(q, 3)
    assert len(out) == 3
    assert len(set(out)) == 3 and q not in out
    assert out == paraphrases(q, 3), "the same question always gets the same paraphrases"
    assert paraphrases(q, 5)[:3] != [] and len(paraphrases(q, 5)) <= 5
    assert paraphrases(q, 0) == []


def test_shapes_are_rewritten_into_other_shapes() -> None:
    many = paraphrases("How do I pin a formula?", 8)
    assert {"How can I pin a formula?", "Is it possible to pin a formula?"} <= set(many)
    why = paraphrases("Why does Homebrew update more often?", 8)
    assert "Homebrew update more often, why?" in why
    symptom = paraphrases("My light won't turn on.", 8)
    assert "What should I do if my light won't turn on?" in symptom
    assert any(p == "My light will not turn on." for p in symptom)
    upgraded = paraphrases("I upgraded the app and it stopped working.", 8)
    assert "Quick question: I upgraded the app and it stopped working?" in upgraded
    assert all(", why?" not in p for p in paraphrases("Why does the light not work?", 8))


def test_inverted_questions_keep_their_negation() -> None:
    for p in paraphrases("Why haven't you merged my pull request?", 8):
        assert "have not you" not in p
        assert "merged" in p


def test_casual_and_keyword_forms() -> None:
    assert casual("How do I `brew pin` a Formula?") == "how do i brew pin a formula"
    assert keywords("How do I pin a formula?") == "pin formula?"
    # "A" inside a name is not the article.
    assert keywords("How can I include pictures in Q and A Bot answers") == (
        "include pictures Q and A Bot answers?"
    )


def test_one_word_questions_get_no_paraphrases() -> None:
    assert paraphrases("Hello", 3) == []


def test_near_duplicate_threshold_keeps_distinct_questions() -> None:
    pin, unpin = _token_set("How do I pin a formula?"), _token_set("How do I unpin a formula?")
    assert not _near_duplicate(pin, unpin)
    long_a = _token_set("How do I keep old versions of a formula when upgrading it with brew?")
    long_b = _token_set("How do I keep the old versions of a formula when upgrading it with brew")
    assert _near_duplicate(long_a, long_b)
    assert normalize_question("How do I pin a formula?") != normalize_question(
        "How do I unpin a formula?"
    )
