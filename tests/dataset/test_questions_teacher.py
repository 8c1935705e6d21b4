"""The teacher strategy against a stub OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant_builder.dataset.build import BuildOptions, build_dataset, load_split
from assistant_builder.dataset.teacher import Teacher, TeacherConfig, teacher_config
from assistant_builder.errors import UserError
from assistant_builder.sources.ingest import ingest_paths

KEY = "sk-test-SECRET-4242"
GUIDE = """# Widget Guide

## Resetting the widget

Hold the reset button for ten seconds until the status light blinks twice.

## Pairing a phone

Open the companion app, tap Add device and hold the phone near the widget.
"""


class Stub:
    def __init__(self, status: int = 200) -> None:
        self.requests: list[dict] = []
        self.status = status
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                prompt = body["messages"][-1]["content"]
                if "Rewrite this support question" in prompt:
                    text = "1. widget reset how\n2. Resetting my widget, what are the steps?"
                elif "Resetting the widget" in prompt:
                    text = "Here you go:\n1. How long do I hold the reset button?\n2. Who is Zorg?"
                else:
                    text = "How do I pair my phone with the widget?"
                payload = {"choices": [{"message": {"role": "assistant", "content": text}}]}
                data = json.dumps(payload).encode()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Stub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def guide_ws(workspace, tmp_path: Path):
    (tmp_path / "guide.md").write_text(GUIDE)
    ingest_paths(workspace, [tmp_path / "guide.md"])
    return workspace


def _all_text(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_teacher_questions_and_paraphrases_are_grounded_and_key_stays_secret(guide_ws) -> None:
    with Stub() as stub:
        cfg = TeacherConfig(url=stub.url, model="stub-model", key=KEY, max_requests=20)
        report = build_dataset(
            guide_ws, BuildOptions(question_strategy="teacher", teacher=cfg, variants=3)
        )
    assert 0 < len(stub.requests) <= 20
    assert all(r["path"] == "/v1/chat/completions" for r in stub.requests)
    assert all(r["auth"] == f"Bearer {KEY}" for r in stub.requests)
    assert all(r["body"]["model"] == "stub-model" for r in stub.requests)
    assert report.dropped.get("ungrounded") == 1  # "Who is Zorg?"
    rows = load_split(guide_ws, "train") + load_split(guide_ws, "eval")
    qs = {r["messages"][1]["content"]: r["meta"] for r in rows}
    assert qs["How long do I hold the reset button?"]["generator"] == "teacher"
    assert qs["widget reset how"]["how"] == "paraphrased"
    assert qs["widget reset how"]["generator"] == "teacher"
    offline = [
        m
        for m in qs.values()
        if m["how"] == "paraphrased" and m["generator"] in ("semantic", "rules")
    ]
    assert offline, "offline paraphrases fill up what the teacher did not give"
    assert "Who is Zorg?" not in qs
    assert KEY not in _all_text(guide_ws.root) and KEY not in repr(cfg)


def test_teacher_errors_name_the_endpoint_not_the_key() -> None:
    with Stub(status=500) as stub:
        teacher = Teacher(TeacherConfig(url=stub.url, model="m", key=KEY))
        with pytest.raises(UserError, match="HTTP 500") as err:
            teacher.questions("t", "text")
    assert KEY not in str(err.value)
    with pytest.raises(UserError, match="cannot reach"):
        Teacher(TeacherConfig(url="http://127.0.0.1:9/v1", model="m", timeout_s=2)).chat("hi")


def test_teacher_request_limit_is_enforced() -> None:
    with Stub() as stub:
        teacher = Teacher(TeacherConfig(url=stub.url, model="m", max_requests=2))
        teacher.chat("a")
        teacher.chat("b")
        with pytest.raises(UserError, match="request limit"):
            teacher.chat("c")
    assert len(stub.requests) == 2


def test_teacher_config_from_env_and_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSISTANT_BUILDER_TEACHER_URL", raising=False)
    monkeypatch.delenv("ASSISTANT_BUILDER_TEACHER_MODEL", raising=False)
    with pytest.raises(UserError, match="teacher needs"):
        teacher_config()
    monkeypatch.setenv("ASSISTANT_BUILDER_TEACHER_URL", "http://x/v1/")
    monkeypatch.setenv("ASSISTANT_BUILDER_TEACHER_MODEL", "m")
    monkeypatch.setenv("ASSISTANT_BUILDER_TEACHER_KEY", KEY)
    cfg = teacher_config()
    assert cfg.endpoint == "http://x/v1/chat/completions" and cfg.key == KEY
    assert KEY not in repr(cfg) and KEY not in cfg.describe()


def test_cli_teacher_from_env_never_prints_the_key(guide_ws, tmp_path: Path, run_cli) -> None:
    with Stub() as stub:
        env = {
            "ASSISTANT_BUILDER_TEACHER_URL": stub.url,
            "ASSISTANT_BUILDER_TEACHER_MODEL": "stub-model",
            "ASSISTANT_BUILDER_TEACHER_KEY": KEY,
        }
        proc = run_cli(guide_ws.root, "dataset", "--questions", "teacher", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["strategy"] == "teacher" and out["train"] + out["eval"] > 0
    assert KEY not in proc.stdout + proc.stderr
    assert KEY not in _all_text(guide_ws.root)
