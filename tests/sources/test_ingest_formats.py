"""Each ingest format on a small fixture written for it, format detection, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant_builder.errors import IngestError
from assistant_builder.sources.parsers import SUPPORTED_EXTENSIONS, detect_format, parse_file

FIX = Path(__file__).parents[1] / "fixtures" / "ingest"


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal PDF with a real text layer: Helvetica, one ``Tj`` per line."""
    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
        for line in lines:
            esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({esc}) Tj T*")
        stream = "\n".join([*ops, "ET"]).encode("latin-1")
        objs.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for k, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


PDF_PAGES = [
    ["Lumen Lamp FAQ", "", "Q: What is a Lumen lamp?", "A: A battery powered smart lamp you",
     "control from your phone.", "", "Q: How long does the battery last?",
     "A: About 10 to 12 weeks.", "Lumen Lamp FAQ - Page 1"],
    ["Q: Why does my lamp blink red?", "A: It lost its Wi-Fi connection. Restart the",
     "router and then the lamp.", "Lumen Lamp FAQ - Page 2"],
    ["Q: Can I use it outdoors?", "A: No.", "Lumen Lamp FAQ - Page 3"],
]  # fmt: skip


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_kramdown_front_matter_bold_and_details() -> None:
    r = parse_file(FIX / "kramdown_faq.md", display_path="help/kramdown_faq.md")
    qs = [p.question for p in r.pairs]
    assert qs == [
        "How do I pair my lamp?",
        "Can two phones control one lamp?",
        "Lamp blinks red",  # symptom heading with text on an FAQ page
        "Why is my lamp warm?",  # <details><summary>
        "What if nothing helps?",
        "Contact",
    ]
    pair = r.pairs[0]
    assert pair.answer == "Open the app and tap *Add device*.\nKeep the phone close & wait."
    assert (pair.line_start, pair.line_end) == (16, 18)
    assert pair.source == "help/kramdown_faq.md"
    assert pair.extra["heading_path"] == ["Lumen Help", "Setup"]  # front matter title
    assert r.pairs[1].answer.startswith("Yes, invite")  # "A:" marker removed
    assert "1. Restart the router." in r.pairs[2].answer
    warm = r.pairs[3]
    assert warm.answer == "LEDs give off a little heat; up to 40 °C is normal."
    assert warm.line_start == 35
    assert [s.text for s in r.sections] == ["Intro text for the help page."]
    for p in r.pairs:
        for bad in ("{:", "<br", "&amp;", "<!--", "<details", "TOC"):
            assert bad not in p.answer


def test_markdown_without_questions_gives_sections(tmp_path: Path) -> None:
    f = tmp_path / "guide.md"
    f.write_text(
        "Setup guide\n===========\n\nIntro.\n\nInstall\n-------\n\nRun it:\n\n"
        "    ./install.sh\n\n## Configure\n\n- one\n- two\n"
    )
    r = parse_file(f)
    assert r.pairs == []
    assert [s.heading_path for s in r.sections] == [
        ["Setup guide"],
        ["Setup guide", "Install"],
        ["Setup guide", "Configure"],
    ]
    assert r.sections[1].text == "Run it:\n\n```\n./install.sh\n```"
    assert (r.sections[1].line_start, r.sections[1].line_end) == (6, 11)


def test_markdown_question_heading_without_answer_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "faq.md"
    f.write_text("# FAQ\n\n## What is it?\n\n## How much is it?\n\nFree.\n")
    r = parse_file(f)
    assert [p.question for p in r.pairs] == ["How much is it?"]
    assert len(r.skipped) == 1 and r.skipped[0].line == 3
    assert "no answer" in r.skipped[0].reason


# --- reStructuredText -------------------------------------------------------------------------


