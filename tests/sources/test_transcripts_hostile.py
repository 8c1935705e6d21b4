"""Support transcript exports as they come from the wild: unknown roles, empty turns, HTML
bodies, attachments in every shape, text that is not text, conversations of internal notes
only, Zendesk and Intercom exports with fields missing or of the wrong type, and CSV rows
split by an unquoted delimiter. Per-file notices with lines; nothing good lost."""

from __future__ import annotations

import json
from pathlib import Path

from assistant_builder.sources.parsers import ParseResult, parse_file


def _parse(tmp_path: Path, name: str, text: str) -> ParseResult:
    f = tmp_path / name
    f.write_text(text)
    return parse_file(f)


def _convs(r: ParseResult) -> dict[str, list[tuple[str, str]]]:
    return {
        c.conversation_id: [(t["role"], t["content"]) for t in c.turns] for c in r.conversations
    }


def _reasons(r: ParseResult) -> dict[str, int | None]:
    return {s.reason.split(";")[0].split(" (")[0].split(":")[0]: s.line for s in r.skipped}


def test_generic_export_with_every_kind_of_bad_turn(tmp_path: Path) -> None:
    rows = [
        {"conversation_id": "a", "role": "customer", "text": "Where is my order?"},
        {"conversation_id": "a", "role": "wizard", "text": "Abracadabra"},
        {"conversation_id": "a", "role": "agent",
         "text": "<p>It ships <b>tomorrow</b>.</p><script>track()</script>"},
        {"conversation_id": "a", "role": "customer", "text": ""},
        {"conversation_id": "a", "role": "customer", "text": None, "attachments": [{"n": 1}]},
        {"conversation_id": "b", "role": "agent", "text": "VIP, refund quietly", "internal": True},
        {"conversation_id": "b", "role": "note", "text": "only notes in this one"},
        {"conversation_id": "c", "role": "customer", "text": "Menu?", "attachments": 5},
        {"conversation_id": "c", "role": "agent", "text": "Attached.", "attachments": "menu.pdf"},
        {"conversation_id": "d", "role": "customer",
         "text": [{"type": "text", "text": "Parts"}, "and strings?"]},
        {"conversation_id": "d", "role": "agent", "text": {"html": "<p>An object body.</p>"}},
        {"conversation_id": "d", "role": "customer", "text": {"nothing": 1}},
        {"conversation_id": "d", "role": "agent", "text": [1, [2]]},
        {"conversation_id": "d", "role": "customer", "text": 42},
        {"conversation_id": "d", "role": "agent", "text": "42 it is."},
    ]  # fmt: skip
    r = _parse(tmp_path, "export.jsonl", "".join(json.dumps(x) + "\n" for x in rows))
    convs = _convs(r)
    assert convs["a"] == [("user", "Where is my order?"), ("assistant", "It ships **tomorrow**.")]
    assert convs["c"] == [("user", "Menu?"), ("assistant", "Attached.")]
    # Text that is not text used to go in as its Python repr ("['Parts', ...]").
    assert convs["d"] == [
        ("user", "Parts\n\nand strings?"),
        ("assistant", "An object body."),
        ("user", "42"),
        ("assistant", "42 it is."),
    ]
    assert "b" not in convs
    reasons = _reasons(r)
    assert reasons["unknown author role 'wizard'"] == 2
    assert reasons["empty turn"] == 4
    assert reasons["turn with only attachments, no text"] == 5
    assert reasons["turn text is a JSON object, not text"] == 12
    assert reasons["turn text is a JSON array, not text"] == 13
    assert reasons["conversation without a customer message answered by an agent"] == 6
    assert any("2 internal notes" in s.reason for s in r.skipped)
    assert r.conversations[0].extra == {"attachments": 1}


def test_zendesk_export_with_missing_and_odd_fields(tmp_path: Path) -> None:
    doc = {
        "tickets": [
            {"id": 1, "requester_id": 10, "comments": [
                {"author_id": 10, "body": "Help?", "attachments": 3},  # a count, not a list
                {"author_id": 11, "body": "Sure.", "via": "web"},
            ]},
            {"id": 2, "comments": None},
            {"id": 3, "comments": [{"author_id": 10, "body": 42}, {"html_body": "<p>hi</p>"}]},
            {"id": 4, "requester_id": 10, "comments": [{"author_id": 10}, {"author_id": 11}]},
            "not a ticket", 5, None,
        ],
        "users": {"id": 10, "role": "end-user"},  # one object, not a list
    }  # fmt: skip
    r = _parse(tmp_path, "zendesk.json", json.dumps(doc))  # used to be an internal error
    assert _convs(r) == {"1": [("user", "Help?"), ("assistant", "Sure.")]}
    assert r.conversations[0].extra == {"attachments": 3}
    reasons = " | ".join(s.reason for s in r.skipped)
    assert "author unknown" in reasons and "empty turn" in reasons
    # Users listed without a role: the requester decides who is the customer.
    users = [{"id": 1, "role": None}, {"id": 2}]
    comments = [{"author_id": 1, "body": "Hi?"}, {"author_id": 2, "body": "Hello."}]
    doc2 = [{"ticket": {"id": 9, "requester_id": 1}, "users": users, "comments": comments}]
    assert _convs(_parse(tmp_path, "z2.json", json.dumps(doc2))) == {
        "9": [("user", "Hi?"), ("assistant", "Hello.")]
    }


def test_intercom_export_with_broken_parts(tmp_path: Path) -> None:
    doc = {
        "conversations": [
            {"id": 5, "source": {"body": "<p>Need help</p>", "author": "user"},
             "conversation_parts": "broken"},
            {"id": 6, "source": {"body": "Can I pay later?", "author": {"type": "user"}},
             "conversation_parts": {"conversation_parts": [
                 None, 3,
                 {"part_type": "comment", "body": "Yes, with an invoice.", "attachments": 2,
                  "author": {"type": "admin"}},
             ]}},
            {"id": 7, "source": {"body": "Q?", "author": {"type": "user"}},
             "conversation_parts": {"conversation_parts": [
                 {"part_type": "note", "body": "only a note", "author": {"type": "admin"}}]}},
        ]
    }  # fmt: skip
    r = _parse(tmp_path, "intercom.json", json.dumps(doc))  # used to be an internal error
    assert _convs(r) == {
        "6": [("user", "Can I pay later?"), ("assistant", "Yes, with an invoice.")]
    }
    assert any("1 internal notes" in s.reason for s in r.skipped)


def test_csv_export_rows_split_by_an_unquoted_delimiter(tmp_path: Path) -> None:
    text = (
        "conversation_id,author_type,message\n"
        'c1,customer,"Hi, is it open?"\n'
        "c1,agent,Yes, until 6, every day.\n"  # used to be cut to "Yes"
        "c2,customer\n"
        ",customer,orphan\n"
        "c3,customer,Anyone?\n"
        "c3,robot,beep\n"
    )
    r = _parse(tmp_path, "chats.csv", text)
    assert _convs(r) == {
        "c1": [("user", "Hi, is it open?"), ("assistant", "Yes, until 6, every day.")]
    }
    reasons = _reasons(r)
    assert reasons["row has more cells than the header"] == 3
    assert reasons["message without a conversation id"] == 5
    assert reasons["unknown author role 'robot'"] == 7
