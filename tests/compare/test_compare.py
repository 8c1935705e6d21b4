"""The compare stage: question sets, answers of two sides on the tiny model, metrics, the answer
cache across runs, blind pairs in ratings.db, run-vs-run, and the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tiny_models import make_run, tiny_assets

from assistant_builder.cli.main import main
from assistant_builder.compare.answers import (
    Question,
    compare,
    eval_questions,
    load_questions_file,
    typed_questions,
)
from assistant_builder.compare.budget import derive_max_new_tokens
from assistant_builder.compare.ratings import RatingStore
from assistant_builder.errors import UserError
from assistant_builder.models.engine import GenSettings
from assistant_builder.workspace import Workspace

QS = [
    Question("How long do refunds take?", "Refunds take 5 business days.", "faq.md"),
    Question("Can I change my email address?", "Yes, under Settings, Account.", "faq.md"),
    Question("Do you ship abroad?", None, "shipping.md"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_assets(tmp_path_factory)


def test_questions_from_jsonl_csv_and_typed(tmp_path: Path) -> None:
    j = tmp_path / "q.jsonl"
    j.write_text(
        '{"question": " Q1? ", "reference": "R1", "paraphrase": true, "source": "a.md"}\n'
        '\n{"question": "Q2?"}\n'
    )
    assert load_questions_file(j) == [Question("Q1?", "R1", "a.md", True), Question("Q2?")]
    c = tmp_path / "q.csv"
    c.write_text("question,reference,paraphrase\nQ1?,R1,yes\nQ2?,,\n", encoding="utf-8-sig")
    assert load_questions_file(c) == [Question("Q1?", "R1", None, True), Question("Q2?")]
    assert typed_questions(["  Why?  ", ""]) == [Question("Why?")]


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("bad.jsonl", '{"question": "ok"}\n{"reference": "no question"}\n', "bad.jsonl:2"),
        ("bad.jsonl", '{"question": "ok", "reference": 5}\n', "bad.jsonl:1"),
        ("bad.csv", "q,reference\nQ1,R1\n", "bad.csv:1"),
        ("bad.csv", 'question\nQ1\n""\n', None),
        ("empty.jsonl", "\n", "no questions"),
    ],
)
def test_bad_question_files_name_file_and_line(
    tmp_path: Path, name: str, text: str, where: str | None
) -> None:
    p = tmp_path / name
    p.write_text(text)
    if where is None:  # a CSV line with an empty question
        with pytest.raises(UserError, match=r"bad.csv:3: missing 'question'"):
            load_questions_file(p)
        return
    with pytest.raises(UserError, match=where):
        load_questions_file(p)


def test_max_new_tokens_follows_the_longest_reference() -> None:
    assert derive_max_new_tokens([]) == 256  # no references: the fallback
    assert derive_max_new_tokens([10, 100]) == 160  # 100 * 1.5 = 150 → 160
    assert derive_max_new_tokens([3]) == 64  # floor
    assert derive_max_new_tokens([5000]) == 1024  # ceiling


def test_eval_split_questions_carry_references_and_sources(workspace: Workspace) -> None:
    row = {
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "Q?"},
            {"role": "assistant", "content": "A."},
        ],
        "meta": {"source": "faq.md", "how": "variant"},
    }
    (workspace.dataset_dir / "eval.jsonl").write_text(json.dumps(row) + "\n")
    assert eval_questions(workspace) == [Question("Q?", "A.", "faq.md", True)]


def test_compare_base_vs_tuned_caches_and_stores_blind_pairs(
    workspace: Workspace, tiny: dict[str, Path]
) -> None:
    make_run(workspace, "run1", tiny["base"], tiny["a1"])
    s = compare(workspace, "run1", QS, GenSettings(max_new_tokens=8))
    assert s["questions"] == 3 and s["models"] == {"base": "base", "tuned": "tuned:run1"}
    for side in ("base", "tuned"):
        assert s[side]["with_reference"] == 2 and s[side]["n"] == 2.0
        assert 0.0 <= s[side]["rouge_l"] <= 1.0
        assert s[side]["stopped_share"] == 0.0  # the tiny model never stops by itself
    assert s["cache"] == {"hits": 0, "misses": 6}
    rows = [json.loads(x) for x in Path(s["answers"]).read_text().splitlines()]
    assert [r["question"] for r in rows] == [q.question for q in QS]
    assert rows[2]["tuned"]["metrics"] is None and rows[0]["tuned"]["metrics"]["length"] > 0
    assert all(r["base"]["text"] != r["tuned"]["text"] for r in rows)
    assert s["pairs_added"] == 3
    with RatingStore(workspace.ratings_db) as store:
        pending = store.pending("ann")
        assert [p.question for p in pending] == [q.question for q in QS]
        assert pending[0].reference == QS[0].reference and pending[0].source == "faq.md"
        answers = {r["question"]: r for r in rows}
        for p in pending:
            assert {p.answer_a, p.answer_b} == {
                answers[p.question]["base"]["text"],
                answers[p.question]["tuned"]["text"],
            }
        # The reveal names exactly the two sides.
        reveal = store.rate(pending[0].id, "ann", "A")
        assert {reveal.model_a, reveal.model_b} == {"base", "tuned:run1"}

    # Again: every answer from the cache, no duplicate pairs for the raters.
    again = compare(workspace, "run1", QS, GenSettings(max_new_tokens=8))
    assert again["cache"] == {"hits": 6, "misses": 0}
    assert again["pairs_added"] == 0 and again["tuned"] == s["tuned"]


def test_compare_two_runs_on_one_base(workspace: Workspace, tiny: dict[str, Path]) -> None:
    make_run(workspace, "run1", tiny["base"], tiny["a1"])
    make_run(workspace, "run2", tiny["base"], tiny["a2"])
    s = compare(workspace, "run2", QS[:2], GenSettings(max_new_tokens=8), against="run1")
    assert s["models"] == {"base": "tuned:run1", "tuned": "tuned:run2"}
    # run1's answers here equal run1's answers against base (same adapter, same cache key).
    solo = compare(workspace, "run1", QS[:2], GenSettings(max_new_tokens=8), add_pairs=False)
    assert solo["cache"]["hits"] == 2  # run1's side came from the run-vs-run compare
    assert solo["tuned"] == s["base"]
    with pytest.raises(UserError, match="with itself"):
        compare(workspace, "run1", QS, against="run1")


def test_compare_runs_whose_ids_hold_dots(workspace: Workspace, tiny: dict[str, Path]) -> None:
    # PEFT cannot name an adapter "v1.2" (a torch module name): the engine maps the name.
    make_run(workspace, "v1.1", tiny["base"], tiny["a1"])
    make_run(workspace, "v1.2", tiny["base"], tiny["a2"])
    s = compare(workspace, "v1.2", QS[:1], GenSettings(max_new_tokens=4), against="v1.1")
    assert s["models"] == {"base": "tuned:v1.1", "tuned": "tuned:v1.2"}


def test_compare_refuses_runs_on_different_bases(
    workspace: Workspace, tiny: dict[str, Path], tmp_path: Path
) -> None:
    make_run(workspace, "run1", tiny["base"], tiny["a1"])
    make_run(workspace, "run2", tmp_path / "elsewhere", tiny["a2"])
    with pytest.raises(UserError, match="different base models"):
        compare(workspace, "run2", QS, against="run1")


def test_cli_compare_json_contract_and_ask_streams(
    workspace: Workspace, tiny: dict[str, Path], tmp_path: Path, capsys
) -> None:
    make_run(workspace, "run1", tiny["base"], tiny["a1"])
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps({"question": q.question}) + "\n" for q in QS[:2]))
    ws = ["--workspace", str(workspace.root), "--json"]
    assert main(["compare", *ws, "--questions", str(qfile), "--max-new-tokens", "6"]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)  # exactly one JSON object on stdout
    assert data["questions"] == 2 and "stopped_share" in data["base"]
    assert "rouge_l" not in data["tuned"]  # no references, no reference metrics
    assert data["max_new_tokens_from"] == "option" and data["pairs_added"] == 2

    assert main(["compare", *ws, "--ask", "Where is my order?", "--max-new-tokens", "6"]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["questions"] == 1
    rows = [json.loads(x) for x in Path(data["answers"]).read_text().splitlines()]
    # The streamed text is on stderr, under each side's name.
    assert "base:" in out.err and "tuned:run1:" in out.err
    assert rows[0]["tuned"]["text"] in out.err and rows[0]["base"]["text"] in out.err

    assert main(["compare", *ws, "--ask", "x", "--questions", str(qfile)]) == 2
    assert "not both" in json.loads(capsys.readouterr().out)["error"]
    assert main(["compare", *ws, "--run", "nope"]) == 2


def test_answer_budget_comes_from_references_and_dataset(
    workspace: Workspace, tiny: dict[str, Path]
) -> None:
    make_run(workspace, "run1", tiny["base"], tiny["a1"])
    s = compare(workspace, "run1", QS[:1], add_pairs=False)
    assert s["max_new_tokens_from"] == "references" and s["settings"]["max_new_tokens"] == 64
    long_answer = " ".join(["word"] * 120)
    row = {
        "messages": [
            {"role": "user", "content": "Q?"},
            {"role": "assistant", "content": long_answer},
        ]
    }
    (workspace.dataset_dir / "train.jsonl").write_text(json.dumps(row) + "\n")
    s = compare(workspace, "run1", QS[2:], add_pairs=False)
    assert s["max_new_tokens_from"] == "dataset" and s["settings"]["max_new_tokens"] >= 176
    # One rule: a short reference does not cut a long trained answer short.
    s = compare(workspace, "run1", QS[:1], add_pairs=False)
    assert s["max_new_tokens_from"] == "references+dataset"
    assert s["settings"]["max_new_tokens"] >= 176
    assert s["tuned"]["new_tokens"] == s["settings"]["max_new_tokens"]  # it never stops early
