"""The command-line contract: --json gives exactly one JSON object on stdout, exit 2 with a
one-line reason on bad input, never a traceback for a user mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_init_demo_ingest_dataset_json(tmp_path: Path, run_cli) -> None:
    ws = tmp_path / "ws"
    r = run_cli(ws, "init", "--demo", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["created"] is True and len(out["demo_files"]) >= 3

    r = run_cli(ws, "ingest", str(ws / "demo-data"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"documents", "pairs", "skipped", "sources"}
    formats = {s["format"] for s in out["sources"]}
    assert {"markdown", "csv"} <= formats
    assert out["pairs"] >= 18  # 12 Markdown FAQ entries + 8 CSV rows in data_templates

    r = run_cli(ws, "dataset", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["train"] > out["eval"] > 0
    assert isinstance(out["dropped"], dict)


def test_dataset_command_splits_like_the_app(tmp_path: Path, run_cli) -> None:
    """`dataset` without options and the app's rebuild (BuildOptions()) hold out the same
    answer groups: one default, not one per front end."""
    from assistant_builder.dataset.build import BuildOptions, build_dataset
    from assistant_builder.workspace import Workspace

    ws = tmp_path / "ws"
    run_cli(ws, "init", "--demo")
    run_cli(ws, "ingest", str(ws / "demo-data"))
    r = run_cli(ws, "dataset", "--json")
    assert r.returncode == 0, r.stderr

    def eval_groups() -> set[str]:
        path = ws / "dataset" / "eval.jsonl"
        return {json.loads(x)["meta"]["group"] for x in path.read_text().splitlines()}

    from_cli = eval_groups()
    build_dataset(Workspace(ws), BuildOptions())
    assert eval_groups() == from_cli and len(from_cli) == 1


def test_global_options_work_after_the_command(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    r = subprocess.run(
        [sys.executable, "-m", "assistant_builder", "init", "--workspace", str(ws), "--json"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0
    assert json.loads(r.stdout)["workspace"] == str(ws)


@pytest.mark.parametrize(
    "args, message",
    [
        (["ingest", "/no/such/file.md"], "no such file"),
        (["dataset"], "no workspace"),
        (["train", "--recipe", "nope"], "no workspace"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, args: list[str], message: str, run_cli
) -> None:
    ws = tmp_path / "ws"
    if args[0] == "ingest":
        run_cli(ws, "init")
    r = run_cli(ws, *args, "--json")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert message in r.stderr
    assert json.loads(r.stdout)["error"]


def test_unknown_recipe_is_exit_2(tmp_path: Path, run_cli) -> None:
    ws = tmp_path / "ws"
    run_cli(ws, "init", "--demo")
    r = run_cli(ws, "train", "--recipe", "nope")
    assert r.returncode == 2 and "unknown recipe" in r.stderr


def test_recipes_list_json(tmp_path: Path, run_cli) -> None:
    r = run_cli(tmp_path, "recipes", "--json")
    assert r.returncode == 0
    names = [x["name"] for x in json.loads(r.stdout)["recipes"]]
    assert "cpu-lora" in names
