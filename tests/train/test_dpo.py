"""Preference training (``method: dpo``): the refusals before a run exists, the pairs file's
bad lines, the recipe → DPOConfig mapping, and a real DPOTrainer run from a tiny SFT parent
through the child process (seconds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.train_data import SYSTEM, conversations, events, recipe, write_jsonl

from assistant_builder.errors import UserError
from assistant_builder.runs import ADAPTER_MARKER
from assistant_builder.train import dpo
from assistant_builder.train.launch import follow, prepare_run, start, train
from assistant_builder.train.preferences import check_dpo, read_preferences
from assistant_builder.train.recipe import Recipe
from assistant_builder.workspace import Workspace


def pair(i: int, models: list[str] | None = None, base: str | None = None) -> dict[str, Any]:
    """Chosen: the lamp's real reset time; rejected: a wrong one (as a rater would decide)."""
    row: dict[str, Any] = {
        "prompt": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"How do I reset lamp model {i}?"},
        ],
        "chosen": [
            {"role": "assistant", "content": f"Hold the power button for {i % 7 + 3} seconds."}
        ],
        "rejected": [{"role": "assistant", "content": "Unplug it and call the shop."}],
    }
    if models is not None or base is not None:
        row["meta"] = {"models": models or [], "base_model": base}
    return row


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    write_jsonl(workspace.dataset_dir / "train.jsonl", conversations(12))
    return workspace


PARENT = {"run": "sft1", "adapter": "/nowhere/adapter", "base_model": "default", "recipe": "x"}


def test_dpo_needs_a_parent_run(ws: Workspace) -> None:
    write_jsonl(ws.dataset_dir / "preferences.jsonl", [pair(1)])
    with pytest.raises(UserError, match=r"DPO starts from an SFT run: pass --from RUN"):
        prepare_run(ws, Recipe(method="dpo"))
    assert not ws.runs_dir.exists() or not any(ws.runs_dir.iterdir())  # no folder left behind


def test_cli_refuses_dpo_without_a_parent(ws: Workspace, run_cli: Any) -> None:
    r = run_cli(ws.root, "train", "--recipe", "cpu-dpo", "--json")
    assert r.returncode == 2
    assert json.loads(r.stdout) == {"error": "DPO starts from an SFT run: pass --from RUN"}
    assert "Traceback" not in r.stderr


def test_no_pairs_says_how_to_make_them(ws: Workspace) -> None:
    with pytest.raises(UserError, match=r"preferences.jsonl is missing.*rate --to-preferences"):
        check_dpo(ws, Recipe(method="dpo"), PARENT)
    (ws.dataset_dir / "preferences.jsonl").write_text("")
    with pytest.raises(UserError, match=r"no preference pairs: .*compare --run"):
        check_dpo(ws, Recipe(method="dpo"), PARENT)
    (ws.dataset_dir / "preferences.jsonl").write_text('{"prompt": "hi"}\n')
    with pytest.raises(UserError, match=r"1 lines are not pairs \(line 1: prompt is not a list"):
        check_dpo(ws, Recipe(method="dpo"), PARENT)


def test_bad_lines_are_skipped_with_their_line_and_reason(ws: Workspace) -> None:
    same = pair(3)
    same["rejected"] = same["chosen"]
    no_user = pair(4)
    no_user["prompt"] = no_user["prompt"][:1]
    rows = [json.dumps(pair(1)), "{not json", json.dumps(same), "", json.dumps(no_user)]
    (ws.dataset_dir / "preferences.jsonl").write_text("\n".join(rows) + "\n")
    prefs = read_preferences(ws.dataset_dir / "preferences.jsonl")
    assert [p["line"] for p in prefs.pairs] == [1]
    assert [(s["line"], s["reason"].split(" (")[0]) for s in prefs.skipped] == [
        (2, "not valid JSON"),
        (3, "chosen and rejected are the same answer"),
        (5, "the prompt does not end with a user message"),
    ]


def test_pairs_answered_on_another_base_model_are_refused(ws: Workspace) -> None:
    # One pair records its base; another only names a run, whose run.json says the base.
    (ws.runs_dir / "other-run").mkdir(parents=True)
    (ws.runs_dir / "other-run" / "run.json").write_text('{"base_model": "Qwen/Qwen2.5-0.5B"}')
    rows = [
        pair(1, ["base", "tuned:sft1"], "default"),
        pair(2, ["base", "tuned:other-run+retrieval"]),
        pair(3),  # hand-written: origin unknown, accepted
    ]
    write_jsonl(ws.dataset_dir / "preferences.jsonl", rows)
    with pytest.raises(UserError) as e:
        check_dpo(ws, Recipe(method="dpo"), PARENT)
    msg = str(e.value)
    assert "1 of 3 pairs were answered on base model Qwen/Qwen2.5-0.5B, not default" in msg
    assert "lines 2)" in msg and "remove those lines" in msg
    write_jsonl(ws.dataset_dir / "preferences.jsonl", [rows[0], rows[2]])
    prefs = check_dpo(ws, Recipe(method="dpo"), PARENT)
    assert prefs.report() == {"pairs": 2, "skipped": [], "unknown_origin": 1}


