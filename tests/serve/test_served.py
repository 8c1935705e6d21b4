"""Served conversations into the loop: promotion of a served reply, preference pairs from
served corrections, and the redacted listing, through a real conversations.db, the real
redaction and the real dataset build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant_builder.cli.main import main
from assistant_builder.dataset.build import build_dataset
from assistant_builder.dataset.redact import add_allowed
from assistant_builder.serve.conversations import open_log
from assistant_builder.serve.served import served_preference_pairs, served_reply
from assistant_builder.workspace import Workspace, read_jsonl

SYSTEM = {"role": "system", "content": "You are the Lamp support assistant."}
Q1 = "My lamp flickers, I am jane.doe@example.com, what now?"
A1 = "Replace the bulb."
FIX1 = "Tighten the bulb first; if it still flickers, write to jane.doe@example.com's dealer."
Q2 = "And the warranty?"
A2 = "The warranty lasts two years."


def _serve_log(ws: Workspace) -> tuple[str, list[str]]:
    """A two-turn conversation as the server logs it; (conversation id, completion ids)."""
    log = open_log(ws.root)
    try:
        first = [SYSTEM, {"role": "user", "content": Q1}]
        cid = log.record("run-1", "c1", first, A1, "stop", (10, 3), 0.5)
        second = [*first, {"role": "assistant", "content": A1}, {"role": "user", "content": Q2}]
        assert log.record("run-1", "c2", second, A2, "stop", (20, 6), 0.4) == cid
        log.feedback("c1", "down", FIX1)
        log.feedback("c2", "up")
    finally:
        log.close()
    return cid, ["c1", "c2"]


def _cli(capsys: pytest.CaptureFixture[str], ws: Workspace, *args: str) -> tuple[int, dict]:
    """(exit status, the JSON object on stdout with the human output under "stderr")."""
    rc = main([args[0], "--workspace", str(ws.root), "--json", *args[1:]])
    cap = capsys.readouterr()
    return rc, {**json.loads(cap.out), "stderr": cap.err}


def test_served_reply_picks_the_answer_and_redacts_consistently(workspace: Workspace) -> None:
    cid, _ = _serve_log(workspace)
    # Default turn: the last one with feedback (turn 2, a thumbs-up: the reply itself).
    q, a, prov = served_reply(workspace, cid)
    assert (q, a, prov["turn"], prov["answer"]) == (Q2, A2, 2, "served reply (thumbs-up)")
    assert prov["earlier_turns"] == 1 and prov["run"] == "run-1"
    q, a, prov = served_reply(workspace, cid[:6], turn=1)  # a unique prefix names it
    assert "jane.doe@example.com" not in q + a
    assert q == "My lamp flickers, I am <EMAIL>, what now?"
    assert a.endswith("write to <EMAIL>'s dealer.")  # the same address, the same placeholder
    assert prov["answer"] == "correction" and prov["redacted"] == {"email": 2}
    assert prov["source"] == f"promoted:conversation:{cid}"
    # The workspace allow-list applies.
    add_allowed(workspace, ["jane.doe@example.com"])
    assert served_reply(workspace, cid, turn=1)[0] == Q1


def test_promote_a_served_reply_to_dataset_and_golden(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant_builder.sources.ingest import ingest_paths

    faq = tmp_path / "faq.md"
    faq.write_text("# Lamp FAQ\n\n## Does it dim?\n\nYes: hold the switch for two seconds.\n")
    ingest_paths(workspace, [faq])
    cid, _ = _serve_log(workspace)
    rc, out = _cli(capsys, workspace, "promote", "--conversation", cid, "--turn", "1")
    assert rc == 0, out
    row = out["row"]
    assert row["source"] == f"promoted:conversation:{cid}" and "source" not in row["promoted"]
    assert row["promoted"]["run"] == "run-1" and row["promoted"]["completion_id"] == "c1"
    assert "<EMAIL>" in row["question"] and "<EMAIL>" in row["answer"]
    build_dataset(workspace)
    rows = {
        r["messages"][1]["content"]: r
        for r in read_jsonl(workspace.dataset_dir / "conversations.jsonl")
    }
    promoted = rows[row["question"]]
    assert promoted["messages"][2]["content"] == row["answer"]
    assert promoted["meta"]["source"] == f"promoted:conversation:{cid}"
    rc, out = _cli(capsys, workspace, "promote", "--conversation", cid, "--to", "golden")
    assert rc == 0 and out["row"]["reference"] == A2 and out["row"]["question"] == Q2
    golden = list(read_jsonl(workspace.root / "checks" / "golden.jsonl"))
    assert golden[0]["source"] == f"promoted:conversation:{cid}"


def test_promote_conversation_refusals(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out = _cli(capsys, workspace, "promote", "--conversation", "abc")
    assert rc == 2 and "no served conversations" in out["stderr"]
    cid, _ = _serve_log(workspace)
    log = open_log(workspace.root)
    try:  # a third turn nobody rated
        third = log.conversation(cid)["exchanges"][1]["messages"]
        third = [*third, {"role": "assistant", "content": A2}, {"role": "user", "content": "Hi"}]
        log.record("run-1", "c3", third, "Hello.", "stop", (30, 2), 0.1)
    finally:
        log.close()
    for args, why in [
        (("--conversation", "nope"), "no served conversation 'nope'"),
        (("--conversation", cid, "--turn", "4"), "has 3 turn(s); --turn takes 1 to 3"),
        (("--conversation", cid, "--turn", "3"), "no feedback; pass --answer TEXT"),
        (("--conversation", cid, "--pair", "1"), "one of --pair, --conversation or --question"),
        (("--turn", "1", "--question", "Q", "--answer", "A"), "--turn goes with --conversation"),
    ]:
        rc, out = _cli(capsys, workspace, "promote", *args)
        err = out["stderr"]
        assert rc == 2 and why in err, (args, err)
        assert "Traceback" not in err
    rc, out = _cli(
        capsys, workspace, "promote", "--conversation", cid, "--turn", "3", "--answer", "Hello!"
    )
    assert rc == 0 and out["row"]["answer"] == "Hello!"
    assert out["row"]["promoted"]["answer"] == "written by the reviewer"


def test_served_corrections_become_redacted_preference_pairs(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out = _cli(capsys, workspace, "rate", "--to-preferences")
    assert rc == 0 and out["preferences"]["pairs"] == 0  # no log, no ratings: an empty file
    _serve_log(workspace)
    pairs = served_preference_pairs(workspace)
    assert len(pairs) == 1  # the thumbs-up is no pair
    pair = pairs[0]
    assert pair["prompt"] == [SYSTEM, {"role": "user", "content": Q1.replace(
        "jane.doe@example.com", "<EMAIL>")}]  # fmt: skip
    assert pair["chosen"][0]["content"].endswith("<EMAIL>'s dealer.")
    assert pair["rejected"] == [{"role": "assistant", "content": A1}]
    assert pair["meta"]["how"] == "served"  # with the run that answered, for its base model
    rc, out = _cli(capsys, workspace, "rate", "--to-preferences")
    assert rc == 0 and (out["preferences"]["served"], out["preferences"]["rated"]) == (1, 0)
    written = list(read_jsonl(workspace.dataset_dir / "preferences.jsonl"))
    assert written == pairs


def test_conversations_listing_is_redacted_unless_raw(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_log(workspace)
    rc, out = _cli(capsys, workspace, "conversations")
    text = json.dumps(out)
    assert rc == 0 and out["redacted"] is True
    assert "jane.doe@example.com" not in text and "<EMAIL>" in text
    ex = out["conversations"][0]["exchanges"]
    assert ex[0]["feedback"][0]["correction"].endswith("<EMAIL>'s dealer.")
    assert ex[1]["answer"] == A2 and ex[1]["feedback"][0]["rating"] == "up"
    rc, out = _cli(capsys, workspace, "conversations", "--raw")
    assert rc == 0 and out["conversations"][0]["exchanges"][0]["question"] == Q1
