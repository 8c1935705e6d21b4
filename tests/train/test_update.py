"""``train --from RUN`` end to end on the tiny Llama: the update starts from the parent's adapter
(real PEFT loading in the training child), trains on the changed rows plus a replay sample,
records both in run.json, and a second update with nothing changed is refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from support.train_data import conversations, events, recipe, write_jsonl

from assistant_builder.errors import UserError
from assistant_builder.train.incremental import DATASET_SNAPSHOT
from assistant_builder.train.launch import train


def _weights(run_dir: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))


def _tiny_args(tiny_model: str) -> list[str]:
    sets = [f"base_model={tiny_model}", "batch_size=4", "lora_r=4", "lora_alpha=8"]
    sets += ["max_seq_length=128", "threads=1", "eval_each_epoch=false", "update_epochs=1"]
    sets += ["epochs=1", "lora_dropout=0", "save_steps=1000", "warmup_ratio=0"]
    return [x for s in sets for x in ("--set", s)]


def test_update_continues_from_the_parent_adapter(workspace: Any, tiny_model: str) -> None:
    import torch

    rows = conversations(12)
    write_jsonl(workspace.dataset_dir / "train.jsonl", rows)
    full = train(workspace, recipe(tiny_model))
    parent_dir = workspace.runs_dir / full["run"]

    edited = copy.deepcopy(rows)
    edited[2]["messages"][-1]["content"] = "Unplug the lamp for ten seconds, then plug it in."
    write_jsonl(workspace.dataset_dir / "train.jsonl", edited)
    # A learning rate too small to move the weights: the update's adapter is its start.
    m = train(
        workspace,
        recipe(tiny_model, learning_rate=1e-9, update_epochs=1),
        from_run=full["run"],
    )
    run_dir = workspace.runs_dir / m["run"]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["parent"] == {
        "run": full["run"],
        "adapter": str((parent_dir / "adapter").resolve()),
        "base_model": tiny_model,
        "recipe": "tiny",
    }
    counts = info["incremental"]["counts"]
    assert (counts["changed"], counts["new"], counts["unchanged"]) == (1, 0, 11)
    assert counts["replayed"] == 4 and counts["trained"] == 5
    report = info["incremental"]["rows"]
    assert [r["what"] for r in report].count("changed") == 1
    assert next(r for r in report if r["what"] == "changed")["row"] == 3
    data = run_dir / "data"
    assert len((data / "train.jsonl").read_text().splitlines()) == 5
    assert len((data / DATASET_SNAPSHOT).read_text().splitlines()) == 12
    assert m["status"] == "completed" and m["steps"] == 2  # 5 rows / batch 4 x 1 epoch
    # The guard checked one row per unchanged answer, before and after the update.
    unchanged_answers = {r["messages"][-1]["content"] for i, r in enumerate(edited) if i != 2}
    guard = m["guard"]
    assert (
        guard["checked"]
        == len(unchanged_answers)
        == len((data / "guard.jsonl").read_text().splitlines())
    )
    assert any(e["event"] == "parent" for e in events(run_dir))

    before, after = _weights(parent_dir), _weights(run_dir)
    assert before.keys() == after.keys()
    lora_b = [k for k in before if "lora_B" in k]
    # A fresh LoRA starts with B = 0; the parent's B was trained away from it.
    assert max(float(before[k].abs().max()) for k in lora_b) > 1e-3
    for k in before:
        assert torch.allclose(before[k], after[k], atol=1e-5), k

    # The update stands for the whole split: from it, nothing has changed.
    with pytest.raises(UserError, match=f"nothing changed since run {m['run']}"):
        train(workspace, recipe(tiny_model), from_run=m["run"])


def test_refusals_on_the_command_line(workspace: Any, run_cli: Any) -> None:
    write_jsonl(workspace.dataset_dir / "train.jsonl", conversations(4))
    r = run_cli(workspace.root, "train", "--from", "nope", "--json")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    error = json.loads(r.stdout)["error"]
    assert error.startswith("--from: no run 'nope'") and "train a full run first" in error
    r = run_cli(workspace.root, "train", "--from", "a", "--resume", "b")
    assert r.returncode == 2 and "pick one" in r.stderr


@pytest.mark.slow
def test_train_from_on_the_command_line(workspace: Any, tiny_model: str, run_cli: Any) -> None:
    rows = conversations(8)
    write_jsonl(workspace.dataset_dir / "train.jsonl", rows)
    args = _tiny_args(tiny_model)
    full = run_cli(workspace.root, "train", *args, "--json", timeout=300)
    assert full.returncode == 0, full.stderr[-2000:]
    parent = json.loads(full.stdout)["run"]
    same = run_cli(workspace.root, "train", *args, "--from", parent, "--json")
    assert same.returncode == 2 and "nothing changed since run" in json.loads(same.stdout)["error"]
    assert not [p for p in workspace.runs_dir.iterdir() if p.name != parent]  # no run made

    rows.append(
        {
            "messages": [
                {"role": "system", "content": rows[0]["messages"][0]["content"]},
                {"role": "user", "content": "Can I dim the lamp?"},
                {"role": "assistant", "content": "Yes: turn the ring on its base."},
            ]
        }
    )
    write_jsonl(workspace.dataset_dir / "train.jsonl", rows)
    upd = run_cli(workspace.root, "train", *args, "--from", parent, "--json", timeout=300)
    assert upd.returncode == 0, upd.stderr[-2000:]
    out = json.loads(upd.stdout)
    assert out["parent"]["run"] == parent
    assert out["incremental"]["counts"] == {
        "changed": 0,
        "new": 1,
        "unchanged": 8,
        "replayed": 4,
        "removed": 0,
        "trained": 5,
    }
    assert {r["what"] for r in out["incremental"]["rows"]} == {"new", "replayed"}
    assert f"update of run {parent}: 0 changed, 1 new and 4 replayed" in " ".join(
        upd.stderr.split()
    )
