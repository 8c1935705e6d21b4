"""Files nobody here wrote, in every supported format: empty, BOM-only, UTF-16 with and without
a BOM, legacy code pages and stray bytes, CR line ends, NUL and control characters, binaries
with a text extension, JSON oddities, broken CSV, pages with scripts and inline images,
broken PDFs, and things that are not files at all.

Each must end as pairs (with the good rows of the same file kept) or as a skip whose reason
names the file, and the line where there is one: never an "internal parser error".
"""

from __future__ import annotations

import base64
import codecs
import json
import os
from pathlib import Path

import pytest

from assistant_builder.errors import IngestError, UserError
from assistant_builder.events import Progress
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.sources.parsers import ParseResult, parse_file
from assistant_builder.workspace import Workspace

QA = [("How do I pay?", "By card or invoice."), ("Can I return it?", "Within 30 days.")]
GOOD = {
    ".md": "# FAQ\n\n## How do I pay?\n\nBy card or invoice.\n\n## Can I return it?\n\n"
    "Within 30 days.\n",
    ".rst": "FAQ\n===\n\nHow do I pay?\n-------------\n\nBy card or invoice.\n\n"
    "Can I return it?\n----------------\n\nWithin 30 days.\n",
    ".html": "<html><body><h1>FAQ</h1><h2>How do I pay?</h2><p>By card or invoice.</p>"
    "<h2>Can I return it?</h2><p>Within 30 days.</p></body></html>",
    ".txt": "Q: How do I pay?\nA: By card or invoice.\n\nQ: Can I return it?\nA: Within 30 days.\n",
    ".csv": "question,answer\nHow do I pay?,By card or invoice.\n"
    "Can I return it?,Within 30 days.\n",
    ".tsv": "question\tanswer\nHow do I pay?\tBy card or invoice.\n"
    "Can I return it?\tWithin 30 days.\n",
    ".json": json.dumps([{"question": q, "answer": a} for q, a in QA]),
    ".jsonl": "".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in QA),
}
FORMATS = sorted(GOOD)


def _parse(tmp_path: Path, name: str, data: bytes | str) -> ParseResult:
    f = tmp_path / name
    f.write_bytes(data.encode() if isinstance(data, str) else data)
    return parse_file(f)


def _refused(tmp_path: Path, name: str, data: bytes | str) -> IngestError:
    with pytest.raises(IngestError) as e:
        _parse(tmp_path, name, data)
    assert e.value.path.endswith(name) and "internal parser error" not in e.value.reason
    return e.value


def _pairs(r: ParseResult) -> list[tuple[str, str]]:
    return [(p.question, p.answer) for p in r.pairs]


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize(
    "data",
    [b"", b"  \n\t\n ", codecs.BOM_UTF8, codecs.BOM_UTF8 + b" \r\n", codecs.BOM_UTF16_LE],
    ids=["empty", "whitespace", "bom", "bom+whitespace", "utf16-bom"],
)
def test_empty_files_are_refused_as_empty(tmp_path: Path, ext: str, data: bytes) -> None:
    assert "empty" in _refused(tmp_path, "x" + ext, data).reason


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize(
    "encode",
    [
        lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"),
        lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
        lambda t: t.encode("utf-16-le"),
        lambda t: t.encode("utf-16-be"),
        lambda t: codecs.BOM_UTF8 + t.encode(),
        lambda t: t.replace("\n", "\r").encode(),  # classic Mac line ends
        lambda t: t.replace("\n", "\r\n", 3).encode(),  # mixed line ends
    ],
    ids=["utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf8-bom", "cr", "mixed-eol"],
)
def test_encodings_and_line_ends_read_the_same_pairs(tmp_path: Path, ext: str, encode) -> None:
    r = _parse(tmp_path, "faq" + ext, encode(GOOD[ext]))
    assert _pairs(r) == QA


@pytest.mark.parametrize("ext", FORMATS)
def test_legacy_bytes_are_read_as_windows_1252_and_said(tmp_path: Path, ext: str) -> None:
    # A few curly quotes and a euro sign in cp1252 used to be guessed as cp775 ("ōquotedö").
    text = GOOD[ext].replace("invoice", "invoice \u201cquoted\u201d \u20ac5")
    r = _parse(tmp_path, "legacy" + ext, text.encode("cp1252"))
    assert r.pairs[0].answer == "By card or invoice \u201cquoted\u201d \u20ac5."
    assert r.encoding_note is not None and "cp1252" in r.encoding_note
    # UTF-8 with a line pasted from a cp1252 file: the stray bytes used to become U+FFFD.
    mixed = GOOD[ext].encode().replace(b"30 days", "30 jours, d\xe9j\xe0".encode("cp1252"))
    mixed = mixed.replace(b"invoice", "invoice \u2014 caf\u00e9".encode())
    r = _parse(tmp_path, "mixed" + ext, mixed)
    answers = [p.answer for p in r.pairs]
    assert "By card or invoice \u2014 caf\u00e9." in answers
    assert any("d\u00e9j\u00e0" in a for a in answers), answers
    assert r.encoding_note is not None and "2 invalid byte(s)" in r.encoding_note


