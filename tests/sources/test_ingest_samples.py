"""Ingest against the real public FAQ files in ../shared/samples (skipped when absent).

Expected counts were made by reading each file: the questions a person sees, the prose
sections under headings that have text, the entries that cannot be a fixed answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant_builder.sources.parsers import parse_file

SAMPLES = next(
    (
        p / "shared" / "samples"
        for p in Path(__file__).resolve().parents
        if (p / "shared" / "samples").is_dir()
    ),
    Path("/nonexistent"),
)

pytestmark = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"real sample files not present at {SAMPLES}"
)

DEBRIS = ["{:toc}", "{:", "<br", "&amp;", "&#", "<a ", "<img", "<!--", ":ref:`", "* Table of"]


def _no_debris(text: str) -> None:
    for bad in DEBRIS:
        assert bad not in text, f"markup debris {bad!r} in: {text[:200]!r}"


def test_homebrew_faq_every_question_heading_is_a_pair() -> None:
    path = SAMPLES / "homebrew_faq_md" / "FAQ.md"
    r = parse_file(path, display_path="homebrew_faq_md/FAQ.md")
    headings = [ln[3:].strip() for ln in path.read_text().splitlines() if ln.startswith("## ")]
    assert len(headings) == 28
    assert r.format == "markdown"
    assert [p.question for p in r.pairs] == headings  # exact text, inline code kept
    assert r.sections == [] and r.skipped == []
    by_q = {p.question: p for p in r.pairs}
    # the non-"?" heading on an FAQ page is still a question
    assert "My macOS `.app`s don’t find Homebrew utilities" in by_q
    update = by_q["How do I update my local packages?"]
    assert (update.line_start, update.line_end) == (14, 30)
    assert "```sh\nbrew update\n```" in update.answer  # indented code became fenced
    assert update.source == "homebrew_faq_md/FAQ.md"
    assert update.extra["page_title"] == "FAQ (Frequently Asked Questions)"
    compile_ = by_q["Why do you compile everything?"]
    assert "* The `--build-from-source` option is invoked." in compile_.answer  # list kept
    pr = by_q["How do I get a formula from someone else’s pull request?"]
    assert "```sh\nbrew update\nbrew install gh" in pr.answer
    # relative links lose their target; absolute links stay
    assert "[bottles](Bottles.md)" not in compile_.answer and "bottles" in compile_.answer
    glossary = by_q["Is there a glossary of terms around?"]
    assert glossary.answer == "The Formula Cookbook has a list of Homebrew terminology."
    apps = by_q["How does `brew upgrade` handle apps that update themselves?"]
    assert "data-proofer" not in apps.answer and "sparkle" not in apps.answer
    for p in r.pairs:
        _no_debris(p.answer)
        assert p.answer.strip()


def test_homebrew_faq_golden_questions_are_extracted_verbatim() -> None:
    r = parse_file(SAMPLES / "homebrew_faq_md" / "FAQ.md")
    questions = {p.question for p in r.pairs}
    golden = [
        json.loads(line)
        for line in (SAMPLES / "homebrew_faq_md" / "golden.jsonl").read_text().splitlines()
        if line.strip()
    ]
    verbatim = [g["question"] for g in golden if not g["paraphrase"]]
    assert len(verbatim) == 18
    assert set(verbatim) <= questions


@pytest.mark.parametrize(
    ("name", "sections", "first_path"),
    [
        ("Common-Issues.md", 13, ["Common Issues"]),
        ("Installation.md", 9, ["Installation"]),
        ("Tips-and-Tricks.md", 18, ["Tips and Tricks", "Install previous versions of formulae"]),
        ("Troubleshooting.md", 5, ["Troubleshooting"]),
    ],
)
def test_homebrew_guides_are_prose_sections(
    name: str, sections: int, first_path: list[str]
) -> None:
    path = SAMPLES / "homebrew_guides_md" / name
    r = parse_file(path)
    assert r.pairs == []  # symptom/task headings on a guide are not questions
    assert len(r.sections) == sections
    assert r.sections[0].heading_path == first_path
    for s in r.sections:
        _no_debris(s.text)
        assert s.line_start is not None and s.line_end is not None
        assert s.line_start <= s.line_end
    # headings that have text under them are exactly the sections
    text = path.read_text()
    assert "{:toc}" in text or name != "Common-Issues.md"


def test_homebrew_guide_code_block_with_hash_lines_is_not_split() -> None:
    r = parse_file(SAMPLES / "homebrew_guides_md" / "Tips-and-Tricks.md")
    aliases = next(s for s in r.sections if s.heading_path[-1].startswith("Define aliases"))
    assert "# Add aliases\n$ brew alias ug='upgrade'" in aliases.text
    assert (aliases.line_start, aliases.line_end) == (113, 175)
    nested = next(s for s in r.sections if s.heading_path[-1] == "Vim")
    assert nested.heading_path == ["Tips and Tricks", "Editor plugins", "Vim"]


def test_qnabot_json_variants_templates_and_fallback() -> None:
    r = parse_file(SAMPLES / "qnabot_faq_json" / "blog-samples-final.json")
    assert r.format == "json"
    # 20 items: 18 fixed answers, one Handlebars template, one no_hits fallback
    assert len(r.pairs) == 18
    assert sum(1 + len(p.variants) for p in r.pairs) == 24
    reasons = [s.reason for s in r.skipped]
    assert len(reasons) == 2
    assert "Handlebars template" in reasons[0] and "What is my interaction count?" in reasons[0]
    assert "no_hits" in reasons[1]
    assert all(s.line is not None for s in r.skipped)
    by_qid = {p.extra["qid"]: p for p in r.pairs}
    admin = by_qid["Admin.001"]
    assert admin.question == "How do I modify Q and A Bot content"
    assert admin.variants == ["How can I edit items"]
    assert by_qid["Help"].variants == ["help me", "need help"]
    assert by_qid["Alexa.Cost"].extra["t"] == "EchoShow"
    for p in r.pairs:
        assert "{{" not in p.answer and p.line_start is not None
    lines = (SAMPLES / "qnabot_faq_json" / "blog-samples-final.json").read_text("utf-8-sig")
    hello_at = by_qid["BotStyle.001"].line_start
    assert hello_at is not None
    hello_line = lines.splitlines()[hello_at - 1]
    assert '"Hello"' in hello_line


def test_smartlight_basic_tsv_repeated_headers_and_shared_answers() -> None:
    r = parse_file(SAMPLES / "smartlight_faq_tsv" / "smartLightFAQ_basic.tsv")
    assert r.format == "tsv"
    assert r.skipped == []  # repeated header rows are skipped silently
    # 12 question rows; two KBs; 4 answers shared by two phrasings each... 9 distinct answers
    assert len(r.pairs) == 9
    assert sum(1 + len(p.variants) for p in r.pairs) == 12
    contact = next(p for p in r.pairs if p.answer == "Email us at service@contoso.com")
    assert contact.question == "How do I contact support?"
    assert contact.variants == ["I need help."]
    assert (contact.line_start, contact.line_end) == (6, 7)
    phone = next(p for p in r.pairs if p.question.startswith("Who should I contact"))
    assert phone.answer == "Please direct all customer service questions to (202) 555-0164"
    assert next(p for p in r.pairs if p.question == "Hi").answer == "Hello"  # shifted last row
    for p in r.pairs:
        assert "\\n" not in p.answer and p.question != "Question"


def test_smartlight_allfeatures_tsv_bom_literal_newlines_emoji() -> None:
    r = parse_file(SAMPLES / "smartlight_faq_tsv" / "smartLightFAQ_allfeatures.tsv")
    assert r.skipped == []
    assert len(r.pairs) == 9  # 9 QnaIds
    assert sum(1 + len(p.variants) for p in r.pairs) == 22
    first = r.pairs[0]
    assert first.question == "My Contoso smart light won't turn on."
    assert first.variants == ["Light won't turn on.", "Doesn't work"]
    assert first.answer.startswith("1.  The simplest way")
    assert "\n2.  Check the connection" in first.answer  # literal \n became a real newline
    assert first.extra["qnaid"] == "90"
    assert json.loads(str(first.extra["prompts"]))[0]["displayText"] == "Stopped"
    upgrade = next(p for p in r.pairs if p.extra["qnaid"] == "92")
    assert "you need to:\n\n1.  Disable Bluetooth" in upgrade.answer
    hi = next(p for p in r.pairs if p.extra["qnaid"] == "97")
    assert hi.answer == "Welcome to the **Smart lightbulb** bot. 😎"
    assert hi.extra["metadata"] == "category:chitchat"
    support = next(p for p in r.pairs if p.extra["qnaid"] == "95")
    assert support.question == "How do I contact support?"  # a real question leads
    assert len(support.variants) == 4
    assert not any(re.search(r"\u00a0| $", p.answer, re.M) for p in r.pairs)
