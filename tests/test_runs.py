"""runs.py: the one reader of a run folder's files and the owner of the side names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant_builder.errors import UserError
from assistant_builder.runs import BASE, Run, open_run, run_of, side_name, tuned_name


def test_side_names_round_trip() -> None:
    assert side_name(BASE) == "base" and side_name("r1") == tuned_name("r1") == "tuned:r1"
    assert side_name("tuned:r1") == "tuned:r1"
    assert run_of("tuned:r1") == "r1" and run_of(BASE) is None


def test_summary_of_finished_failed_and_stopped_runs(tmp_path: Path) -> None:
    done = tmp_path / "done"
    done.mkdir()
    (done / "run.json").write_text(json.dumps({"recipe": "cpu-lora", "base_model": "default"}))
    (done / "metrics.json").write_text(json.dumps({"status": "completed", "train_loss": 0.5}))
    assert Run(done).summary() == {
        "run": "done", "recipe": "cpu-lora", "status": "completed", "train_loss": 0.5
    }  # fmt: skip
    assert Run(done).completed() and Run(done).base_model() == "default"

    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "events.jsonl").write_text('{"event": "log"}\n{"event": "error", "message": "x"}\n')
    assert Run(failed).summary() == {"run": "failed", "recipe": "?", "status": "failed"}

    stopped = tmp_path / "stopped"
    for step in (50, 100):
        (stopped / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
    assert Run(stopped).summary()["status"] == "stopped, resumable"
    assert Run(stopped).last_checkpoint() == stopped / "checkpoints" / "checkpoint-100"
    assert not Run(stopped).completed()


def test_bad_run_files_and_ids_are_user_errors(tmp_path: Path) -> None:
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "run.json").write_text("[1]")
    with pytest.raises(UserError, match=r"run\.json does not hold a JSON object"):
        open_run(tmp_path, "r1").info()
    with pytest.raises(UserError, match="not a run id"):
        open_run(tmp_path, "../r1")
    with pytest.raises(UserError, match="no run 'r2'"):
        open_run(tmp_path, "r2")
