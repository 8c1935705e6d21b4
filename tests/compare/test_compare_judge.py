"""The LLM judge against a tiny OpenAI-compatible stub server on 127.0.0.1 (started here, bounded
number of requests): position swap, parsing, the key kept secret, errors as user errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant_builder.compare.judge import JudgeConfig, judge_config, judge_pairs, parse_vote
from assistant_builder.errors import UserError

SECRET = "sk-test-SECRET-123"
MAX_REQUESTS = 40  # the stub refuses more: a runaway loop fails the test instead of hanging


@contextmanager
def stub(decide: Callable[[str], str]) -> Iterator[tuple[str, list[dict]]]:
    """Serve /v1/chat/completions; ``decide(user_prompt)`` gives the reply text."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
            if len(seen) > MAX_REQUESTS or self.path != "/v1/chat/completions":
                self.send_response(500 if len(seen) > MAX_REQUESTS else 404)
                self.end_headers()
                return
            reply = decide(body["messages"][-1]["content"])
            out = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(out.encode())

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def answer_text(prompt: str, label: str) -> str:
    start = prompt.index(f"Answer {label}:\n") + len(f"Answer {label}:\n")
    end = prompt.index("\n\n", start)
    return prompt[start:end]


def prefers_paris(prompt: str) -> str:
    """A fair judge: the answer that says Paris wins, wherever it is shown."""
    a, b = answer_text(prompt, "A"), answer_text(prompt, "B")
    if ("Paris" in a) == ("Paris" in b):
        return "TIE"
    return "A" if "Paris" in a else "B"


ITEMS = [
    ("Capital of France?", "Paris.", "It is Paris.", "It is Lyon."),  # x right
    ("Capital of France, again?", "", "Marseille.", "Paris, of course."),  # y right
    ("Say hi", "", "hi", "hello"),  # neither: a tie
]


def test_fair_judge_in_both_orders_and_the_key_stays_secret() -> None:
    with stub(prefers_paris) as (url, seen):
        cfg = JudgeConfig(url=url, model="stub-judge", key=SECRET)
        result = judge_pairs(cfg, ITEMS)
    assert [v["winner"] for v in result["items"]] == ["x", "y", "tie"]
    assert [v["votes"] for v in result["items"]] == [["A", "B"], ["B", "A"], ["TIE", "TIE"]]
    assert (result["win"], result["loss"], result["tie"], result["inconsistent"]) == (1, 1, 1, 0)
    assert result["requests"] == len(seen) == 6  # two orders per pair, nothing more
    # Every pair was asked both ways round: x shown first, then second.
    first, second = seen[0]["messages"][-1]["content"], seen[1]["messages"][-1]["content"]
    assert answer_text(first, "A") == answer_text(second, "B") == "It is Paris."
    assert (
        "Reference answer:\nParis." in first
        and "Reference answer" not in seen[2]["messages"][-1]["content"]
    )
    assert all(s["auth"] == f"Bearer {SECRET}" and s["model"] == "stub-judge" for s in seen)
    assert all(s["temperature"] == 0 for s in seen)
    assert SECRET not in json.dumps(result) and SECRET not in repr(cfg)


def test_position_bias_is_cancelled_by_the_swap() -> None:
    with stub(lambda prompt: "A") as (url, _):  # always the first answer shown
        result = judge_pairs(JudgeConfig(url=url, model="biased"), ITEMS)
    assert (result["win"], result["loss"], result["tie"]) == (0, 0, 3)
    assert result["inconsistent"] == 3 and result["win_share"] is None


def test_chatty_replies_are_parsed_and_the_request_cap_holds() -> None:
    assert parse_vote("Answer A is better.") == "A"  # "Answer" is not a vote, "A" is
    assert parse_vote("tie") == "TIE" and parse_vote("**B**") == "B"
    assert parse_vote("I cannot decide") is None
    with (
        stub(lambda prompt: "B is better") as (url, seen),
        pytest.raises(UserError, match="limit of 3 requests"),
    ):
        judge_pairs(JudgeConfig(url=url, model="m", max_requests=3), ITEMS)
    assert len(seen) == 3


def test_endpoint_errors_are_user_errors_without_the_key(monkeypatch) -> None:
    with stub(prefers_paris) as (url, _):
        bad = JudgeConfig(url=url.replace("/v1", "/nope"), model="m", key=SECRET)
        with pytest.raises(UserError, match="HTTP 404") as err:
            judge_pairs(bad, ITEMS[:1])
        assert SECRET not in str(err.value)
    # Nothing listens on a port the closed server just gave back.
    with pytest.raises(UserError, match="unreachable"):
        judge_pairs(JudgeConfig(url=url, model="m", key=SECRET, timeout_s=2), ITEMS[:1])


def test_config_from_options_and_environment(monkeypatch) -> None:
    for var in ("URL", "MODEL", "KEY"):
        monkeypatch.delenv(f"ASSISTANT_BUILDER_JUDGE_{var}", raising=False)
    assert judge_config() is None
    monkeypatch.setenv("ASSISTANT_BUILDER_JUDGE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(UserError, match="model name"):
        judge_config()
    monkeypatch.setenv("ASSISTANT_BUILDER_JUDGE_MODEL", "env-model")
    monkeypatch.setenv("ASSISTANT_BUILDER_JUDGE_KEY", SECRET)
    cfg = judge_config(model="opt-model")
    assert cfg is not None and (cfg.model, cfg.key) == ("opt-model", SECRET)
    assert cfg.endpoint == "http://127.0.0.1:9/v1/chat/completions"
    with pytest.raises(UserError, match="http"):
        judge_config(url="ftp://x")


def test_compare_with_the_judge_records_votes_per_question(
    workspace, tmp_path_factory: pytest.TempPathFactory, capsys
) -> None:
    from support.tiny_models import make_run, tiny_assets

    from assistant_builder.cli.main import main

    tiny = tiny_assets(tmp_path_factory)
    make_run(workspace, "run1", tiny["base"], tiny["a1"])
    qfile = workspace.root / "q.jsonl"
    qfile.write_text('{"question": "Capital of France?", "reference": "Paris."}\n')
    with stub(lambda prompt: "A") as (url, seen):
        args = ["compare", "--workspace", str(workspace.root), "--json", "--questions", str(qfile)]
        args += ["--max-new-tokens", "5", "--judge", "--judge-url", url, "--judge-model", "j"]
        assert main([*args, "--judge-key", SECRET]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["judge"]["n"] == 1 and data["judge"]["inconsistent"] == 1 and len(seen) == 2
    assert "items" not in data["judge"]  # per-question votes live in the answers file
    row = json.loads(Path(data["answers"]).read_text())
    assert row["judge"]["votes"] == ["A", "A"] and row["judge"]["winner"] == "tie"
    assert SECRET not in out.out + out.err
    assert all(SECRET not in p.read_text() for p in (workspace.root / "runs").rglob("*.json*"))