def test_rst_sphinx_faq() -> None:
    r = parse_file(FIX / "sphinx_faq.rst")
    assert r.format == "rst"
    assert [p.question for p in r.pairs] == [
        "What is Lumen?",
        "Why is it called Lumen?",
        "How do I install Lumen?",
        "Which Python versions are supported?",
    ]
    what, why, install, versions = r.pairs
    assert what.answer == (
        "Lumen is a smart-lamp toolkit. See the install guide and\n"
        "quickstart for details. The core class is `Lamp`."
    )
    assert what.extra["heading_path"] == ["General Lumen FAQ", "General Information"]
    assert (what.line_start, what.line_end) == (16, 20)
    assert "[Wikipedia](https://en.wikipedia.org/wiki/Lumen_(unit))" in why.answer
    assert "**Note:** The name has nothing to do with the Lumen PHP framework." in why.answer
    assert "Use pip:\n\n```\npip install lumen\nlumen --version\n```" in install.answer
    assert '```python\nimport lumen\nlamp = lumen.connect("kitchen")' in install.answer
    assert ":linenos:" not in install.answer
    assert "see PEP 619. Use `python -m lumen doctor`" in versions.answer
    assert "usage/index" not in versions.answer and "toctree" not in versions.answer
    for p in r.pairs:
        assert ":ref:" not in p.answer and ":class:" not in p.answer and ".. " not in p.answer


def test_txt_that_is_rst_is_sniffed() -> None:
    r = parse_file(FIX / "rst_in_disguise.txt")
    assert r.format == "rst"
    assert [p.question for p in r.pairs] == [
        "Why does `lumen scan` find nothing?",
        "How do I update the firmware?",
    ]
    assert "`lumen doctor`" in r.pairs[0].answer
    assert r.pairs[1].answer.endswith("**Warning:** Do not unplug the lamp during the update.")


# --- HTML ----------------------------------------------------------------------------------


def test_html_help_centre_page() -> None:
    r = parse_file(FIX / "helpcentre.html")
    assert r.format == "html"
    assert [p.question for p in r.pairs] == [
        "How do I pair my lamp with the app?",
        "What does the blinking red light mean?",
        "Can I reset the lamp from the command line?",
        "Why is my lamp warm?",  # dt/dd
        "Is the lamp waterproof?",
        "Where can I download the manual?",  # details/summary
    ]
    pair, blink, reset, warm, _, manual = r.pairs
    assert pair.answer == (
        "Open the app, tap **Add device** and hold the lamp's button for 5 seconds.\n\n"
        "- Bluetooth must be on.\n- Stay within 3 m of the lamp."
    )
    assert pair.line_start == 20
    assert blink.answer.endswith("Check your router & restart the lamp.")
    assert reset.answer.endswith("```sh\nlumen reset --device <id>\nlumen status\n```")
    assert warm.answer == "LEDs produce a little heat; up to 40°C is normal."
    assert manual.answer == "From the [manual page](https://example.com/manual.pdf)."
    # nav, cookie banner, sidebar, footer and the "helpful?" widget are gone
    everything = " ".join([p.answer for p in r.pairs] + [s.text for s in r.sections])
    for chrome in ("cookies", "Shop", "Related", "2024 Lumen", "helpful", "How do I buy"):
        assert chrome not in everything
    assert [s.text for s in r.sections] == ["Answers to the questions our support team hears most."]


def test_html_fragment_and_json_ld(tmp_path: Path) -> None:
    frag = tmp_path / "snippet.html"
    frag.write_text(
        "<h3>Is shipping free?</h3><p>Yes, over 50&nbsp;&euro;.</p>"
        "<ul><li><strong>Can I return it?</strong> Within 30 days.</li>"
        "<li><b>Do you ship abroad?</b> To the EU only.</li></ul>"
    )
    r = parse_file(frag)
    assert [(p.question, p.answer) for p in r.pairs] == [
        ("Is shipping free?", "Yes, over 50 €."),
        ("Can I return it?", "Within 30 days."),
        ("Do you ship abroad?", "To the EU only."),
    ]
    ld = tmp_path / "ld.html"
    ld.write_text(
        '<html><head><script type="application/ld+json">{"@context":"https://schema.org",'
        '"@type":"FAQPage","mainEntity":[{"@type":"Question","name":"Where is my order?",'
        '"acceptedAnswer":{"@type":"Answer","text":"<p>See <b>Orders</b>.</p>"}}]}</script>'
        "</head><body><div id='app'></div></body></html>"
    )
    r = parse_file(ld)
    assert [(p.question, p.answer) for p in r.pairs] == [("Where is my order?", "See **Orders**.")]