def test_recipe_maps_to_dpo_config() -> None:
    r = Recipe(method="dpo", dpo_beta=0.3, dpo_loss="ipo", dpo_sft_weight=0.5, epochs=2)
    c = dpo.dpo_config(r, "lora", False, output_dir="/tmp/x", optim="adamw_torch")
    assert c.beta == 0.3 and c.loss_type == ["ipo", "sft"] and c.loss_weights == [1.0, 0.5]
    assert c.max_length == r.dpo_max_prompt_length + r.dpo_max_completion_length
    # The CPU defaults that made SFT steps crawl are off here too.
    assert c.bf16 is False and c.gradient_checkpointing is False and c.use_cpu is True
    # (The CUDA/bf16 variant cannot be built on a machine without a GPU: transformers refuses.)
    plain = dpo.dpo_config(Recipe(method="dpo"), "lora", False, output_dir="/x", optim="sgd")
    assert plain.loss_type == ["sigmoid"] and plain.loss_weights is None
    with pytest.raises(ValueError, match="raft_share 0"):
        Recipe(method="dpo", raft_share=0.5)


def _margin(base: str, adapter: Path, rows: list[dict[str, Any]]) -> float:
    """Mean log-probability margin (chosen minus rejected answer) under base + adapter."""
    import torch
    from peft import PeftModel

    from assistant_builder.models.loading import load_model, load_tokenizer

    tok = load_tokenizer(base)
    model = PeftModel.from_pretrained(load_model(base), str(adapter)).eval()

    def logp(prompt: list[dict[str, Any]], answer: list[dict[str, Any]]) -> float:
        n = len(dpo._ids(tok, prompt, add_generation_prompt=True))
        ids = torch.tensor([dpo._ids(tok, prompt + answer)])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1]
        lp = torch.log_softmax(logits.float(), -1).gather(1, ids[0, 1:, None])[:, 0]
        return float(lp[n - 1 :].sum())

    margins = [logp(r["prompt"], r["chosen"]) - logp(r["prompt"], r["rejected"]) for r in rows]
    return sum(margins) / len(margins)


def test_dpo_run_from_a_tiny_sft_parent(ws: Workspace, tiny_model: str) -> None:
    sft = train(ws, recipe(tiny_model, epochs=1))
    parent_adapter = ws.runs_dir / sft["run"] / "adapter"
    pairs = [pair(i, ["base", f"tuned:{sft['run']}"]) for i in range(8)]
    write_jsonl(ws.dataset_dir / "preferences.jsonl", pairs)
    r = recipe(tiny_model, method="dpo", epochs=3, learning_rate=5e-3, dpo_beta=0.5)
    _, run_dir = prepare_run(ws, r, from_run=sft["run"])
    info = json.loads((run_dir / "run.json").read_text())
    assert info["parent"]["run"] == sft["run"] and info["parent"]["base_model"] == tiny_model
    assert Path(info["parent"]["adapter"]) == parent_adapter.resolve()
    assert info["preferences"]["pairs"] == 8 and "incremental" not in info
    assert len((run_dir / "data" / "preferences.jsonl").read_text().splitlines()) == 8

    m = follow(start(run_dir))
    assert m["status"] == "completed" and m["mode"] == "lora"
    assert m["steps"] == 6  # 8 pairs / batch 4 x 3 epochs
    assert m["dpo"]["pairs"] == 8 and m["dpo"]["loss_type"] == ["sigmoid"]
    assert m["tokens"] > 0 and m["train_loss"] is not None
    evs = events(run_dir)
    mode = next(e for e in evs if e["event"] == "mode")
    assert f"DPO from run {sft['run']} on 8 preference pairs" in mode["notes"]
    assert [e["step"] for e in evs if e["event"] == "log"] == [1, 2, 3, 4, 5, 6]
    adapter = run_dir / "adapter"
    # The trained adapter alone (TRL's frozen "ref" copy is not saved), marked complete.
    assert (adapter / ADAPTER_MARKER).is_file() and not (adapter / "ref").exists()
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 4
    # DPO moved the parent towards the chosen answers.
    assert _margin(tiny_model, adapter, pairs) > _margin(tiny_model, parent_adapter, pairs) + 1