@pytest.mark.parametrize("ext", FORMATS)
def test_control_characters_are_removed_with_a_note(tmp_path: Path, ext: str) -> None:
    # Raw escape codes in JSON strings used to fail the whole file ("Invalid control
    # character"); elsewhere they went into the training text.
    text = GOOD[ext].replace("invoice", "invoice\x1b[31m\x07\x08")
    r = _parse(tmp_path, "ctl" + ext, text)
    assert _pairs(r) == QA
    (note,) = r.notes
    assert "control character" in note.reason and note.path.endswith("ctl" + ext)


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"How do I pay?\x00\x00By card\x00\x01\x02" * 50, "NUL"),
        (bytes(range(256)) * 40, "binary"),
        (b"\x89PNG\r\n\x1a\n" + bytes(2000), "PNG"),
        (b"PK\x03\x04" + bytes(500), "ZIP"),
    ],
    ids=["nul", "bytes", "png", "zip"],
)
def test_binary_files_with_text_extensions(tmp_path: Path, ext: str, data: bytes, says: str):
    assert says in _refused(tmp_path, "bin" + ext, data).reason


@pytest.mark.parametrize("ext", FORMATS)
def test_nul_far_into_a_text_file(tmp_path: Path, ext: str) -> None:
    data = GOOD[ext].encode() + b"\n" * 9000 + b"tail\x00tail\n"
    assert "NUL" in _refused(tmp_path, "late" + ext, data).reason


def test_json_oddities_keep_the_good_records(tmp_path: Path) -> None:
    big = "9" * 5000  # Python refuses to convert it: used to be an internal parser error
    r = _parse(tmp_path, "ids.json", f'[{{"question": "How do I pay?", "answer": "By card.", '
               f'"id": {big}}}]')  # fmt: skip
    assert _pairs(r) == [("How do I pay?", "By card.")]
    # NaN is not JSON; as an answer it used to become the text "nan".
    r = _parse(tmp_path, "nan.jsonl", '{"question": "How do I pay?", "answer": NaN}\n'
               '{"question": "Can I return it?", "answer": "Within 30 days."}\n')  # fmt: skip
    assert _pairs(r) == [QA[1]]
    assert [s.line for s in r.skipped] == [1] and "no answer" in r.skipped[0].reason
    r = _parse(tmp_path, "dup.json", '[{"question": "Old?", "question": "How do I pay?", '
               '"answer": "By card or invoice."}]')  # fmt: skip
    assert _pairs(r) == [QA[0]]  # the last of duplicate keys wins, as in every JSON reader
    for scalar in ("42", '"hello"', "null", "true", "[]", "{}"):
        r = _parse(tmp_path, "scalar.json", scalar)
        assert not r.pairs and "no question/answer records" in r.skipped[0].reason
    deep = _refused(tmp_path, "deep.json", "[" * 10_000 + "]" * 10_000)
    assert "nested deeper" in deep.reason
    r = _parse(tmp_path, "lines.jsonl", '42\n{"question": "How do I pay?", "answer": '
               '"By card or invoice."}\n{broken\n' + "[" * 5000 + "]" * 5000 + "\n")  # fmt: skip
    assert _pairs(r) == [QA[0]] and [s.line for s in r.skipped] == [1, 3, 4]
    e = _refused(tmp_path, "bad.json", '[{"question": "How do I pay?",\n "answer": ]')
    assert e.line == 2 and "invalid JSON" in e.reason


def test_csv_shapes_keep_the_good_rows(tmp_path: Path) -> None:
    r = _parse(tmp_path, "nl.csv", 'question,answer\n"How do I\npay?","By card\nor invoice."\n'
               "Can I return it?,Within 30 days.\n")  # fmt: skip
    assert _pairs(r) == [("How do I\npay?", "By card\nor invoice."), QA[1]]
    assert r.pairs[1].line_start == 5
    # An unquoted comma in the answer used to cut it short without a word.
    r = _parse(tmp_path, "ragged.csv", "question,answer\nHow do I pay?,By card, or invoice.\n"
               "lonely\nCan I return it?,Within 30 days.,\n")  # fmt: skip
    assert _pairs(r) == [("How do I pay?", "By card, or invoice."), QA[1]]
    assert [(s.line, "1 column" in s.reason) for s in r.skipped] == [(3, True)]
    assert [n.line for n in r.notes] == [2] and "joined back" in r.notes[0].reason
    r = _parse(tmp_path, "wide.csv", "question,answer\nHow do I pay?," + "y" * 1_000_000 +
               "\nCan I return it?,Within 30 days.\n")  # fmt: skip
    assert _pairs(r) == [QA[1]] and r.skipped[0].line == 2
    for name, text in (
        ("semi.csv", "question;answer\nHow do I pay?;By card or invoice.\n"
                     "Can I return it?;Within 30 days.\n"),
        ("tabs.csv", GOOD[".tsv"]),
        ("noheader.csv", "How do I pay?,By card or invoice.\nCan I return it?,Within 30 days.\n"),
        ("pipes.csv", "question|answer\nHow do I pay?|By card or invoice.\n"
                      "Can I return it?|Within 30 days.\n"),
    ):  # fmt: skip
        assert _pairs(_parse(tmp_path, name, text)) == QA, name
    # A quote opened near the end and never closed used to swallow the rows after it.
    r = _parse(tmp_path, "quote.csv", 'question,answer\nHow do I pay?,"By card\n'
               "Can I return it?,Within 30 days.\n")  # fmt: skip
    assert _pairs(r) == [QA[1]]
    assert r.skipped[0].line == 2 and "unbalanced quote" in r.skipped[0].reason


