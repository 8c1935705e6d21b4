"""The release check: the verdict rules on given answers, and the whole check (CLI, export gate)
on the tiny model's runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant_builder.compare.probes import BUILTIN_PROBES, is_refusal
from assistant_builder.compare.release_check import Thresholds, last_exported_run, verdict
from assistant_builder.dataset.out_of_scope import QUESTIONS as TRAINED_OFF_TOPIC
from assistant_builder.metrics import normalize
from assistant_builder.workspace import DEFAULT_OUT_OF_SCOPE

MSG = DEFAULT_OUT_OF_SCOPE


def _golden(rouge: float, refusal: bool = False, previous: float | None = None) -> dict:
    row: dict = {"question": f"q{rouge}", "candidate": {"rouge_l": rouge, "refusal": refusal}}
    if previous is not None:
        row["previous"] = {"rouge_l": previous}
    return row


def _probe(refusal: bool) -> dict:
    return {"question": "p", "candidate": {"refusal": refusal}}


def test_refusal_detection_tolerates_small_additions() -> None:
    assert is_refusal(MSG, MSG)
    assert is_refusal("Hello! " + MSG + " Thanks.", MSG)
    assert is_refusal(MSG.replace("this product", "the product"), MSG)
    assert not is_refusal("Open Settings, then tap Reset password.", MSG)
    assert not is_refusal("anything", "")


def test_probes_are_not_the_trained_off_topic_questions() -> None:
    trained = {normalize(q) for q in TRAINED_OFF_TOPIC}
    assert not trained & {normalize(q) for q in BUILTIN_PROBES}


def test_verdict_passes_a_clean_run() -> None:
    v = verdict(
        [_golden(0.8, previous=0.75), _golden(0.6, previous=0.65)],
        [_probe(True)] * 9 + [_probe(False)],
        (True, "trained"),
        Thresholds(),
    )
    assert v["passed"] and v["reasons"] == []
    assert v["out_of_scope"]["rate"] == pytest.approx(0.9)
    assert v["previous_rouge_l"] == pytest.approx(0.7)


def test_verdict_names_each_failure() -> None:
    golden = [_golden(0.3, previous=0.8), _golden(0.9, refusal=True, previous=0.9)]
    v = verdict(golden, [_probe(True), _probe(False)], (True, "trained"), Thresholds())
    assert not v["passed"]
    assert len(v["reasons"]) == 3
    assert "1 golden question(s) got worse" in v["reasons"][0] and "'q0.3'" in v["reasons"][0]
    assert "false refusals on 50%" in v["reasons"][1]
    assert "out-of-scope reply on 50%" in v["reasons"][2]
    assert v["regressions"] == [{"question": "q0.3", "rouge_l": 0.3, "previous_rouge_l": 0.8}]


def test_verdict_reports_but_does_not_gate_an_untrained_hand_off() -> None:
    v = verdict([_golden(0.5)], [_probe(False)], (False, "not gated"), Thresholds())
    assert v["passed"] and v["out_of_scope"] == {
        "rate": 0.0,
        "n": 1,
        "gated": False,
        "why": "not gated",
    }
    assert v["previous_rouge_l"] is None


def test_last_exported_run_is_the_newest_manifest(tiny_run) -> None:
    from assistant_builder.export.registry import write_manifest

    ws, run_id = tiny_run
    assert last_exported_run(ws) is None
    for run, created in ((run_id, "2026-01-02"), ("gone", "2026-03-01")):
        folder = ws.exports_dir / run / "adapter"
        folder.mkdir(parents=True)
        write_manifest(folder, {"run": run})
        m = json.loads((folder / "manifest.json").read_text())
        (folder / "manifest.json").write_text(json.dumps({**m, "created": created}))
    assert last_exported_run(ws) == run_id  # "gone" has no run folder
    assert last_exported_run(ws, exclude=run_id) is None


def _cli(capsys, *args: str) -> tuple[int, dict]:
    from assistant_builder.cli.main import main

    rc = main([*args, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_check_and_export_gate(tiny_run, capsys) -> None:
    ws, run_id = tiny_run
    rc, out = _cli(capsys, "check", run_id, "--workspace", str(ws.root))
    # Nothing exported yet and no hand-off trained: only false refusals count, and the tiny
    # random model never says the hand-off message.
    assert rc == 0 and out["passed"] and out["against"] is None
    assert out["golden_source"].startswith("run data")
    assert out["out_of_scope"]["gated"] is False and out["out_of_scope"]["n"] == 20
    assert Path(out["path"]).is_file() and "golden" not in out

    # The team's own probes gate the hand-off rate: the tiny model fails it.
    probes = ws.root / "checks" / "out-of-scope.jsonl"
    probes.parent.mkdir()
    probes.write_text(json.dumps({"question": "What is the weather on Mars?"}) + "\n")
    rc, out = _cli(capsys, "check", "--workspace", str(ws.root))
    assert rc == 1 and not out["passed"] and out["exit_status"] == 1
    assert "out-of-scope reply on 0% of off-domain probes" in out["reasons"][0]

    rc, out = _cli(capsys, "export", "--workspace", str(ws.root), "--format", "openai-dataset")
    assert rc == 2 and "fails the release check" in out["error"] and "--force" in out["error"]
    assert not (ws.exports_dir / run_id).exists()
    rc, out = _cli(
        capsys, "export", "--workspace", str(ws.root), "--format", "openai-dataset", "--force"
    )
    assert rc == 0 and out["release_check"] == {"skipped": "--force"}


def _flipped_adapter(src: Path, dest: Path) -> None:
    """The same adapter with its LoRA B matrices negated: a run that answers differently."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dest)
    path = dest / "adapter_model.safetensors"
    tensors = {k: (-v if "lora_B" in k else v) for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path))


