"""Retrieval-aware (RAFT) training rows: a share of the conversations gets a copy with the
retrieved passages, with the answer's passage (answer kept) or distractors only (the
out-of-scope reply); the closed-book rows all stay; the run keeps a copy of the index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from assistant_builder.dataset.build import build_dataset
from assistant_builder.retrieval.index import open_index
from assistant_builder.retrieval.prompt import INSTRUCTION
from assistant_builder.retrieval.raft import RaftOptions, describe, raft_rows
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.train.launch import prepare_run
from assistant_builder.train.recipe import load_recipe
from assistant_builder.workspace import Workspace, read_jsonl

FAQ = "# FAQ\n\n" + "".join(
    f"## How do I {verb} the {thing}?\n\n{answer}\n\n"
    for verb, thing, answer in [
        ("reset", "password", "Open Settings, then Account, and choose Reset password."),
        ("export", "notes", "Use File, Export, and pick Markdown or PDF for your notes."),
        ("delete", "account", "Write to support from your account address to delete it."),
        ("sync", "devices", "Sign in with the same account on each device; sync is automatic."),
        ("change", "theme", "Settings, Appearance: pick light, dark or the system theme."),
    ]
)


def _workspace(ws: Workspace, tmp_path: Path) -> None:
    f = tmp_path / "faq.md"
    f.write_text(FAQ, encoding="utf-8")
    ingest_paths(ws, [f])
    build_dataset(ws)


def test_raft_rows_with_gold_and_distractors(workspace: Workspace, tmp_path: Path) -> None:
    _workspace(workspace, tmp_path)
    index, _ = open_index(workspace)
    rows = list(read_jsonl(workspace.dataset_dir / "train.jsonl"))
    oos = "Sorry, I can only help with this product."
    extra, report = raft_rows(rows, index, RaftOptions(share=1.0, gold_share=0.6, k=2), oos)
    assert report.rows == len(extra) == len(rows) - sum(report.skipped.values())
    assert report.with_gold and report.distractors_only
    by_group = {p.group: p for p in index.passages}
    answers = {r["meta"]["id"]: r["messages"][-1]["content"] for r in rows}
    for row in extra:
        user, answer = row["messages"][-2]["content"], row["messages"][-1]["content"]
        assert user.startswith(INSTRUCTION) and "[1] " in user
        assert row["meta"]["retrieval"]["k"] <= 2
        gold_text = by_group[row["meta"]["group"]].text
        if row["meta"]["retrieval"]["gold"]:
            assert gold_text in user  # whole, never cut
            assert answer == answers[row["meta"]["id"]]
        else:
            assert gold_text not in user and answer == oos
    # The originals are untouched (the caller keeps them as the closed-book rows).
    assert all(not r["messages"][-2]["content"].startswith(INSTRUCTION) for r in rows)
    # share 0: nothing; the draw is deterministic for a seed.
    assert raft_rows(rows, index, RaftOptions(share=0.0), oos)[0] == []
    again, _ = raft_rows(rows, index, RaftOptions(share=1.0, gold_share=0.6, k=2), oos)
    assert again == extra


def test_prepare_run_adds_rows_and_keeps_the_index(workspace: Workspace, tmp_path: Path) -> None:
    _workspace(workspace, tmp_path)
    n = len(list(read_jsonl(workspace.dataset_dir / "train.jsonl")))
    recipe = load_recipe("cpu-lora", ["raft_share=1.0", "raft_k=2"])
    _, run_dir = prepare_run(workspace, recipe)
    info = json.loads((run_dir / "run.json").read_text())["retrieval"]
    assert info["raft"]["rows"] > 0 and (run_dir / "index" / "meta.json").is_file()
    rows = list(read_jsonl(run_dir / "data" / "train.jsonl"))
    assert len(rows) == n + info["raft"]["rows"]
    assert sum("retrieval" in r["meta"] for r in rows) == info["raft"]["rows"]
    assert "retrieval rows" in describe(info)[0]

    closed = prepare_run(workspace, load_recipe("cpu-lora", ["raft_share=0"]))[1]
    assert len(list(read_jsonl(closed / "data" / "train.jsonl"))) == n


def test_no_index_trains_closed_book_with_a_notice(workspace: Workspace, tmp_path: Path) -> None:
    _workspace(workspace, tmp_path)
    shutil.rmtree(workspace.dataset_dir / "index")  # a dataset built before the index existed
    _, run_dir = prepare_run(workspace, load_recipe("cpu-lora", ["raft_share=0.5"]))
    info = json.loads((run_dir / "run.json").read_text())["retrieval"]
    assert "no retrieval index" in info["notice"] and "raft" not in info
    assert describe(info) == [info["notice"]]


def test_adapter_export_bundles_the_runs_index(tiny_run) -> None:
    from assistant_builder.export import registry as ex
    from assistant_builder.retrieval.index import Index, Passage

    ws, run_id = tiny_run
    run_dir = ws.runs_dir / run_id
    plain = ex.export(ws, run_id, ["adapter"])["exports"]["adapter"]
    assert "retrieval" not in plain  # a run without an index exports the adapter alone
    ps = [Passage(0, "How do I reset my password?", "Settings, Account.", "g", "pair", "f.md", 3)]
    Index.build(run_dir / "index", ps, [])
    (run_dir / "data").mkdir(exist_ok=True)
    row = {"messages": [{"role": "user", "content": "How do I reset my password?"},
                        {"role": "assistant", "content": "Settings, Account."}],
           "meta": {"group": "g", "how": "extracted"}}  # fmt: skip
    (run_dir / "data" / "train.jsonl").write_text(json.dumps(row) + "\n")
    info = ex.export(ws, run_id, ["adapter"])["exports"]["adapter"]
    out = Path(info["path"])
    assert info["retrieval"] == {"index": "retrieval-index", "passages": 1, "k": 3,
                                 "recipe": "RETRIEVAL.md"}  # fmt: skip
    assert Index.load(out / "retrieval-index").search("reset password").hits
    assert "Question: <the question>" in (out / "RETRIEVAL.md").read_text()
    # The bundle says how this run uses retrieval: a closed-book run, by its learned questions.
    from assistant_builder.retrieval.answer import MATCHED, RetrievalSettings

    saved = json.loads((out / "retrieval-index" / "settings.json").read_text())
    settings = RetrievalSettings(**saved)
    assert settings.layout == MATCHED and "learned" in (out / "RETRIEVAL.md").read_text()
    assert settings.trained_questions == {"g": "How do I reset my password?"}
    assert ex.check_manifest(out) == []
