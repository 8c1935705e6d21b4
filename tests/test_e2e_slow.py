"""The whole journey through the CLI on the real default model: init → ingest → dataset →
train (a few steps) → compare → export. Slow: it trains SmolLM2-135M on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import run_cli_json

pytestmark = pytest.mark.slow


def test_cli_journey_trains_compares_and_exports(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    run_cli_json(ws, "init", "--demo")
    run_cli_json(ws, "ingest", str(ws / "demo-data"))
    ds = run_cli_json(ws, "dataset")
    assert ds["train"] > 0

    m = run_cli_json(
        ws,
        "train",
        "--set",
        "max_steps=8",
        "--set",
        "learning_rate=0.002",
        "--set",
        "batch_size=4",
        "--set",
        "eval_each_epoch=false",
    )
    assert m["status"] == "completed" and m["steps"] == 8
    assert m["first_loss"] == pytest.approx(m["first_loss"])  # finite
    assert m["last_loss"] < m["first_loss"], "loss must fall over the run"
    run_dir = ws / "runs" / m["run"]
    for name in ("recipe.yaml", "run.json", "events.jsonl", "metrics.json", "loss.png"):
        assert (run_dir / name).is_file(), name

    # Compare on trained questions: the tuned answers must differ from the base answers.
    train_rows = [json.loads(x) for x in (ws / "dataset/train.jsonl").read_text().splitlines()]
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(
        "".join(
            json.dumps(
                {"question": r["messages"][1]["content"], "reference": r["messages"][2]["content"]}
            )
            + "\n"
            for r in train_rows[:4]
        )
    )
    c = run_cli_json(ws, "compare", "--questions", str(qfile), "--max-new-tokens", "40")
    assert c["questions"] == 4
    rows = [json.loads(x) for x in Path(c["answers"]).read_text().splitlines()]
    assert any(r["base"]["text"] != r["tuned"]["text"] for r in rows)

    # The golden-set evaluation splits verbatim and reworded questions.
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        qfile.read_text()
        + json.dumps(
            {"question": "how do i make a notebook", "reference": "Tap +", "paraphrase": True}
        )
        + "\n"
    )
    ev = run_cli_json(ws, "eval", str(golden), "--max-new-tokens", "24")
    assert ev["tuned"]["verbatim"]["n"] == 4 and ev["tuned"]["reworded"]["n"] == 1
    assert set(ev["gain"]["all"]) == {"rouge_l", "token_f1", "stopped"}
    assert Path(ev["path"]).is_file()

    e = run_cli_json(ws, "export", "--format", "adapter")
    folder = Path(e["exports"]["adapter"]["path"])
    assert (folder / "adapter_model.safetensors").is_file()
    assert (folder / "manifest.json").is_file()

    from peft import PeftConfig, PeftModel

    from assistant_builder.models.loading import load_model

    cfg = PeftConfig.from_pretrained(str(folder))
    assert cfg.peft_type == "LORA"
    model = PeftModel.from_pretrained(load_model("default"), str(folder))
    assert any("lora_A" in n for n, _ in model.named_parameters())