def test_check_finds_regressions_against_the_last_export(tiny_run, capsys) -> None:
    from assistant_builder.compare.answers import Question
    from assistant_builder.compare.release_check import check_settings
    from assistant_builder.export.registry import write_manifest
    from assistant_builder.models.engine import Engine

    ws, previous = tiny_run
    candidate = "tiny-run-2"
    shutil.copytree(ws.run_dir(previous), ws.runs_dir / candidate)
    shutil.rmtree(ws.runs_dir / candidate / "adapter")
    _flipped_adapter(ws.run_dir(previous) / "adapter", ws.runs_dir / candidate / "adapter")
    folder = ws.exports_dir / previous / "adapter"
    folder.mkdir(parents=True)
    write_manifest(folder, {"run": previous})

    # References are what the exported run answers, so it scores 1.0 and a run that answers
    # otherwise regresses on every question.
    questions = ["How do I reset my password?", "Do you ship abroad?"]
    base = json.loads((ws.run_dir(previous) / "run.json").read_text())["base_model"]
    engine = Engine(base, ws.run_dir(previous) / "adapter")
    golden = ws.root / "golden.jsonl"
    # A fixed budget: the default one grows with the references' length, and these references
    # are the exported run's own answers, cut at whatever budget wrote them.
    settings = check_settings(engine, ws.run_dir(previous), [Question(q) for q in questions], 48)
    answers = engine.answer(
        questions, system_prompt=ws.load_settings().system_prompt, tuned=True, settings=settings
    )
    golden.write_text(
        "".join(
            json.dumps({"question": q, "reference": a.text}) + "\n"
            for q, a in zip(questions, answers, strict=True)
        )
    )
    rc, out = _cli(
        capsys,
        "check",
        candidate,
        "--golden",
        str(golden),
        "--max-new-tokens",
        "48",
        "--workspace",
        str(ws.root),
    )
    assert out["against"] == previous and out["previous_rouge_l"] == pytest.approx(1.0)
    assert rc == 1 and {r["question"] for r in out["regressions"]} == set(questions)
    assert "2 golden question(s) got worse than the last export" in out["reasons"][0]

    rc, out = _cli(
        capsys,
        "check",
        previous,
        "--against",
        previous,
        "--golden",
        str(golden),
        "--workspace",
        str(ws.root),
    )
    assert rc == 0 and out["regressions"] == []


def test_check_refuses_bad_input(tiny_run, capsys, tmp_path: Path) -> None:
    ws, _run_id = tiny_run
    bad = tmp_path / "g.jsonl"
    bad.write_text(json.dumps({"question": "no reference"}) + "\n")
    rc, out = _cli(capsys, "check", "--golden", str(bad), "--workspace", str(ws.root))
    assert rc == 2 and "has no 'reference'" in out["error"]
    rc, out = _cli(capsys, "check", "--min-out-of-scope", "90", "--workspace", str(ws.root))
    assert rc == 2 and "between 0 and 1" in out["error"]
    rc, out = _cli(capsys, "check", "nope", "--workspace", str(ws.root))
    assert rc == 2 and "no run 'nope'" in out["error"]
