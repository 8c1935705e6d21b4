"""What the index searches besides each entry's question and answer (retrieval/terms.py): the
source's own variants, the dataset's phrasings, abbreviations mined from the material, WordNet
synonyms; and that the options an index was built with travel with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant_builder.dataset.build import build_dataset
from assistant_builder.dataset.wordnet import find_dir
from assistant_builder.retrieval.answer import match_entry
from assistant_builder.retrieval.index import Index, Passage, add_phrasings, open_index
from assistant_builder.retrieval.terms import IndexOptions, mine_acronyms, typed_abbreviations
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.workspace import Workspace

CONTACT = Passage(
    0,
    "How do I contact support?",
    "Email us at help@example.com or ring (202) 555-0164.",
    "g-contact",
    "pair",
    "faq.tsv",
    2,
    2,
    variants=["Who should I call for customer service?"],
)
BATTERY = Passage(
    1, "How long does the battery last?", "About ten weeks of regular use.", "g-bat", "pair"
)


def _build(tmp_path: Path, opts: IndexOptions, *passages: Passage) -> Index:
    return Index.build(tmp_path / "idx", list(passages), [], opts)


def test_source_variants_are_searched_and_counted(tmp_path: Path) -> None:
    q = "I need customer service"
    plain = _build(tmp_path, IndexOptions.none(), CONTACT, BATTERY)
    assert plain.search(q, 1).hits == []  # the title and answer share none of its words
    index = _build(tmp_path, IndexOptions(), CONTACT, BATTERY)
    m = match_entry(index, q, 0.4)
    assert m.hit is not None and m.hit.passage.group == "g-contact"
    assert m.coverage == 1.0
    # What people see of the entry is still its own question and answer.
    assert "customer" not in m.hit.passage.text
    assert "variants" not in m.hit.passage.source_json()


def test_options_travel_with_the_index_and_an_old_index_reads_as_none(tmp_path: Path) -> None:
    opts = IndexOptions(title_weight=2, variants=False, phrasings=True)
    _build(tmp_path, opts, CONTACT, BATTERY)
    loaded = Index.load(tmp_path / "idx")
    assert loaded.options == opts
    assert loaded.passages[0].variants == CONTACT.variants
    assert IndexOptions.from_meta({"version": 1}) == IndexOptions.none()


def test_abbreviation_stands_for_the_words_the_material_spells_out(tmp_path: Path) -> None:
    merge = Passage(
        0,
        "Why haven't you merged my pull request?",
        "Maintainers miss requests; rebase your pull request and leave a comment.",
        "g-merge",
        "pair",
    )
    other = Passage(1, "How do I uninstall it?", "Run the uninstall script.", "g-un", "pair")
    index = _build(tmp_path, IndexOptions(), merge, other)
    assert index.acronyms.get("pr") == ["pull", "request"]
    q = "nobody looked at my PR"
    with_abbr = index.coverage(q, merge)
    without = _build(tmp_path, IndexOptions(acronyms=False), merge, other).coverage(q, merge)
    assert with_abbr > without
    assert index.search(q, 1).hits[0].passage.group == "g-merge"
    # Written in lower case, "pr" is a word like any other: not expanded.
    assert index.coverage("nobody looked at my pr", merge) == pytest.approx(without)


def test_a_command_in_code_does_not_stop_an_abbreviation(tmp_path: Path) -> None:
    merge = Passage(
        0,
        "Why haven't you merged my pull request?",
        "Maintainers miss requests; rebase your pull request.",
        "g-merge",
        "pair",
    )
    fetch = Passage(
        1,
        "How do I try someone else's pull request?",
        "Run:\n\n```sh\ngh pr checkout 123\n```\n\nor `brew pr-pull 123`.",
        "g-fetch",
        "pair",
    )
    assert _build(tmp_path, IndexOptions(), merge, fetch).acronyms["pr"] == ["pull", "request"]
    # The same word in the prose is the material's own word: then it is not an abbreviation.
    prose = Passage(2, "What is a pr number?", "The pr number of a change.", "g-pr", "pair")
    assert "pr" not in _build(tmp_path, IndexOptions(), merge, fetch, prose).acronyms


def test_mined_abbreviations_skip_used_tied_and_conversational_ones() -> None:
    docs = [
        ["pull", "request", "merg", "pull", "request"],
        ["pleas", "read", "pleas", "read"],  # "pr" again, as often as "pull request"
        ["open", "sourc", "open", "sourc"],
        ["brew", "tap", "brew", "tap", "bt"],  # the material writes "bt" itself
    ]
    vocab = {t for d in docs for t in d}
    got = mine_acronyms(docs, vocab, skip={"pleas"})
    assert got["pr"] == ["pull", "request"]  # the tie is a conversational phrase: skipped
    assert got["os"] == ["open", "sourc"]
    assert "bt" not in got
    assert "pr" not in mine_acronyms(docs, vocab, skip=set())  # a real tie says nothing
    assert typed_abbreviations("my PRs, iOS and the OS") == {"pr", "os"}


def test_dataset_phrasings_are_attached_to_their_entry() -> None:
    p = Passage(0, "How do I pin a formula?", "Run brew pin.", "g1", "pair")
    asked = [("How do I pin a formula?", "g1"), ("how  can I pin one", "g1"), ("Other?", "g2")]
    convs = [{"messages": [{"role": "user", "content": q}], "meta": {"group": g}} for q, g in asked]
    add_phrasings([p], convs)
    assert p.phrasings == ["how can I pin one"]


def test_dataset_build_stores_variants_and_phrasings(workspace: Workspace, tmp_path: Path) -> None:
    f = tmp_path / "faq.tsv"
    f.write_text(
        "Question\tAnswer\n"
        "How do I contact support?\tEmail help@example.com.\n"
        "Who should I call for customer service?\tEmail help@example.com.\n"
        "How long does the battery last?\tAbout ten weeks.\n",
        encoding="utf-8",
    )
    ingest_paths(workspace, [f])
    build_dataset(workspace)
    index, notices = open_index(workspace)
    assert notices == [] and index.options == IndexOptions()
    contact = next(p for p in index.passages if "support" in p.title)
    assert contact.variants == ["Who should I call for customer service?"]
    assert any(p.phrasings for p in index.passages)  # the dataset's paraphrases
    m = match_entry(index, "customer service please", 0.4)
    assert m.hit is not None and m.hit.passage is contact


@pytest.mark.skipif(find_dir() is None, reason="no WordNet database (apt-get install wordnet-base)")
def test_synonyms_count_a_wordnet_synonym_as_the_word(tmp_path: Path) -> None:
    cost = Passage(0, "How much does the plan cost?", "Ten dollars a month.", "g-cost", "pair")
    q = "what is the price of the plan"
    off = _build(tmp_path, IndexOptions(), cost, BATTERY).coverage(q, cost)
    on = _build(tmp_path, IndexOptions(synonyms=True), cost, BATTERY).coverage(q, cost)
    assert on == 1.0 and off < 1.0