# --- plain text and PDF ----------------------------------------------------------------------


def test_plain_text_faq_with_table_of_contents() -> None:
    r = parse_file(FIX / "plain_faq.txt")
    assert r.format == "text"
    assert r.skipped == []
    assert [p.question for p in r.pairs] == [  # the TOC adds no duplicates
        "What is a Lumen lamp?",
        "How long does the battery last?",
        "Why does my lamp blink red?",
        "How do I reset the lamp?",
        "Can I use the lamp outdoors?",
    ]
    first = r.pairs[0]
    assert first.answer == (
        "A Lumen lamp is a battery powered smart lamp that you control from your phone or "
        "with your voice."
    )
    assert (first.line_start, first.line_end) == (17, 20)
    assert first.extra["heading_path"] == ["General"]
    assert "```\nlumen reset --all\n```" in r.pairs[3].answer
    assert r.pairs[4].answer == "No, it is for indoor use only."


def test_pdf_text_layer_with_pages(tmp_path: Path) -> None:
    f = tmp_path / "lamp.pdf"
    f.write_bytes(make_pdf(PDF_PAGES))
    r = parse_file(f)
    assert r.format == "pdf"
    assert [(p.question, p.page) for p in r.pairs] == [
        ("What is a Lumen lamp?", 1),
        ("How long does the battery last?", 1),
        ("Why does my lamp blink red?", 2),
        ("Can I use it outdoors?", 3),
    ]
    assert r.pairs[0].answer == "A battery powered smart lamp you control from your phone."
    assert r.pairs[1].answer == "About 10 to 12 weeks."  # running footer removed
    assert r.pairs[2].answer.endswith("Restart the router and then the lamp.")


def test_pdf_without_extension_is_sniffed_and_broken_pdf_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "download"
    f.write_bytes(make_pdf(PDF_PAGES))
    assert parse_file(f).format == "pdf"
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(make_pdf(PDF_PAGES)[:200])
    with pytest.raises(IngestError):
        parse_file(bad)
    blank = tmp_path / "scan.pdf"
    blank.write_bytes(make_pdf([[]]))
    with pytest.raises(IngestError, match="no text layer"):
        parse_file(blank)


# --- CSV / JSON ------------------------------------------------------------------------------


def test_csv_bom_multiline_repeated_header_and_broken_rows() -> None:
    r = parse_file(FIX / "lamp_faq.csv")
    assert r.format == "csv"
    assert [p.question for p in r.pairs] == [
        "How do I reset the lamp?",
        "What colours can it show?",
        "Does it work with Alexa?",
        "Is there a warranty?",
    ]
    reset = r.pairs[0]
    assert reset.variants == ["Reset lamp"]
    assert reset.answer == "Hold the button for 10 seconds.\nThen run:\n\n```\nlumen reset\n```"
    assert (reset.line_start, reset.line_end) == (2, 13)
    assert r.pairs[1].answer == '16 million colours, including "warm white".'
    assert r.pairs[2].answer == "Yes.\nEnable the Lumen skill first."  # literal \n
    assert r.pairs[2].line_start == 16
    assert [(s.line, s.reason.split(":")[0]) for s in r.skipped] == [
        (17, "row has an empty answer"),
        (18, "row has 1 column(s); question/answer need 2"),
        (19, "row has an empty question"),
    ]


