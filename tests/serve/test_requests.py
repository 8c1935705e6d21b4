"""Request validation and fitting a conversation into the context window (pure functions)."""

from __future__ import annotations

import pytest

from assistant_builder.serve.backend import fit_conversation
from assistant_builder.serve.requests import RequestError, parse_request


def test_defaults_and_workspace_system_prompt() -> None:
    req = parse_request({"model": "m", "messages": [{"role": "user", "content": "Hi"}]}, "WS")
    assert req.messages == [
        {"role": "system", "content": "WS"},
        {"role": "user", "content": "Hi"},
    ]
    assert (req.max_tokens, req.temperature, req.top_p, req.stream) == (None, 0.0, 1.0, False)
    req = parse_request(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Own"}]},
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
            ],
            "max_completion_tokens": 5,
            "stop": "END",
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "WS",
    )
    assert [m["role"] for m in req.messages] == ["system", "user", "assistant", "user"]
    assert req.messages[0]["content"] == "Own" and req.max_tokens == 5
    assert req.stop == ["END"] and req.include_usage


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"model": ""}, "model"),
        ({"stream": "false"}, "stream"),
        ({"stream": 1}, "stream"),
        ({"top_p": float("nan")}, "top_p"),
        ({"temperature": True}, "temperature"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"n": 3}, "n"),
        ({"stop": [""]}, "stop"),
        ({"seed": "1"}, "seed"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "  "}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, None),
    ],
)
def test_bad_parameters_are_named(patch: dict, param: str | None) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], **patch}
    with pytest.raises(RequestError) as e:
        parse_request(body, "WS")
    assert e.value.status == 400
    if param:
        assert e.value.param == param
    assert e.value.body()["error"]["type"] == "invalid_request_error"


def words(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"].split()) + 2 for m in messages)


def test_fit_drops_oldest_turns_and_keeps_the_system_prompt() -> None:
    conv = [{"role": "system", "content": "sys prompt"}]
    for i in range(5):
        conv += [
            {"role": "user", "content": f"question {i} " * 3},
            {"role": "assistant", "content": f"answer {i} " * 3},
        ]
    conv.append({"role": "user", "content": "last question"})
    kept, used, budget = fit_conversation(conv, words, n_ctx=40, max_tokens=10)
    assert kept[0] == conv[0] and kept[-1] == conv[-1]
    assert kept[1]["role"] == "user"  # never starts on a dangling answer
    assert used + budget <= 40 and used == words(kept)
    assert len(kept) < len(conv) and kept[1:] == conv[len(conv) - len(kept) + 1 :]
    # Everything fits: nothing dropped; without max_tokens the budget is what is left.
    kept, used, budget = fit_conversation(conv, words, n_ctx=10_000, max_tokens=None)
    assert kept == conv and budget == 256
    kept, used, budget = fit_conversation(conv[-1:], words, n_ctx=20, max_tokens=None)
    assert budget == 20 - used
    with pytest.raises(RequestError, match="context window") as e:
        fit_conversation(conv, words, n_ctx=8, max_tokens=10)
    assert e.value.code == "context_length_exceeded"


def test_conversation_log_groups_turns_prunes_and_refuses_newer_schemas(tmp_path) -> None:
    import sqlite3

    from assistant_builder.errors import UserError
    from assistant_builder.serve.conversations import ConversationLog

    log = ConversationLog(tmp_path / "c.db", keep_days=30)
    first = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"}]
    a = log.record("run-1", "c1", first, "A1", "stop", (5, 2), 0.1)
    second = [*first, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]
    assert log.record("run-1", "c2", second, "A2", "stop", (9, 2), 0.1) == a
    other = log.record("run-1", "c3", [{"role": "user", "content": "Q1"}], "A1", "stop", (3, 2), 0)
    assert other != a  # a different history (no system prompt) is another conversation
    assert log.feedback("c2", "down", " Better answer ") > 0
    with pytest.raises(UserError):
        log.feedback("c2", "meh")
    convs = {c["id"]: c for c in log.conversations()}
    assert [e["question"] for e in convs[a]["exchanges"]] == ["Q1", "Q2"]
    assert convs[a]["exchanges"][1]["feedback"][0]["correction"] == "Better answer"
    log.conn.execute("UPDATE conversations SET updated = '2000-01-01' WHERE id = ?", (a,))
    assert log.prune() == 1 and {c["id"] for c in log.conversations()} == {other}
    log.close()
    conn = sqlite3.connect(tmp_path / "c.db")
    conn.execute("INSERT INTO _migrations VALUES ('m999_future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(UserError, match=r"c\.db was written by a newer"):
        ConversationLog(tmp_path / "c.db")
