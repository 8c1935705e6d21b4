"""status.py: what the home screen says about the stages."""

from __future__ import annotations

import json

from assistant_builder.runs import mark_adapter_complete
from assistant_builder.status import workspace_status
from assistant_builder.workspace import Workspace


def test_train_stage_shows_the_final_loss_and_says_so(workspace: Workspace) -> None:
    run = workspace.runs_dir / "r1"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}")
    mark_adapter_complete(run / "adapter")  # a finished run's adapter, as the real save leaves it
    (run / "run.json").write_text(json.dumps({"recipe": "cpu-lora", "base_model": "default"}))
    metrics = {"status": "completed", "train_loss": 0.685, "last_loss": 0.003}
    (run / "metrics.json").write_text(json.dumps(metrics))
    detail = workspace_status(workspace).stage("train").detail
    assert detail.endswith("final loss 0.003") and "0.685" not in detail
    # A run from before the final loss was recorded: its mean, named as such.
    (run / "metrics.json").write_text(json.dumps({"status": "completed", "train_loss": 0.685}))
    assert workspace_status(workspace).stage("train").detail.endswith("mean loss 0.685")
