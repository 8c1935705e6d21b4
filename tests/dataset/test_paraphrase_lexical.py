"""Semantic paraphrases: WordNet synonyms in their dominant sense, sentence forms, registers,
typos; grounded (key terms kept, the answer never quoted); a missing WordNet falls back."""

from __future__ import annotations

import pytest

from assistant_builder.dataset import wordnet
from assistant_builder.dataset.paraphrase_lexical import (
    alternatives,
    chatty,
    forms,
    key_terms,
    problem,
    semantic_paraphrases,
    typo,
)

WN, WHY = wordnet.load()
needs_wordnet = pytest.mark.skipif(
    WN is None, reason=f"needs the OS WordNet database (apt-get install wordnet-base): {WHY}"
)
ANSWER = "Run brew pin <formula> to stop Homebrew from upgrading it; brew unpin undoes it."


@needs_wordnet
def test_reader_finds_senses_base_forms_and_hypernyms() -> None:
    assert WN is not None
    assert WN.base_form("packages", "n") == "package"
    assert WN.base_form("ran", "v") == "run"  # from verb.exc
    assert "bundle" in WN.senses("package", "n")[0].lemmas
    computer = WN.senses("computer", "n")[0]
    assert "machine" in WN.synset(*computer.hypernyms[0]).lemmas


@needs_wordnet
def test_synonyms_must_share_their_own_dominant_sense() -> None:
    assert WN is not None
    # "keep" → "maintain": maintain's most frequent sense is keep's. "command" → "bid" is not
    # offered: the word is a noun and a verb and nothing around it decides which.
    assert ("maintain", "synonym") in alternatives("keep", "to", "", WN)
    assert ("repair", "synonym") in alternatives("fix", "to", "", WN)
    assert alternatives("command", "developer", "", WN) == []
    assert alternatives("updating", "", "", WN) == []  # inflected verbs are left alone
    # a plural noun keeps its plural
    assert all(r.endswith("s") for r, _ in alternatives("packages", "my", "", WN))


def test_forms_cover_how_come_symptoms_and_terse() -> None:
    how_come = dict(forms("Why does it fail to start?"))
    assert "How come it fails to start?" in how_come
    made = forms("How do I stop a formula from updating?")
    symptom = [f for f, kind in made if kind == "symptom"]
    assert "I can't figure out how to stop a formula from updating" in symptom
    assert forms("Why can't I log in?")[0][0] == "How come I can't log in?"


def test_registers_and_typos_keep_key_terms() -> None:
    assert chatty("How do I pin a formula?", 0).startswith("Hi, quick question: how do I pin")
    t = typo("How do I upgrade Homebrew formulae safely?", ["Homebrew"], 3)
    assert t and t != "how do i upgrade homebrew formulae safely" and "homebrew" in t
    assert typo("How do I pin it?", [], 0) == ""  # no word long enough to slip on


def test_grounding_rejects_dropped_terms_and_quoted_answers() -> None:
    keep = ["brew pin"]
    assert problem("how to use pin", "How do I use `brew pin`?", ANSWER, keep)
    leak = "How do I use brew pin to stop Homebrew from upgrading it?"
    assert "quotes the answer" in problem(leak, "How do I use `brew pin`?", ANSWER, keep)
    assert problem("any way to use brew pin?", "How do I use `brew pin`?", ANSWER, keep) == ""


def test_key_terms_are_code_names_and_numbers() -> None:
    terms = key_terms("Why does `brew pin` fail on macOS 14 for Homebrew?", None)
    assert {"brew pin", "macOS", "14", "Homebrew"} <= set(terms)


@needs_wordnet
def test_semantic_paraphrases_use_new_words_and_say_how() -> None:
    q = "How do I keep old versions of a formula when upgrading?"
    out = semantic_paraphrases(q, "Set HOMEBREW_NO_INSTALL_CLEANUP=1.", 3, WN)
    assert len(out) == 3 and len({p for p, _ in out}) == 3
    assert any("wordnet-synonym" in how for _, how in out)
    new_words = {w for p, _ in out for w in p.lower().split()} - set(q.lower().split())
    assert new_words & {"hold", "maintain"}, out
    assert semantic_paraphrases(q, "x", 3, WN) == semantic_paraphrases(q, "x", 3, WN)


def test_without_wordnet_forms_and_registers_still_come() -> None:
    out = semantic_paraphrases("How do I keep old versions of a formula?", "Set a flag.", 3, None)
    assert len(out) == 3
    assert not any("wordnet" in how for _, how in out)


def test_missing_wordnet_is_a_notice_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant_builder.dataset.questions import GenConfig, QuestionGenerator

    monkeypatch.setattr(wordnet, "SEARCH_DIRS", ())
    monkeypatch.delenv(wordnet.ENV_DIR, raising=False)
    gen = QuestionGenerator(GenConfig())
    assert gen.notices and "wordnet-base" in gen.notices[0]
    got = gen.paraphrases("How do I keep old versions of a formula?", 3, "Set a flag.")
    assert len(got) == 3 and {who for _, who, _ in got} <= {"semantic", "rules"}
