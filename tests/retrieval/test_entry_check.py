"""The model check of retrieved entries: the rule on given fits, matching with a check, and the
real default model telling the entry a reworded question belongs to from its neighbours."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant_builder.dataset.build import build_dataset
from assistant_builder.retrieval.answer import match_entry
from assistant_builder.retrieval.check import (
    CHECK_MIN_FIT,
    MAX_QUESTION_TOKENS,
    Candidate,
    EntryCheck,
    pick,
)
from assistant_builder.retrieval.index import Hit, Index, Passage, open_index
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.workspace import Workspace


def _cand(title: str, coverage: float, fit: float) -> Candidate:
    p = Passage(id=0, title=title, body="", group=title, kind="pair")
    return Candidate(Hit(p, 1.0), coverage, fit)


def test_pick_takes_the_clear_best_fit_even_under_the_coverage_bar() -> None:
    cands = [_cand("first", 0.5, 1.0), _cand("second", 0.3, 2.5), _cand("third", 0.3, 2.2)]
    chosen = pick(cands)
    assert chosen is not None and chosen.hit.passage.title == "second"
    assert pick([_cand("alone", 0.3, CHECK_MIN_FIT)]) is not None  # no rival: the fit decides


def test_pick_leaves_the_lexical_rule_when_unsure() -> None:
    # Too close to another candidate (the margin).
    assert pick([_cand("a", 0.5, 2.5), _cand("b", 0.3, 2.4)]) is None
    # A clear margin, but not a good fit: an off-topic question fits no entry well.
    assert pick([_cand("a", 0.5, CHECK_MIN_FIT - 0.1), _cand("b", 0.5, 0.0)]) is None
    # Nothing was scored (no entry over the coverage floor).
    assert pick([]) is None


class _FixedFits:
    """A check whose fits are given per entry title (the rule under test, not the model)."""

    def __init__(self, fits: dict[str, float]) -> None:
        self.by_title = fits
        self.asked: list[str] = []

    def fits(self, question: str, candidates: list[Candidate]) -> None:
        self.asked.append(question)
        for c in candidates:
            c.fit = self.by_title.get(c.hit.passage.title, 0.0)


FAQ = """# FAQ

## Why does `brew install <formula>` upgrade other formulae?

Installing a formula first upgrades its outdated dependencies, and with them every formula that
depends on those, so that everything keeps working together. Set HOMEBREW_NO_INSTALL_UPGRADE to
skip upgrading what is already installed.

## How do I update my local packages?

Run `brew update` to fetch the newest Homebrew and formulae, then `brew upgrade` to upgrade
everything that is outdated.

## How do I stop certain formulae from being updated?

Run `brew pin <formula>`; pinned formulae are left alone by `brew upgrade` until you unpin them.

## What does "keg-only" mean?

A keg-only formula is installed into the Cellar but not linked into the Homebrew prefix, because
macOS already ships a version of it.
"""
REWORDED = "why does installing one thing with brew end up upgrading a ton of unrelated stuff"


@pytest.fixture
def index(workspace: Workspace, tmp_path: Path) -> Index:
    f = tmp_path / "faq.md"
    f.write_text(FAQ, encoding="utf-8")
    ingest_paths(workspace, [f])
    build_dataset(workspace)
    idx, notices = open_index(workspace)
    assert notices == []
    return idx


def test_match_entry_takes_the_checked_entry_with_a_notice(index: Index) -> None:
    q = "why does install upgrade everything else"
    assert match_entry(index, q, 0.9).hit is None  # lexically not close enough
    # The check may take an entry under the bar, and one BM25 does not rank first.
    second = index.search(q, 5).hits[1].passage
    assert index.coverage(q, second) >= 0.25
    check = _FixedFits({second.title: 2.6})
    m = match_entry(index, q, 0.9, check)  # type: ignore[arg-type]
    assert check.asked == [q]
    assert m.hit is not None and m.hit.passage is second
    assert "by the model check" in m.notices[0]
    # An unsure check leaves the lexical rule: no entry.
    unsure = _FixedFits({second.title: 1.0})
    assert match_entry(index, q, 0.9, unsure).hit is None  # type: ignore[arg-type]
    # A question no entry holds a quarter of is not checked at all.
    idle = _FixedFits({})
    assert match_entry(index, "my builds keep upgrading the whole world", 0.9, idle).hit is None  # type: ignore[arg-type]
    assert idle.asked == []


@pytest.mark.slow
def test_the_default_model_finds_the_entry_a_reworded_question_belongs_to(index: Index) -> None:
    check = EntryCheck.default()
    hits = index.search(REWORDED, 5).hits
    cands = [Candidate(h, index.coverage(REWORDED, h.passage)) for h in hits]
    check.fits(REWORDED, cands)
    best = max(cands, key=lambda c: c.fit or 0.0)
    assert "install" in best.hit.passage.title
    off = "Should I learn Rust or Go?"
    off_cands = [Candidate(h, 1.0) for h in hits]
    check.fits(off, off_cands)
    assert max(c.fit or 0.0 for c in off_cands) < (best.fit or 0.0)


class _WordTokenizer:
    """Counts words as tokens: enough for the length guard, which runs before any model."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[str]]:
        return {"input_ids": text.split()}


def test_an_overlong_or_empty_question_is_matched_by_words_alone(index: Index) -> None:
    check = EntryCheck(model=None, tokenizer=_WordTokenizer())
    long_q = "why does install upgrade everything else " + "really " * (MAX_QUESTION_TOKENS)
    m = match_entry(index, long_q, 0.4, check)
    assert any("over the 256 the model check reads" in n for n in m.notices)
    # The words still decide: the entry that holds the question's words is matched.
    assert m.hit is not None and "install" in m.hit.passage.title
    cands = [Candidate(h, 1.0) for h in index.search("install", 2).hits]
    assert "empty question" in (check.fits("   ", cands) or "")
    assert all(c.fit is None for c in cands)
