"""The retrieval index: passages with provenance from ingested material, BM25 search with
stemming, rebuilt by the dataset, stale after a source changes; the prompt's context budget
(passages cut or left out with a notice, the question never cut)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant_builder.dataset.build import build_dataset
from assistant_builder.errors import UserError
from assistant_builder.retrieval.index import Index, Passage, open_index, passages_from_items
from assistant_builder.retrieval.prompt import (
    INSTRUCTION,
    fit_passages,
    passage_budget,
    render,
)
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.workspace import Workspace

FAQ = """# FAQ

## How do I pin a formula?

Run `brew pin` on the formula; it is then skipped by upgrades until you unpin it.

## How do I uninstall Homebrew?

Run the official uninstall script from the install repository.

## Why does Homebrew refuse to run with sudo?

Running as root is unsafe, so Homebrew refuses it and asks you to run as your own user.
"""


def _ingest(ws: Workspace, tmp_path: Path, text: str = FAQ) -> Path:
    f = tmp_path / "faq.md"
    f.write_text(text, encoding="utf-8")
    ingest_paths(ws, [f])
    return f


def test_dataset_builds_an_index_with_provenance(workspace: Workspace, tmp_path: Path) -> None:
    _ingest(workspace, tmp_path)
    report = build_dataset(workspace)
    assert report.to_json()["index"] == {"passages": 3}
    index, notices = open_index(workspace)
    assert notices == []
    p = index.passages[0]
    assert p.title == "How do I pin a formula?" and "brew pin" in p.body
    assert p.source and p.source.endswith("faq.md") and p.line_start == 3
    assert p.where().endswith(f"faq.md:{p.line_start}-{p.line_end}")
    # The passage's group is the training rows' answer group: RAFT rows find their passage.
    groups = {r["meta"]["group"] for r in _rows(workspace)}
    assert {q.group for q in index.passages} == groups


def _rows(ws: Workspace) -> list[dict]:
    from assistant_builder.workspace import read_jsonl

    return list(read_jsonl(ws.dataset_dir / "conversations.jsonl"))


def test_search_stems_and_ranks(workspace: Workspace, tmp_path: Path) -> None:
    _ingest(workspace, tmp_path)
    build_dataset(workspace)
    index, _ = open_index(workspace)
    hits = index.search("stop brew from upgrading a pinned package", k=2).hits
    assert hits[0].passage.title == "How do I pin a formula?"
    assert len(hits) <= 2 and all(h.score > 0 for h in hits)
    # k above the number of passages is not an error.
    assert len(index.search("homebrew", k=50).hits) <= 3


def test_question_that_retrieves_nothing_says_so(workspace: Workspace, tmp_path: Path) -> None:
    _ingest(workspace, tmp_path)
    build_dataset(workspace)
    index, _ = open_index(workspace)
    for q in ("the and of", "zzzz qqqq", ""):
        result = index.search(q)
        assert result.hits == [] and result.notices, q


def test_stale_after_a_source_changes(workspace: Workspace, tmp_path: Path) -> None:
    f = _ingest(workspace, tmp_path)
    build_dataset(workspace)
    f.write_text(FAQ.replace("official uninstall script", "uninstall.sh script"))
    ingest_paths(workspace, [f])
    index, notices = open_index(workspace)
    assert any("stale" in n and "assistant-builder dataset" in n for n in notices)
    assert index.search("uninstall").hits  # still answers meanwhile
    build_dataset(workspace)
    assert open_index(workspace)[1] == []


def test_missing_and_empty_index(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="assistant-builder dataset"):
        open_index(workspace)
    empty = Index.build(tmp_path / "idx", [], [])
    assert empty.search("anything").notices == [
        "the retrieval index is empty: answering without passages"
    ]
    assert Index.load(tmp_path / "idx").passages == []


def test_sections_and_urls_become_passages() -> None:
    items = [
        {"kind": "section", "heading_path": ["Guide", "Sync"], "text": "Sync runs every "
         "five minutes while the app is open, and on demand.", "source": "g.md", "page": 4},
        {"kind": "section", "heading_path": ["Tiny"], "text": "short", "source": "g.md"},
        {"kind": "pair", "question": "Q?", "answer": "A long enough answer.", "source": "p.html",
         "extra": {"url": "https://example.org/faq#q"}},
    ]  # fmt: skip
    ps = passages_from_items(items)
    assert [p.kind for p in ps] == ["section", "pair"]
    assert ps[0].title == "Guide / Sync" and ps[0].where() == "g.md page 4"
    assert ps[1].where() == "https://example.org/faq#q"
    assert ps[1].source_json()["where"] == "https://example.org/faq#q"


def test_long_passages_are_cut_with_a_notice_never_the_question() -> None:
    long = "word " * 400
    fitted = fit_passages([long, "second passage"], budget=100, names=["a.md:1", "b.md:2"])
    assert fitted.kept == [0] and fitted.passages[0].endswith("…")
    assert len(fitted.passages[0]) < len(long)
    assert any("a.md:1" in n and "longer than the context budget" in n for n in fitted.notices)
    assert any("b.md:2" in n and "left out" in n for n in fitted.notices)
    # Passages that fit go in whole, in order.
    ok = fit_passages(["one two", "three four"], budget=100)
    assert ok.passages == ["one two", "three four"] and ok.notices == []

    question = "why " * 900
    budget, notices = passage_budget(question, 768)
    assert budget == 0 and "answering without retrieval" in notices[0]
    assert render(question, []) == question  # the question itself goes in whole


def test_render_layouts() -> None:
    a = render("How?", ["P one", "P two"])
    assert a.startswith(INSTRUCTION) and a.endswith("Question: How?") and "[2] P two" in a
    b = render("How?", ["P one"], "question-first")
    assert b.startswith("Question: How?") and b.endswith("[1] P one")
    with pytest.raises(ValueError, match="layout"):
        render("How?", ["P"], "sideways")


def test_passage_text_and_search_after_reload(tmp_path: Path) -> None:
    ps = [Passage(0, "Title", "Body text here", "g0", "pair", "f.md", 1, 3)]
    Index.build(tmp_path / "i", ps, ["abc"])
    again = Index.load(tmp_path / "i")
    assert again.passages == ps and again.passages[0].text == "Title\nBody text here"
    assert again.search("body").hits[0].passage == ps[0]


def test_the_index_is_redacted_like_the_dataset(workspace: Workspace, tmp_path: Path) -> None:
    text = FAQ.replace("uninstall script", "uninstall script or mail jane.doe@example.org")
    _ingest(workspace, tmp_path, text)
    build_dataset(workspace)
    index, _ = open_index(workspace)
    body = next(p.body for p in index.passages if "uninstall" in p.title)
    assert "jane.doe@example.org" not in body and "<EMAIL>" in body
