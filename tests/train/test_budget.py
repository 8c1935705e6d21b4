"""The time budget: durations, the estimate line, the plan, a budget too short for one epoch,
the child stopping at the budget or when the answers are learned, and `train --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.train_data import conversations, recipe, write_jsonl

from assistant_builder.errors import UserError
from assistant_builder.train import budget
from assistant_builder.train.launch import train
from assistant_builder.train.recipe import Recipe


@pytest.fixture(autouse=True)
def speed_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "speed.json"
    monkeypatch.setenv("ASSISTANT_BUILDER_SPEED_FILE", str(path))
    return path


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("90s", 90), ("1h30m", 5400), ("1.5h", 5400), ("20", 1200), (2, 120)],
)
def test_parse_duration(text: Any, seconds: float) -> None:
    assert budget.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "15 parsecs", "0m", "-5", "m15"])
def test_bad_durations_are_user_errors(text: str) -> None:
    with pytest.raises(UserError, match="time budget"):
        budget.parse_duration(text)


def test_a_bad_budget_in_a_recipe_names_the_key() -> None:
    with pytest.raises(ValueError, match="time_budget"):
        Recipe(time_budget="soon")


def test_plan_fits_whole_epochs_and_says_so() -> None:
    # 52k tokens an epoch at 200 tokens/s: 260 s an epoch, 5 epochs ~22 min.
    est = budget.plan(52_000, 300, 5, (200.0, "measured by run r1"), 15 * 60)
    assert est.epochs == 3  # (900 - 40) * 200 / 52000 = 3.3
    assert est.seconds <= 15 * 60
    line = est.line()
    assert line.startswith("~23 min for 260k tokens (5 epochs of 52.0k) on this machine")
    assert line.endswith("with a 15 min budget: 3 epochs")
    assert budget.plan(52_000, 300, 2, (200.0, "x"), 3600).epochs == 2  # never above the recipe


def test_a_budget_too_short_for_one_epoch_proposes_the_shortest_useful_one() -> None:
    with pytest.raises(UserError) as e:
        budget.plan(52_000, 300, 5, (200.0, "measured by run r1"), 120)
    msg = str(e.value)
    assert "too short for one epoch" in msg and "--time-budget 5m" in msg  # 40 s + 260 s


def test_a_recipes_own_budget_trains_one_epoch_when_one_does_not_fit() -> None:
    est = budget.plan(52_000, 300, 5, (200.0, "measured by run r1"), 120, strict=False)
    assert est.epochs == 1
    assert "training 1 epoch anyway" in est.line() and "--time-budget none" in est.line()
    floor = budget.plan(52_000, 300, 5, (200.0, "measured by run r1"), 120, False, floor=3)
    assert floor.epochs == 3 and "training 3 epochs anyway" in floor.line()
    assert budget.plan(52_000, 300, 2, (200.0, "x"), 120, False, floor=3).epochs == 2


def test_none_switches_a_recipes_budget_off() -> None:
    assert Recipe(time_budget="none").time_budget is None
    assert Recipe(time_budget="off").time_budget is None
    assert Recipe(time_budget="15m").time_budget == "15m"


def test_a_budget_typed_in_the_form_is_held_to() -> None:
    from assistant_builder.train.recipe import recipe_from_fields

    base = Recipe(time_budget="15m", time_budget_strict=False)
    kept, _ = recipe_from_fields(base, {"time_budget": "15m"})
    typed, _ = recipe_from_fields(base, {"time_budget": "3m"})
    assert kept is not None and not kept.time_budget_strict
    assert typed is not None and typed.time_budget_strict


@pytest.mark.parametrize(
    ("elapsed", "tps", "strict", "expected"),
    [
        (100, 200.0, True, 3),  # (8,000 seen + 785 s x 200) / 52,000 = 3.2: 3 of 5
        (100, 1000.0, True, None),  # 15 epochs fit: the plan of 5 holds
        (880, 200.0, True, None),  # not one epoch left: the stop at the budget ends it
        (880, 200.0, False, 1),  # a lenient budget still finishes its first epoch
        (100, 200.0, (False, 4), 4),  # ... and the fewest epochs it promises
        (100, 200.0, (False, 2), 3),
    ],
)
def test_replan_from_the_runs_own_speed(
    elapsed: float, tps: float, strict: bool | tuple[bool, int], expected: int | None
) -> None:
    strict, floor = strict if isinstance(strict, tuple) else (strict, 1)
    got = budget.replan(900, elapsed, 8_000, tps, 52_000, 5, strict, floor)
    assert got == expected


def test_a_shortened_schedule_ends_where_the_run_ends() -> None:
    import torch
    from transformers import get_cosine_schedule_with_warmup

    from assistant_builder.train.stopping import shorten_schedule

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=5, num_training_steps=100)
    assert shorten_schedule(sched, 40)
    lam = sched.lr_lambdas[0]
    assert lam(40) == pytest.approx(0.0, abs=1e-9) and lam(20) > 0.4  # was 0.85 at 20 of 100
    assert lam(2) == pytest.approx(1.0)  # the warm-up keeps its 5%: 2 of 40 steps, not 5
    const = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    assert not shorten_schedule(const, 40)  # a schedule that does not say where it ends


def test_the_child_replans_from_its_own_speed(workspace: Any, tiny_model: str) -> None:
    from support.train_data import events

    write_jsonl(workspace.dataset_dir / "train.jsonl", conversations(24))
    r = recipe(tiny_model, epochs=100, time_budget="20s", time_budget_strict=False)
    m = train(workspace, r.model_copy(update={"eval_each_epoch": False}))
    replanned = [e for e in events(workspace.run_dir(m["run"])) if e["event"] == "replanned"]
    assert replanned and replanned[0]["epochs"] < 100 and replanned[0]["schedule_shortened"]
    assert m["stop_reason"].startswith("time budget:"), m["stop_reason"]
    if "epochs fit" in m["stop_reason"]:  # ended where the new plan said: whole epochs
        assert m["steps"] == replanned[0]["max_steps"] and m["steps"] % 6 == 0


def test_speed_comes_from_the_last_measured_run(speed_file: Path) -> None:
    tps, why = budget.known_speed("default", "lora")
    assert "not measured here yet" in why and tps > 0
    budget.record_speed("default", "lora", 123.4, "run-7")
    assert budget.known_speed("default", "lora") == (123.4, "measured by run run-7")
    assert json.loads(speed_file.read_text())  # a file a person can read


def test_the_child_stops_at_the_budget(workspace: Any, tiny_model: str) -> None:
    write_jsonl(workspace.dataset_dir / "train.jsonl", conversations(12))
    m = train(workspace, recipe(tiny_model, epochs=50, time_budget="1s", eval_each_epoch=False))
    assert m["status"] == "completed" and m["steps"] < m["max_steps"]
    assert m["stop_reason"].startswith("time budget:"), m["stop_reason"]


def test_the_child_stops_when_the_answers_are_learned(workspace: Any, tiny_model: str) -> None:
    write_jsonl(workspace.dataset_dir / "train.jsonl", conversations(12))
    # Any loss is below 100: the run ends after its first epoch of three.
    m = train(workspace, recipe(tiny_model, epochs=3, stop_loss=100.0, eval_each_epoch=False))
    assert m["steps"] == 3 and m["max_steps"] == 9
    assert m["stop_reason"].startswith("learned: mean answer loss"), m["stop_reason"]


def _cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "assistant_builder", "--workspace", str(ws), "--json", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # two CLI processes and their training children, as test_train_cli.py
def test_train_cli_prints_the_estimate_and_reports_plan_and_stop_reason(
    workspace: Any, tiny_model: str, speed_file: Path
) -> None:
    rows = conversations(12)
    rows[3]["messages"][-1]["content"] = "word " * 200  # longer than max_seq_length=128
    write_jsonl(workspace.dataset_dir / "train.jsonl", rows)
    sets = [f"base_model={tiny_model}", "batch_size=4", "lora_r=4", "lora_alpha=8"]
    sets += ["max_seq_length=128", "threads=1", "eval_each_epoch=false", "epochs=2"]
    args = [x for s in sets for x in ("--set", s)]
    # 1 000 000 tokens/s measured: a 10-minute budget fits the recipe's 2 epochs.
    budget.record_speed(tiny_model, "lora", 1e6, "calibration")
    p = _cli(workspace.root, "train", *args, "--time-budget", "10m")
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert out["estimate"]["rows"] == 12 and out["estimate"]["budget_seconds"] == 600
    assert out["plan"]["epochs"] == 2 and out["stop_reason"].startswith("completed")
    assert (
        out["long_rows"]
        == {"kept": 1, "left_out": 0, "max_seq_length": out["long_rows"]["max_seq_length"]}
        and out["long_rows"]["max_seq_length"] > 128
    )
    err = " ".join(p.stderr.split())
    assert "tokens (2 epochs of" in err and "with a 10 min budget: 2 epochs" in err
    assert "1 conversations are longer than max_seq_length=128: 1 kept" in err

    budget.record_speed(tiny_model, "lora", 1.0, "slow")  # one token a second
    p = _cli(workspace.root, "train", *args, "--time-budget", "1m")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "too short for one epoch" in p.stderr and "shortest useful budget" in p.stderr
