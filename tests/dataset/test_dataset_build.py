"""Variants, out-of-scope rows, provenance and the split, on own fixtures and the real samples."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from assistant_builder.dataset.build import BuildOptions, build_dataset, load_split
from assistant_builder.dataset.out_of_scope import SOURCE
from assistant_builder.sources.ingest import ingest_paths

FAQ = "# FAQ\n\n" + "\n\n".join(
    f"## How do I {verb} a formula?\n\nRun `brew {verb} <formula>` to {verb} it. Step {i}."
    for i, verb in enumerate(["pin", "unpin", "install", "uninstall", "upgrade", "link", "unlink"])
)
QNABOT = {
    "qna": [
        {"qid": "1", "q": ["What is a hook", "What are hooks", "Explain hooks"], "a": "Code."},
        {"qid": "2", "q": ["How do I import content"], "a": "Use the Import tab."},
    ]
}


@pytest.fixture
def faq_ws(workspace, tmp_path: Path):
    (tmp_path / "faq.md").write_text(FAQ)
    (tmp_path / "qnabot.json").write_text(json.dumps(QNABOT))
    ingest_paths(workspace, [tmp_path / "faq.md", tmp_path / "qnabot.json"])
    return workspace


def _rows(ws) -> list[dict]:
    return load_split(ws, "train") + load_split(ws, "eval")


def test_variants_per_answer_stay_in_their_group_and_split(faq_ws) -> None:
    for seed in range(4):
        build_dataset(faq_ws, BuildOptions(variants=3, eval_fraction=0.3, seed=seed))
        rows = _rows(faq_ws)
        split_of: dict[str, set[str]] = {}
        for r in rows:
            split_of.setdefault(r["meta"]["group"], set()).add(r["meta"]["split"])
        assert all(len(s) == 1 for s in split_of.values()), "a group is on one side only"
        assert {"train", "eval"} == {s for v in split_of.values() for s in v}
    per_group = Counter(r["meta"]["group"] for r in rows)
    # 7 FAQ answers: 1 question + 3 paraphrases each. QnABot "hook": 3 source phrasings
    # + 1 paraphrase to reach 3 extra phrasings.
    assert sorted(per_group.values()) == [4] * 9
    para = [r for r in rows if r["meta"]["how"] == "paraphrased"]
    assert para and all(r["meta"]["paraphrase_of"] for r in para)
    assert all(r["meta"]["sha256"] and r["meta"]["line_start"] for r in para)
    hook = [r["meta"]["how"] for r in rows if r["messages"][2]["content"] == "Code."]
    assert Counter(hook) == {"extracted": 1, "variant": 2, "paraphrased": 1}


def test_variants_zero_and_distinct_pin_unpin_questions_survive(faq_ws) -> None:
    report = build_dataset(faq_ws, BuildOptions(variants=0))
    assert report.made == {"extracted": 9, "variant": 2}
    questions = {r["messages"][1]["content"] for r in _rows(faq_ws)}
    assert {"How do I pin a formula?", "How do I unpin a formula?"} <= questions
    assert "near_duplicate" not in report.dropped


def test_out_of_scope_rows_use_the_workspace_message(faq_ws) -> None:
    settings = faq_ws.load_settings()
    settings.out_of_scope_message = "Sorry, I only know Homebrew."
    faq_ws.save_settings(settings)
    report = build_dataset(faq_ws, BuildOptions(out_of_scope=5, variants=0))
    oos = [r for r in _rows(faq_ws) if r["meta"]["how"] == "out-of-scope"]
    assert len(oos) == report.made["out-of-scope"] == 5
    for r in oos:
        assert r["messages"][-1]["content"] == "Sorry, I only know Homebrew."
        assert r["messages"][0] == {"role": "system", "content": settings.system_prompt}
        m = r["meta"]
        assert m["source"] == SOURCE and m["line_start"] and len(m["sha256"]) == 64
        assert m["review"] == "new" and m["split"] in ("train", "eval")


def test_cli_sets_system_prompt_and_out_of_scope(faq_ws, run_cli) -> None:
    args = ["dataset", "--system-prompt", "You answer Homebrew questions.", "--out-of-scope", "3"]
    proc = run_cli(faq_ws.root, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["made"]["out-of-scope"] == 3 and out["variants"] == 3
    saved = json.loads(faq_ws.settings_path.read_text())
    assert saved["system_prompt"] == "You answer Homebrew questions."
    assert all(r["messages"][0]["content"] == saved["system_prompt"] for r in _rows(faq_ws))
    bad = run_cli(faq_ws.root, *args, "--variants", "-1", timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_homebrew_faq_sample(workspace, samples: Path) -> None:
    report = ingest_paths(workspace, [samples / "homebrew_faq_md"])
    skipped = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    assert "golden" in skipped["golden.jsonl"], "the eval set must not become training data"
    assert report.pairs == 28
    built = build_dataset(workspace)
    assert built.made["extracted"] == 28 and built.made["paraphrased"] >= 28 * 2
    rows = _rows(workspace)
    answers = [r["messages"][2]["content"] for r in rows]
    assert not any("{:" in a or "<br" in a for a in answers)
    # Hard-wrapped FAQ paragraphs are one line now; fenced code keeps its lines.
    pin = next(r for r in rows if r["messages"][1]["content"].startswith("How do I stop certain"))
    text = pin["messages"][2]["content"]
    assert "brew pin <formula_or_cask>" in text and "\n\n" in text
    for para in text.split("\n\n"):
        if not para.startswith(("```", "    ")):
            assert "\n" not in para, para


def test_homebrew_guides_sample(workspace, samples: Path) -> None:
    ingest_paths(workspace, [samples / "homebrew_guides_md"])
    report = build_dataset(workspace, BuildOptions(variants=1))
    rows = _rows(workspace)
    qs = {r["messages"][1]["content"] for r in rows}
    assert "What should I do if a cask download fails?" in qs
    assert "How do I restore an installation?" in qs
    assert "How do I install previous versions of formulae?" in qs
    assert report.dropped.get("ungrounded", 0) == 0
    assert all(r["meta"]["how"] in ("generated", "paraphrased") for r in rows)
    assert all(q.strip() and "`" not in q[:1] for q in qs)