def test_pages_with_scripts_styles_and_inline_images(tmp_path: Path) -> None:
    page = (
        "<html><head><style>h2:before{content:'Why?'}</style><script>var q = "
        "'<h2>Is this a question?</h2>'; document.write(q)</script></head><body>"
        "<h2>How do I pay?</h2><p>By card or invoice.</p><script>alert('Why?')</script>"
        "<noscript>Enable JavaScript?</noscript><h2>Can I return it?</h2>"
        "<p>Within 30 days.</p></body></html>"
    )
    assert _pairs(_parse(tmp_path, "page.html", page)) == QA
    blob = base64.b64encode(os.urandom(300_000)).decode()
    img = f'<img src="data:image/png;base64,{blob}">'
    r = _parse(tmp_path, "img.html", GOOD[".html"].replace("invoice.</p>", f"invoice.{img}</p>"))
    assert _pairs(r) == QA
    md = GOOD[".md"].replace("invoice.", f"invoice. ![logo](data:image/png;base64,{blob})")
    assert _pairs(_parse(tmp_path, "img.md", md)) == QA


def _pdf(pages: int) -> bytes:
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for k, body in enumerate(objs[: 2 + pages], start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(offsets) + 1,
        xref,
    )
    return bytes(out)


def test_broken_encrypted_and_empty_pdfs(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    for name, data in (
        ("garbage.pdf", b"%PDF-1.4\n garbage \n%%EOF"),
        ("cut.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"),
        ("text.pdf", GOOD[".md"].encode()),
        ("zero.pdf", _pdf(0)),
    ):
        e = _refused(tmp_path, name, data)
        assert "PDF" in e.reason or "no text" in e.reason, e.reason
    w = PdfWriter()
    w.add_blank_page(200, 200)
    w.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    w.write(locked)
    assert "password" in _refused(tmp_path, "locked.pdf", locked.read_bytes()).reason


def test_things_that_are_not_files(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good faq ü.md").write_text(GOOD[".md"])  # spaces and non-ASCII in the name
    (folder / "loop_a").symlink_to(folder / "loop_b")
    (folder / "loop_b").symlink_to(folder / "loop_a")
    (folder / "dangling.md").symlink_to(folder / "missing.md")
    (folder / "sub").mkdir()
    (folder / "sub_link").symlink_to(folder / "sub")
    os.mkfifo(folder / "pipe.md")  # reading it would block for ever
    report = ingest_paths(workspace, [folder])
    assert report.documents == 1 and report.pairs == 2
    reasons = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    assert "looping" in reasons["loop_a"] and "looping" in reasons["loop_b"]
    assert "broken" in reasons["dangling.md"] and "not followed" in reasons["sub_link"]
    assert "not a regular file" in reasons["pipe.md"]
    # Named directly: the pipe is refused, not read; a looping link is a user mistake.
    report = ingest_paths(workspace, [folder / "pipe.md"])
    assert "not a regular file" in report.skipped[0]["reason"]
    with pytest.raises(UserError, match="looping link"):
        ingest_paths(workspace, [folder / "loop_a"])
    with pytest.raises(IngestError, match="folder"):
        parse_file(folder / "sub")


def test_files_that_vanish_or_cannot_be_read(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.md", "b.md", "c.md"):
        (folder / name).write_text(GOOD[".md"].replace("pay", f"pay ({name})"))

    def vanish(ev: object) -> None:  # b.md goes away between listing and reading
        if isinstance(ev, Progress) and ev.message.endswith("b.md"):
            (folder / "b.md").unlink()

    real_read = Path.read_bytes

    def no_access(self: Path) -> bytes:
        if self.name == "c.md":  # what chmod 000 does (root ignores it, so patch)
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", no_access)
    report = ingest_paths(workspace, [folder], on_event=vanish)
    assert report.documents == 1
    reasons = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    assert "No such file" in reasons["b.md"] and "Permission denied" in reasons["c.md"]
