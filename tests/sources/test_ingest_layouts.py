"""FAQ layouts as real sites and exports publish them (tests/fixtures/ingest/layouts/), each
checked for the pairs a person would pick out: the questions, whole answers, provenance."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ingest_formats import make_pdf

from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.sources.parsers import Pair, parse_file

LAYOUTS = Path(__file__).parents[1] / "fixtures" / "ingest" / "layouts"

# fixture file -> the questions, in order (first question of each pair)
EXPECTED: dict[str, list[str]] = {
    "details_accordion.html": [
        "How big can my parcel be?", "Can I send batteries?", "What happens if nobody is home?"],
    "definition_list.html": [
        "Who can get a library card?", "How much does a card cost?", "Lost cards"],
    "headings_sections.html": [
        "How do I invite a teammate?", "Can I change my username?", "Which plans are there?",
        "How do I export my invoices?"],
    "jsonld_faqpage.html": [
        "How long do I have to return an item?", "Are returns free?",
        "When will I get my refund?"],
    "microdata.html": ["Do I need to book in advance?", "Is a helmet included", "Deposit"],
    "bold_paragraphs.html": [
        "What are the opening hours?", "Do I need a swim cap?", "Can children swim alone?",
        "Lockers"],
    "zendesk_article.html": [
        "How long does delivery take?", "Do you ship internationally?",
        "How do I track my order?"],
    "zendesk_articles.json": [
        "How do I reset my password?", "Two-factor authentication",
        "How long does delivery take?", "Do you ship internationally?"],
    "intercom_articles.json": ["Can I pause my subscription?", "Changing your delivery day"],
    "freshdesk_articles.json": [
        "Why does my thermostat go offline?", "Resetting the thermostat to factory settings"],
    "categories.md": [
        "How do I connect the router to my modem?", "What is the default Wi-Fi password?",
        "Why is my internet slow?", "Can I update the firmware myself?"],
    "q_a_lines.md": ["Do you take walk-ins?", "Which animals do you treat?", "How do I pay?"],
    "numbered.md": [
        "How do I register for a course?", "Can I get a refund?",
        "Where do the classes take place?"],
    "help_faq_bold.md": ["Resetting your password", "Changing your plan", "Deleting your account"],
    "statement_headings.md": ["Resetting your password", "Changing your plan", "Data export"],
    "setext.md": [
        'Why does the printer say "paper jam" when there is no paper stuck?',
        "How do I print on both sides?"],
    "html_in_markdown.md": [
        "Does the plugin work offline?", "Which editors are supported?",
        "Where are settings stored?"],
    "sections.rst": [
        "What does the backup include?", "How often does it run?",
        "Can I restore a single file?"],
    "topics.rst": ["Where does the shuttle stop?", "How often does it run?", "Is it free?"],
    "deflist.rst": [
        "Is there Wi-Fi at the venue?", "Can I get a refund on my ticket?", "Where can I park?"],
    "numbered_faq.txt": [
        "What time is check-in?", "Are campfires allowed?",
        "Can we bring our own electric hook-up cable?"],
    "excel_semicolon_bom.csv": [
        "Wie lange dauert der Versand?", "Kann ich per Rechnung zahlen?",
        "Wie erreiche ich den Kundenservice?"],
    "prompt_response.csv": [
        "What is the warranty period?", "Does the warranty cover water damage?"],
    "title_body.csv": ["How do I change my delivery address?", "Gift wrapping"],
    "faq_question_answer.csv": ["Can I bring my dog?", "Is there a kids menu?"],
    "query_reply.tsv": ["how do i cancel my booking", "is breakfast included"],
    "alternates.csv": ["How do I reset my PIN?", "What are your opening hours?"],
    "input_output.jsonl": ["How do I enable dark mode?", "Can I sync across devices?"],
    "instruction_output.jsonl": [
        "Explain how to reset the router.", "What does a blinking red light mean?"],
    "nested_faqs.json": ["Do you deliver on Sundays?", "Can I choose a delivery slot?"],
    "categories.json": [
        "Can I freeze my membership?", "Is there a joining fee?", "Do I need to book classes?"],
    "short_keys.json": ["Where is the lost and found?", "Is there a cloakroom?"],
}  # fmt: skip


def _pairs(name: str) -> list[Pair]:
    return parse_file(LAYOUTS / name).pairs


def _by_question(name: str) -> dict[str, Pair]:
    return {p.question: p for p in _pairs(name)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layout_questions(name: str) -> None:
    pairs = _pairs(name)
    assert [p.question for p in pairs] == EXPECTED[name]
    for p in pairs:
        assert p.answer.strip() and p.answer == p.answer.strip()
        for debris in ("<p", "<div", "</", "&amp;", "&euro;", "A: ", "**Q"):
            assert debris not in p.answer, (p.question, p.answer)


def test_every_fixture_has_expectations() -> None:
    assert sorted(p.name for p in LAYOUTS.iterdir()) == sorted(EXPECTED)


def test_html_answers_keep_lists_tables_and_code() -> None:
    parcel = _by_question("details_accordion.html")["How big can my parcel be?"]
    assert parcel.answer.endswith(
        "- Small: up to 2 kg\n- Medium: up to 10 kg\n- Large: up to 30 kg"
    )
    batteries = _by_question("details_accordion.html")["Can I send batteries?"]
    assert batteries.answer.endswith("Loose batteries are refused at the counter.")
    desk = _by_question("headings_sections.html")
    assert "1. Enter their email address." in desk["How do I invite a teammate?"].answer
    assert desk["How do I invite a teammate?"].answer.endswith("expires after 7 days.")
    assert "| Team | 50 | $8/seat |" in desk["Which plans are there?"].answer
    invoices = desk["How do I export my invoices?"]
    assert "```bash\ncurl -H" in invoices.answer
    assert "**Note for accountants**" in invoices.answer  # an h4 inside the answer stays in it
    assert invoices.extra["heading_path"][-1] == "Billing"  # the category is context
    card = _by_question("definition_list.html")["How much does a card cost?"]
    assert card.answer == "Cards are free for residents.\n\nNon-residents pay **$25 a year**."


def test_html_chrome_and_page_furniture_stay_out() -> None:
    for name in ("details_accordion.html", "zendesk_article.html"):
        text = " ".join(p.answer for p in _pairs(name))
        for chrome in ("cookies", "All rights reserved", "helpful", "Related", "Facebook"):
            assert chrome not in text
    track = _by_question("zendesk_article.html")["How do I track my order?"]
    assert track.answer.endswith("3. Click **Track** next to the order.")


def test_microdata_and_bold_paragraph_pages() -> None:
    helmet = _by_question("microdata.html")["Is a helmet included"]
    assert helmet.answer == (
        "Yes. Every rental includes a helmet and a lock.\n\nChild seats cost €5 per day extra."
    )
    pool = _by_question("bold_paragraphs.html")
    assert pool["Can children swim alone?"].answer == (
        "Children under 12 must be accompanied by an adult in the water."
    )
    hours = pool["What are the opening hours?"]
    assert hours.answer.endswith("Hours change on public holidays.")
    assert (hours.line_start, hours.line_end) == (4, 6)  # each paragraph keeps its own line
    assert pool["Lockers"].answer.startswith("Lockers take a €1 coin")


def test_json_ld_pairs_point_at_their_lines() -> None:
    pairs = _pairs("jsonld_faqpage.html")
    assert [p.line_start for p in pairs] == [12, 20, 28]
    assert all(p.extra["from"] == "json-ld" for p in pairs)
    assert pairs[2].answer.endswith("- Gift cards: as store credit")


def test_help_centre_article_exports() -> None:
    reset = _by_question("zendesk_articles.json")["How do I reset my password?"]
    assert reset.answer.endswith("3. Choose a new password.")
    assert reset.line_start == 17
    assert reset.extra["htmlurl"].startswith("https://northwind.zendesk.com/hc/")
    # an article whose body is an FAQ of its own: one pair per question, the title as context
    shipping = _by_question("zendesk_articles.json")["Do you ship internationally?"]
    assert shipping.answer == (
        "We ship to the EU, the UK and Norway.\n\n- Customs fees are paid by the recipient."
    )
    assert shipping.extra["heading_path"] == ["Shipping questions"]
    assert shipping.line_start == 38
    r = parse_file(LAYOUTS / "intercom_articles.json")
    assert [s.reason for s in r.skipped] == ["unpublished (draft) article: 'Draft: new pricing'"]
    pause = _by_question("intercom_articles.json")["Can I pause my subscription?"]
    assert pause.answer.endswith("Your data is kept while paused.")  # body, not description
    offline = _by_question("freshdesk_articles.json")["Why does my thermostat go offline?"]
    assert offline.answer.endswith("- Move the router closer, or\n- add a Wi-Fi extender.")


def test_markdown_layouts_keep_answers_whole() -> None:
    router = _by_question("categories.md")
    slow = router["Why is my internet slow?"]
    assert slow.extra["heading_path"] == ["Acme Router Help", "Troubleshooting"]
    assert slow.answer.count("\n") == 2 and slow.answer.startswith("1. Restart the router.")
    fw = router["Can I update the firmware myself?"]
    assert fw.answer.endswith("The router restarts when it is done.")
    assert "```sh\nacme-cli firmware --update\n```" in fw.answer
    pay = _by_question("q_a_lines.md")["How do I pay?"]
    assert pay.answer == "We accept:\n- cards\n- cash\n- pet insurance direct billing"
    course = _by_question("numbered.md")["How do I register for a course?"]
    assert course.answer.startswith("Create an account") and "Enrolment closes" in course.answer
    assert (course.line_start, course.line_end) == (3, 6)
    offline = _by_question("html_in_markdown.md")["Does the plugin work offline?"]
    assert '```json\n{"checkUpdates": false}\n```' in offline.answer


def test_rst_topics_and_definition_lists() -> None:
    often = _by_question("topics.rst")["How often does it run?"]
    assert often.answer == (
        "Every 20 minutes between 07:00 and 19:00.\n\nOn weekends it runs every 40 minutes."
    )
    assert (often.line_start, often.line_end) == (8, 12)
    park = _by_question("deflist.rst")["Where can I park?"]
    assert park.answer.endswith("- open 24 hours\n- €12 per day")
    refund = _by_question("deflist.rst")["Can I get a refund on my ticket?"]
    assert "transfer your ticket" in refund.answer


def test_rst_definition_list_of_terms_is_not_a_faq() -> None:
    from assistant_builder.sources.parsers import parse_text

    glossary = "Glossary\n========\n\nLamp\n   A light.\n\nHub\n   The bridge.\n"
    r = parse_text(glossary, "rst", "glossary.rst")
    assert r.pairs == [] and "**Lamp**" in r.sections[0].text


def test_tables_and_json_with_other_names() -> None:
    pin = _by_question("alternates.csv")["How do I reset my PIN?"]
    assert pin.variants == ["Forgot PIN", "I forgot my PIN code", "PIN reset"]
    assert _by_question("alternates.csv")["What are your opening hours?"].variants == [
        "When are you open?", "Opening times"]  # fmt: skip
    address = _by_question("title_body.csv")["How do I change my delivery address?"]
    assert address.answer == (
        "Open **Orders**, choose the order and click *Change address*.\n\n"
        "This is possible until the order ships."
    )
    invoice = _by_question("excel_semicolon_bom.csv")["Kann ich per Rechnung zahlen?"]
    assert invoice.answer.endswith("bitte per Karte oder PayPal.")
    assert invoice.extra == {"kategorie": "Zahlung"}
    gym = _pairs("categories.json")
    assert [p.extra["heading_path"] for p in gym] == [["Membership"], ["Membership"], ["Classes"]]


def test_printed_pdf_faq_with_wrapped_numbered_questions(tmp_path: Path) -> None:
    pages = [
        ["Harbour Ferries - Frequently Asked Questions", "",
         "1. Can I take my bicycle on the ferry?",
         "Yes, bicycles travel free on all routes. Please board", "before cars.", "",
         "2. What happens to my ticket if a crossing is cancelled because of the",
         "weather?", "You can use it on any crossing within 30 days, or ask for a refund.", "",
         "Harbour Ferries | page 1"],
        ["3. Are dogs allowed on board?", "Dogs on a lead are welcome on the outside decks.",
         "", "Harbour Ferries | page 2"],
        ["4. Where do I park?", "In the terminal car park; the first hour is free.", "",
         "Harbour Ferries | page 3"],
    ]  # fmt: skip
    f = tmp_path / "ferry-faq.pdf"
    f.write_bytes(make_pdf(pages))
    pairs = parse_file(f).pairs
    assert [(p.question, p.page) for p in pairs] == [
        ("Can I take my bicycle on the ferry?", 1),
        ("What happens to my ticket if a crossing is cancelled because of the weather?", 1),
        ("Are dogs allowed on board?", 2),
        ("Where do I park?", 3),
    ]
    assert pairs[1].answer == "You can use it on any crossing within 30 days, or ask for a refund."
    assert pairs[0].answer.endswith("Please board before cars.")


def test_ingest_of_the_layouts_folder(workspace) -> None:
    report = ingest_paths(workspace, [LAYOUTS])
    assert report.pairs == sum(len(q) for q in EXPECTED.values())
    assert {s["path"].rsplit("/", 1)[-1]: s["pairs"] for s in report.sources} == {
        name: len(q) for name, q in EXPECTED.items()
    }
    assert [s["reason"] for s in report.skipped] == [
        "unpublished (draft) article: 'Draft: new pricing'"
    ]
