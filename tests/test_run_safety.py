"""Run ids are names, never paths; a run counts only when its adapter was written whole; text
printed from outside (names, paths) cannot forge output or break a pasted command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant_builder.errors import UserError
from assistant_builder.runs import (
    ADAPTER_MARKER,
    adapter_problem,
    check_run_id,
    is_run_id,
    require_adapter,
    save_adapter,
)
from assistant_builder.textsafe import printable, shell_quote
from assistant_builder.workspace import Workspace


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.sampled_from(["..", ".", "../x", "/etc", "a/b", "a\\b", "~"]))
def test_a_run_id_never_leaves_runs(run_id: str) -> None:
    root = Path("/ws")
    try:
        checked = check_run_id(run_id)
    except UserError as e:
        assert "not a run id" in str(e)
        assert not is_run_id(run_id)
        return
    assert is_run_id(checked)
    path = (root / "runs" / checked).resolve()
    assert path.parent == (root / "runs").resolve(), run_id


@pytest.mark.parametrize("bad", ["..", "../other-ws/runs/x", "/tmp", "a/../../b", ".hidden"])
def test_run_dir_refuses_paths(workspace: Workspace, bad: str) -> None:
    with pytest.raises(UserError, match="not a run id"):
        workspace.run_dir(bad)


def test_dotted_run_id_is_a_plain_name(workspace: Workspace) -> None:
    (workspace.runs_dir / "v1.2").mkdir(parents=True)
    assert workspace.run_dir("v1.2").name == "v1.2"


class _FakePeft:
    """Writes the files PEFT writes, optionally dying half way (a kill during the save)."""

    def __init__(self, die: bool = False) -> None:
        self.die = die

    def save_pretrained(self, folder: str) -> None:
        d = Path(folder)
        d.mkdir(parents=True, exist_ok=True)
        (d / "adapter_config.json").write_text("{}")
        header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})
        head = len(header).to_bytes(8, "little") + header.encode()
        if self.die:
            (d / "adapter_model.safetensors").write_bytes(head + b"\0" * 5)
            raise KeyboardInterrupt  # stands in for the kill
        (d / "adapter_model.safetensors").write_bytes(head + b"\0" * 16)


def test_adapter_is_whole_or_absent(workspace: Workspace) -> None:
    run = workspace.runs_dir / "r1"
    run.mkdir(parents=True)
    with pytest.raises(KeyboardInterrupt):
        save_adapter(_FakePeft(die=True), _FakePeft(), run / "adapter")
    assert not (run / "adapter").exists()  # only adapter.partial/ is left
    assert workspace.latest_run() is None
    with pytest.raises(UserError, match="no adapter"):
        require_adapter(run)
    save_adapter(_FakePeft(), _FakePeft(), run / "adapter")
    assert (run / "adapter" / ADAPTER_MARKER).is_file()
    assert adapter_problem(run / "adapter") is None
    assert workspace.latest_run() == "r1"
    # A file changed after the save (truncated by a copy, a full disk) is caught.
    (run / "adapter" / "adapter_model.safetensors").write_bytes(b"\0" * 3)
    assert "incomplete" in (adapter_problem(run / "adapter") or "")


def test_old_adapter_without_marker_is_checked_by_its_header(workspace: Workspace) -> None:
    run = workspace.runs_dir / "old"
    run.mkdir(parents=True)
    _FakePeft().save_pretrained(str(run / "adapter"))
    assert adapter_problem(run / "adapter") is None
    weights = run / "adapter" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4])  # killed during the save
    assert "truncated" in (adapter_problem(run / "adapter") or "")
    newer = workspace.runs_dir / "older-but-whole"
    _FakePeft().save_pretrained(str(newer / "adapter"))
    assert workspace.latest_run() == "older-but-whole"  # the damaged run is never "latest"


def _cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "assistant_builder", *args, "--workspace", str(ws), "--json"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_cli_refuses_path_run_ids_and_broken_adapters(workspace: Workspace) -> None:
    run = workspace.runs_dir / "half.done"
    run.mkdir(parents=True)
    (run / "run.json").write_text('{"base_model": "default"}')
    _FakePeft().save_pretrained(str(run / "adapter"))
    w = run / "adapter" / "adapter_model.safetensors"
    w.write_bytes(w.read_bytes()[:-4])
    for args in (
        ["export", "--run", "../../elsewhere", "--format", "adapter"],
        ["compare", "--run", "/tmp"],
        ["serve", "--run", ".."],
        ["train", "--resume", "../x"],
        ["export", "--run", "half.done", "--format", "adapter", "--force"],
        ["compare", "--run", "half.done"],
        ["serve", "--run", "half.done"],
    ):
        r = _cli(workspace.root, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
        reason = json.loads(r.stdout)["error"]
        assert any(w in reason for w in ("not a run id", "truncated", "no adapter")), reason


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_printable_is_one_line(text: str) -> None:
    out = printable(text)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out
    if text.isprintable():
        assert out == text


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\0"), max_size=20))
def test_shell_quote_round_trips_in_bash(text: str) -> None:
    word = shell_quote(text)
    assert "\n" not in word
    out = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True)
    assert out.stdout.decode("utf-8") == text  # bytes: no newline translation of a "\r"
