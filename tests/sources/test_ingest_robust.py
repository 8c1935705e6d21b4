"""Hostile but fair input to ``ingest``: concurrent writers, killed runs' leftovers, deep
nesting, tables without questions, wrong encodings, unreadable folders, forged names, and
list-style FAQ pages with site chrome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant_builder.locks import store_lock
from assistant_builder.sources.ingest import ingest_paths, load_index
from assistant_builder.sources.parsers import parse_file
from assistant_builder.workspace import Workspace

FIX = Path(__file__).parents[1] / "fixtures" / "ingest"


def _faq_folder(folder: Path, n: int, tag: str) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{tag}{i}.md").write_text(
            f"# {tag} FAQ\n\n## How do I do {tag} thing {i}?\n\nYou do {tag} thing {i} like so.\n"
        )
    return folder


def _cli(ws: Path, *args: str, **kw: object) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "assistant_builder", *args, "--workspace", str(ws), "--json"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_ingests_lose_nothing(workspace: Workspace, tmp_path: Path) -> None:
    long = _faq_folder(tmp_path / "long", 120, "long")
    short = _faq_folder(tmp_path / "short", 3, "short")
    first = _cli(workspace.root, "ingest", str(long))
    time.sleep(0.5)
    second = _cli(workspace.root, "ingest", str(short))
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    acknowledged = sum(json.loads(out)["documents"] for out, _ in outs)
    assert acknowledged == 123
    assert len(load_index(workspace)["files"]) == 123  # every acknowledged file is recorded


def test_second_writer_says_it_waits(workspace: Workspace, tmp_path: Path) -> None:
    folder = _faq_folder(tmp_path / "f", 1, "w")
    messages: list[str] = []
    with store_lock(workspace.root, "sources"):
        t = threading.Thread(
            target=ingest_paths,
            args=(workspace, [folder]),
            kwargs={"on_event": lambda ev: messages.append(ev.message)},
        )
        t.start()
        time.sleep(1.0)
        assert t.is_alive()  # it waits for the lock holder
    t.join(30)
    assert any(m.startswith("waiting: another assistant-builder command") for m in messages)
    assert len(load_index(workspace)["files"]) == 1


def test_leftovers_of_a_killed_ingest_are_removed(workspace: Workspace, tmp_path: Path) -> None:
    items = workspace.sources_dir / "items"
    items.mkdir(parents=True)
    (items / ("ab" * 32 + ".jsonl")).write_text('{"kind": "pair"}\n')  # never indexed
    (items / ".cd.jsonl.123.tmp").write_text("half")
    (workspace.sources_dir / ".index.json.x.tmp").write_text("{")
    report = ingest_paths(workspace, [_faq_folder(tmp_path / "f", 2, "k")])
    assert report.documents == 2
    left = sorted(p.name for p in items.iterdir())
    assert len(left) == 2 and all(not n.startswith((".", "abab")) for n in left)
    assert not list(workspace.sources_dir.glob(".*.tmp"))


def test_deep_json_is_skipped_and_the_good_files_kept(workspace: Workspace, tmp_path: Path) -> None:
    folder = _faq_folder(tmp_path / "in", 2, "ok")
    (folder / "deep.json").write_text("[" * 10000 + "]" * 10000)
    (folder / "deep_obj.json").write_text('{"a":' * 10000 + "1" + "}" * 10000)
    (folder / "mixed.jsonl").write_text(
        '{"q":' * 5000 + "1" + "}" * 5000 + '\n{"question": "Is it good?", "answer": "Yes."}\n'
    )
    (folder / "deep.html").write_text("<div>" * 5000 + "What?" + "</div>" * 5000)
    (folder / "deep.md").write_text("".join("  " * i + "- item\n" for i in range(2000)))
    report = ingest_paths(workspace, [folder])
    reasons = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    assert "nested deeper" in reasons["deep.json"] and "nested deeper" in reasons["deep_obj.json"]
    assert "nested deeper" in reasons["deep.html"] and "nested deeper" in reasons["mixed.jsonl"]
    names = {Path(s["path"]).name for s in report.sources}
    assert {"ok0.md", "ok1.md", "mixed.jsonl", "deep.md"} <= names
    assert report.pairs >= 3


def test_table_without_a_question_column_is_refused(tmp_path: Path) -> None:
    for name, text in (("contacts.csv", "name,comment\nbob,hi\nal,yo\n"),
                       ("prices.tsv", "item\tprice\ntea\t4\ncup\t9\n")):  # fmt: skip
        f = tmp_path / name
        f.write_text(text)
        with pytest.raises(Exception) as e:
            parse_file(f)
        assert "no question column" in str(e.value) and name in str(e.value)
    headerless = tmp_path / "qa.csv"
    headerless.write_text("How do I pay?,By card.\nCan I return it?,Within 30 days.\n")
    assert len(parse_file(headerless).pairs) == 2
    header = tmp_path / "named.csv"
    header.write_text("Question text,Reply\nHow do I pay?,By card.\n")
    assert [p.question for p in parse_file(header).pairs] == ["How do I pay?"]


def test_encodings_guessed_are_said_and_garbage_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes("Où est le café? Le café est près de l'église, à côté.\n".encode("cp1252"))
    damaged = tmp_path / "damaged.md"
    damaged.write_bytes(
        "# FAQ\n\n## Wie geht's? ✓\n\nGut ".encode() + b"\xff" + " danke — très bien.\n".encode()
    )
    noise = tmp_path / "noise.txt"
    noise.write_bytes(bytes(range(128, 256)) * 20)
    report = ingest_paths(workspace, [legacy, damaged, noise])
    warned = {Path(w["path"]).name: w["reason"] for w in report.warnings}
    assert "guessed" in warned["legacy.txt"]
    assert "invalid byte" in warned["damaged.md"]
    skipped = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    assert "noise.txt" in skipped


def test_unreadable_subfolder_is_reported(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _faq_folder(tmp_path / "in", 1, "ok")
    locked = folder / "private"
    locked.mkdir()
    (locked / "secret.md").write_text("# FAQ\n\n## Why?\n\nBecause.\n")
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:
        if Path(str(path)) == locked:  # what a folder without read permission does (as root too)
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    report = ingest_paths(workspace, [folder])
    assert report.documents == 1
    assert any(
        s["path"] == str(locked) and "Permission denied" in s["reason"] for s in report.skipped
    )


def test_names_with_control_characters_cannot_forge_output(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    evil = folder / "x\nIngested 999 documents [bold]\x1b[31m.md"
    evil.write_text("nothing to see")  # no Q/A: reported as skipped, with its name
    (folder / "y.csv").write_text("name\nbob\n")
    p = _cli(workspace.root, "ingest", str(folder))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "Ingested 999" not in err.replace("\\nIngested 999", "")
    assert "\x1b[31m" not in err
    assert json.loads(out)["skipped"]


def test_list_style_faq_page_gives_its_questions_and_no_chrome() -> None:
    pairs = parse_file(FIX / "project_faq_list.html").pairs
    assert len(pairs) >= 21  # 23 questions on the page: at least 90 %
    chrome = ("Quick links", "Mailing lists", "Search", "Last modified", "Home", "Download")
    for p in pairs:
        assert p.question.endswith("?") or "What is wrong" in p.question, p.question
        assert p.question not in chrome, p.question
        assert "Copyright" not in p.answer and "Quick links" not in p.answer


def test_mixed_faq_page_definition_lists_details_and_bold_paragraphs() -> None:
    pairs = parse_file(FIX / "shop_faq_mixed.html").pairs
    questions = [p.question for p in pairs]
    assert len(questions) == 15
    for q in ("How should I store loose-leaf tea?", "Can I delete my account?",
              "Do you ship internationally?", "Who pays for return shipping?"):  # fmt: skip
        assert q in questions
    for chrome in ("Why do customers love us?", "Recent posts", "Newsletter", "What is oolong?"):
        assert chrome not in questions
    assert all("cookies" not in p.answer and "Subscribe" not in p.answer for p in pairs)


_FORMATS = [".md", ".rst", ".html", ".txt", ".csv", ".tsv", ".json", ".jsonl", ""]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=st.lists(st.tuples(st.sampled_from(_FORMATS), st.binary(max_size=300)),
                      min_size=1, max_size=6))  # fmt: skip
def test_every_file_of_a_folder_is_recorded_or_skipped_with_a_reason(
    tmp_path_factory: pytest.TempPathFactory, files: list[tuple[str, bytes]]
) -> None:
    """Whatever a folder holds, ingest ends normally and accounts for every file: recorded
    in the index, or skipped with a reason naming it. Nothing is silently dropped."""
    root = tmp_path_factory.mktemp("prop")
    ws = Workspace(root / "ws")
    ws.create()
    folder = root / "in"
    folder.mkdir()
    names = []
    for i, (ext, data) in enumerate(files):
        (folder / f"f{i}{ext}").write_bytes(data)
        names.append(str(folder / f"f{i}{ext}"))
    report = ingest_paths(ws, [folder])
    recorded = {s["path"] for s in report.sources}
    skipped = {s["path"] for s in report.skipped if s.get("reason")}
    assert set(names) <= recorded | skipped
    assert {e["path"] for e in load_index(ws)["files"].values()} == recorded