def test_csv_without_header_and_unbalanced_quote(tmp_path: Path) -> None:
    f = tmp_path / "kb.csv"
    f.write_text(
        "How do I log in?,Use your email address and the password you chose.\n"
        '"Why is the app slow?,Close other apps first.\n'
        "Where are my files?,In the Documents folder.\n"
        "What is the fee?,There is no fee.\n"
        "How do I log out?,Tap your avatar and choose Log out.\n"
        "Can I export?,Yes, as CSV.\n"
    )
    r = parse_file(f)
    assert [p.question for p in r.pairs] == [
        "How do I log in?",
        "Where are my files?",
        "What is the fee?",
        "How do I log out?",
        "Can I export?",
    ]
    assert [(s.line, "quote" in s.reason) for s in r.skipped] == [(2, True)]


def test_jsonl_openai_messages() -> None:
    r = parse_file(FIX / "chat_messages.jsonl")
    assert r.format == "jsonl"
    assert [(p.question, p.line_start) for p in r.pairs] == [
        ("How do I pair my lamp?", 1),
        ("Is the lamp dimmable?", 2),
        ("To what level?", 2),
        ("What does the blue light mean?", 6),
    ]
    assert r.pairs[0].extra["system"] == "You are Lumen's support bot."
    assert r.pairs[1].answer == 'Yes:\n\n- drag the slider\n- or say "dim"'
    assert r.pairs[2].extra["turn"] == 1
    assert [s.line for s in r.skipped] == [3, 4]
    assert "invalid JSON" in r.skipped[0].reason


def test_sharegpt_json() -> None:
    r = parse_file(FIX / "sharegpt.json")
    assert [(p.question, p.line_start) for p in r.pairs] == [
        ("Can I schedule the lamp?", 5),
        ("Does it need Wi-Fi?", 13),
    ]
    assert "```\nlumen schedule add 07:00 on\n```" in r.pairs[0].answer
    assert r.pairs[1].extra["system"] == "Be brief."


def test_json_shapes(tmp_path: Path) -> None:
    qna_maker = tmp_path / "kb.json"
    qna_maker.write_text(
        '{"qnaDocuments": [{"id": 1, "answer": "Press <b>Start</b>.<br>Then wait.",'
        ' "questions": ["How do I begin?", "Start how?"]}]}'
    )
    r = parse_file(qna_maker)
    assert [(p.question, p.variants, p.answer) for p in r.pairs] == [
        ("How do I begin?", ["Start how?"], "Press **Start**.\nThen wait.")
    ]
    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text('[{"instruction": "What is 2+2?", "input": "", "output": "4"}]')
    assert [(p.question, p.answer) for p in parse_file(alpaca).pairs] == [("What is 2+2?", "4")]
    flat = tmp_path / "flat.json"
    flat.write_text('{"Is it free?": "Yes.", "Can I cancel?": "Any time."}')
    assert len(parse_file(flat).pairs) == 2
    broken = tmp_path / "broken.json"
    broken.write_text('{"qna": [\n  {"q": ["x"], "a": "y"},\n  oops\n]}')
    with pytest.raises(IngestError) as err:
        parse_file(broken)
    assert err.value.line == 3 and "invalid JSON" in err.value.reason


# --- detection and bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "head", "fmt"),
    [
        ("a.md", "# Title", "markdown"),
        ("a.txt", "Title\n=====\n\nSub\n---\n\n.. note:: x", "rst"),
        ("a.txt", "Just some words.\nMore words?", "text"),
        ("README", "<!DOCTYPE html><html><body><p>x</p>", "html"),
        ("a.csv", "q\ta\nx\ty\n", "tsv"),
        ("a.tsv", "q\ta\n", "tsv"),
        ("a.json", '{"a": 1}\n{"a": 2}\n', "jsonl"),
        ("a.json", '{\n  "qna": []\n}', "json"),
        ("a.jsonl", '{"a": 1}', "jsonl"),
        ("x.bin", "%PDF-1.7", "pdf"),
    ],
)
def test_detect_format(name: str, head: str, fmt: str) -> None:
    assert detect_format(Path(name), head) == fmt


