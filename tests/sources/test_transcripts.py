"""Support transcripts: Zendesk, Intercom and generic exports to multi-turn conversations."""

from __future__ import annotations

import json
from pathlib import Path

from assistant_builder.dataset.build import BuildOptions, build_dataset, load_split
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.sources.parsers import parse_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts"


def _reasons(result) -> str:
    return "\n".join(s.reason for s in result.skipped)


def test_zendesk_comments_become_customer_and_agent_turns() -> None:
    r = parse_file(FIXTURES / "zendesk_tickets.json")
    assert r.format == "transcript" and not r.pairs
    first, second = r.conversations
    assert first.conversation_id == "35436" and first.format == "zendesk"
    roles = [t["role"] for t in first.turns]
    assert roles == ["user", "assistant", "user", "assistant"]
    text = json.dumps(first.turns)
    # The internal note and the trigger's message are left out; HTML becomes Markdown.
    assert "legacy plan" not in text and "marked as solved" not in text
    assert "[reset page](https://example.com/reset)" in first.turns[1]["content"]
    assert first.extra == {"attachments": 1}
    # Without users for it, the ticket's requester is the customer.
    assert [t["role"] for t in second.turns] == ["user", "assistant"]
    reasons = _reasons(r)
    assert "1 bot messages, 1 internal notes" in reasons
    assert "turn with only attachments" in reasons


def test_intercom_parts_skip_bots_notes_and_state_changes() -> None:
    r = parse_file(FIXTURES / "intercom_conversations.json")
    (conv,) = r.conversations
    assert conv.conversation_id == "147" and conv.format == "intercom"
    assert [t["role"] for t in conv.turns] == ["user", "assistant", "user", "assistant"]
    assert conv.turns[0]["content"] == "How do I export my data to CSV?"
    assert "**Reports**" in conv.turns[1]["content"] and "VIP" not in json.dumps(conv.turns)
    assert "1 bot messages, 1 internal notes" in _reasons(r)


def test_generic_csv_notices_name_the_lines_and_keep_the_rest() -> None:
    r = parse_file(FIXTURES / "chats.csv")
    convs = {c.conversation_id: c for c in r.conversations}
    assert set(convs) == {"c1", "c2", "c3"}
    assert [t["role"] for t in convs["c1"].turns] == ["user", "assistant"]
    skipped = {s.reason.split(";")[0].split(" (")[0]: s.line for s in r.skipped}
    assert skipped["unknown author role 'wizard'"] == 4
    assert skipped["empty turn"] == 5
    # A bot's greeting before the customer speaks is left out; the exchange is kept.
    assert convs["c2"].turns[0] == {"role": "user", "content": "Can I export to CSV?"}
    # UTF-8 read as Latin-1 somewhere upstream ("CafÃ©") is repaired.
    assert convs["c3"].turns[0]["content"] == "Café menu is broken"
    assert "mis-decoded" in _reasons(r)


def test_generic_jsonl_message_rows_and_conversation_records(tmp_path: Path) -> None:
    rows = [
        {"ticket_id": 7, "sender_type": "customer", "text": "Where is my order?"},
        {"ticket_id": 7, "sender_type": "agent", "text": "It ships tomorrow."},
        {"id": "x1", "turns": [{"speaker": "Visitor", "text": "Do you ship to Canada?"},
                               {"speaker": "Operator", "text": "Yes, in 5 days."}]},
        {"nonsense": True},
    ]  # fmt: skip
    p = tmp_path / "export.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in rows) + "\n{broken\n")
    r = parse_file(p)
    ids = sorted(c.conversation_id for c in r.conversations)
    assert ids == ["7", "x1"]
    reasons = _reasons(r)
    assert "neither a message nor a conversation" in reasons and "invalid JSON line" in reasons


def test_openai_messages_files_still_read_as_pairs(tmp_path: Path) -> None:
    p = tmp_path / "chat.jsonl"
    msgs = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    p.write_text(json.dumps({"messages": msgs}) + "\n" + json.dumps({"messages": msgs}) + "\n")
    r = parse_file(p)
    assert r.pairs and not r.conversations


def test_dataset_builds_multi_turn_rows_split_by_conversation(workspace, tmp_path: Path) -> None:
    copy = tmp_path / "again.json"  # the same tickets exported twice: one is a duplicate
    copy.write_text((FIXTURES / "zendesk_tickets.json").read_text())
    report = ingest_paths(
        workspace,
        [FIXTURES / "zendesk_tickets.json", FIXTURES / "intercom_conversations.json", copy],
    )
    assert report.conversations == 5
    ds = build_dataset(workspace, BuildOptions(min_eval=1))
    assert ds.made == {"transcript": 3} and ds.dropped == {"duplicate": 2}
    rows = load_split(workspace, "train") + load_split(workspace, "eval")
    assert len({r["meta"]["group"] for r in rows}) == len(rows)  # one group per conversation
    assert {r["meta"]["split"] for r in rows} == {"train", "eval"}
    login = next(r for r in rows if r["meta"]["conversation_id"] == "35436")
    assert [m["role"] for m in login["messages"]] == ["system", *["user", "assistant"] * 2]
    assert login["meta"]["turns"] == 4 and login["meta"]["line_start"] is not None
    # Redaction is on by default: the customer's address is gone from the training row.
    assert "jane.doe@gmail.com" not in json.dumps(login["messages"])
    assert "<EMAIL>" in login["messages"][1]["content"]