def test_supported_extensions() -> None:
    assert {".md", ".rst", ".txt", ".html", ".pdf", ".csv", ".tsv", ".json", ".jsonl"} <= (
        SUPPORTED_EXTENSIONS
    )


def test_bad_files_raise_ingest_error_with_reason(tmp_path: Path) -> None:
    cases = {
        "empty.md": (b"", "empty"),
        "blank.txt": (b"  \n\n", "empty"),
        "image.md": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG"),
        "nul.txt": (b"abc\x00def\x00" * 20, "not a text file"),
        "doc.docx": (b"PK\x03\x04rest", "ZIP"),
        "notes.xyz": (b"hello", "unsupported file type"),
    }
    for name, (data, reason) in cases.items():
        f = tmp_path / name
        f.write_bytes(data)
        with pytest.raises(IngestError, match=reason) as err:
            parse_file(f, display_path=f"in/{name}")
        assert err.value.path == f"in/{name}"
    with pytest.raises(IngestError, match="cannot read"):
        parse_file(tmp_path / "missing.md")


def test_large_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant_builder.sources.parsers import textio

    f = tmp_path / "big.txt"
    f.write_text("Is it big?\n\nYes.\n" * 100)
    monkeypatch.setattr(textio, "MAX_BYTES", 1000)
    with pytest.raises(IngestError, match="too large"):
        parse_file(f)


def test_legacy_encodings_are_detected(tmp_path: Path) -> None:
    text = "# FAQ\n\n## Où est la gare ?\n\nÀ côté du café, très près.\n"
    for enc in ("cp1252", "utf-16"):
        f = tmp_path / f"faq-{enc}.md"
        f.write_bytes(text.encode(enc))
        r = parse_file(f)
        assert [p.question for p in r.pairs] == ["Où est la gare ?"]
        assert r.pairs[0].answer == "À côté du café, très près."


def test_committed_pdf_fixture_matches_generator() -> None:
    # tests/fixtures/ingest/lamp_faq.pdf (used by the fuzz tests) is make_pdf(PDF_PAGES)
    assert (FIX / "lamp_faq.pdf").read_bytes() == make_pdf(PDF_PAGES)


def test_html_accordion_buttons_and_question_classes(tmp_path: Path) -> None:
    f = tmp_path / "support.html"
    f.write_text(
        "<html><head><title>Support</title></head><body><main>\n"
        "<h2>Frequently asked questions</h2>\n"
        '<div class="faq-item"><button class="accordion">How do I cancel my plan?</button>\n'
        '<div class="panel"><p>Go to <em>Billing</em> and press Cancel.</p></div></div>\n'
        '<div class="faq-item"><div class="faq-question">Can I get a refund?</div>\n'
        '<div class="faq-answer"><p>Within 14 days.</p><ul><li>Email us</li></ul></div></div>\n'
        "</main></body></html>\n"
    )
    r = parse_file(f)
    assert [(p.question, p.answer, p.line_start) for p in r.pairs] == [
        ("How do I cancel my plan?", "Go to *Billing* and press Cancel.", 3),
        ("Can I get a refund?", "Within 14 days.\n\n- Email us", 5),
    ]


def test_markdown_bold_questions_in_a_list(tmp_path: Path) -> None:
    f = tmp_path / "notes.md"
    f.write_text(
        "# Notes\n\nSome intro.\n\n1. **How do I start?**\n   Run `go` and wait.\n"
        "2. **Where are logs?**\n   In `/var/log/app`:\n\n       tail -f app.log\n"
    )
    r = parse_file(f)
    assert [(p.question, p.answer, p.line_start, p.line_end) for p in r.pairs] == [
        ("How do I start?", "Run `go` and wait.", 5, 6),
        ("Where are logs?", "In `/var/log/app`:\n\n```\ntail -f app.log\n```", 7, 10),
    ]
    assert [s.text for s in r.sections] == ["Some intro."]
