"""eval/compare --systems: base, tuned, base+retrieval, tuned+retrieval scored side by side in
today's shape, with retrieval's top-k hit rate; the grounded answer with its sources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.tiny_models import make_run, tiny_assets

from assistant_builder.compare.golden import evaluate, parse_systems
from assistant_builder.dataset.build import build_dataset
from assistant_builder.errors import UserError
from assistant_builder.models.engine import Engine, GenSettings
from assistant_builder.retrieval.answer import answer_with_retrieval
from assistant_builder.retrieval.index import open_index
from assistant_builder.sources.ingest import ingest_paths
from assistant_builder.workspace import Workspace

FAQ = """# FAQ

## How do I reset my password?

Open Settings, then Account, and choose Reset password.

## How do I export my notes?

Use File, Export, and pick Markdown or PDF.
"""
GOLDEN = [
    {"question": "How do I reset my password?",
     "reference": "Open Settings, Account, Reset password."},
    {"question": "i forgot my password what now", "paraphrase": True,
     "reference": "Open Settings, then Account, and choose Reset password."},
    {"question": "can i get my notes out as pdf", "paraphrase": True,
     "reference": "Use File, Export, and pick Markdown or PDF."},
]  # fmt: skip
ALL = "base,tuned,base+retrieval,tuned+retrieval"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_assets(tmp_path_factory)


def _setup(ws: Workspace, tmp_path: Path, tiny: dict[str, Path]) -> Path:
    f = tmp_path / "faq.md"
    f.write_text(FAQ, encoding="utf-8")
    ingest_paths(ws, [f])
    build_dataset(ws)
    make_run(ws, "run1", tiny["base"], tiny["a1"])
    golden = tmp_path / "golden.jsonl"
    golden.write_text("".join(json.dumps(r) + "\n" for r in GOLDEN))
    return golden


def test_parse_systems() -> None:
    assert parse_systems(None) == ["base", "tuned"]
    assert parse_systems("tuned+retrieval, base,tuned+retrieval") == ["tuned+retrieval", "base"]
    with pytest.raises(UserError, match="unknown system rag"):
        parse_systems("base,rag")


def test_four_systems_in_one_eval(
    workspace: Workspace, tmp_path: Path, tiny: dict[str, Path]
) -> None:
    golden = _setup(workspace, tmp_path, tiny)
    s = evaluate(workspace, golden, "run1", settings=GenSettings(max_new_tokens=6),
                 systems=ALL.split(","))  # fmt: skip
    assert s["systems"] == ALL.split(",")
    for system in s["systems"]:
        assert set(s[system]) == {"verbatim", "reworded", "all"}
        assert set(s[system]["all"]) == {"n", "rouge_l", "token_f1", "stopped"}
    assert s["retrieval"]["k"] == 3 and s["retrieval"]["passages"] == 2
    assert s["retrieval"]["hit_rate"] == {"verbatim": 1.0, "reworded": 1.0, "all": 1.0}
    row = s["rows"][1]
    assert row["retrieval"]["hit"] and row["retrieval"]["gold"].endswith(":3-5")
    # Retrieval changes what the model reads, so the answers differ from closed-book ones.
    assert any(r["tuned"]["text"] != r["tuned+retrieval"]["text"] for r in s["rows"])
    assert "gain" in s  # base and tuned both scored: today's gain stays


def test_answer_with_retrieval_returns_sources(
    workspace: Workspace, tmp_path: Path, tiny: dict[str, Path]
) -> None:
    _setup(workspace, tmp_path, tiny)
    index, notices = open_index(workspace)
    engine = Engine(str(tiny["base"]), tiny["a1"])
    four = GenSettings(max_new_tokens=4)
    ans = answer_with_retrieval(
        engine, index, "how to export notes as pdf", system_prompt=None, settings=four,
        notices=notices,
    )  # fmt: skip
    assert ans.text and ans.sources[0]["title"] == "How do I export my notes?"
    assert ans.sources[0]["where"].endswith(":7-9") and ans.notices == []
    none = answer_with_retrieval(engine, index, "zzz qqq", system_prompt=None, settings=four)
    assert none.sources == [] and "no passage" in none.notices[0]


def _cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "assistant_builder", "--workspace", str(ws), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_cli_systems_json_and_bad_input(
    workspace: Workspace, tmp_path: Path, tiny: dict[str, Path]
) -> None:
    golden = _setup(workspace, tmp_path, tiny)
    root = workspace.root
    r = _cli(root, "eval", str(golden), "--systems", "base,nope", "--json")
    assert r.returncode == 2 and "unknown system nope" in json.loads(r.stdout)["error"]
    r = _cli(root, "compare", "--ask", "hi?", "--systems", "tuned+retrieval", "--json")
    assert r.returncode == 2 and "reference" in json.loads(r.stdout)["error"]
    r = _cli(root, "compare", "--questions", str(golden), "--systems",
             "tuned,tuned+retrieval", "--max-new-tokens", "4", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out["tuned+retrieval"]["reworded"]) == {"n", "rouge_l", "token_f1", "stopped"}
    assert out["retrieval"]["hit_rate"]["all"] == 1.0 and "rows" not in out


def test_base_systems_need_no_trained_run(
    workspace: Workspace, tmp_path: Path, tiny: dict[str, Path]
) -> None:
    f = tmp_path / "faq.md"
    f.write_text(FAQ, encoding="utf-8")
    ingest_paths(workspace, [f])
    build_dataset(workspace)
    settings = workspace.load_settings()
    settings.base_model = str(tiny["base"])
    workspace.save_settings(settings)
    golden = tmp_path / "golden.jsonl"
    golden.write_text("".join(json.dumps(r) + "\n" for r in GOLDEN))
    s = evaluate(workspace, golden, settings=GenSettings(max_new_tokens=4),
                 systems=["base", "base+retrieval"])  # fmt: skip
    assert s["run"] is None and s["base+retrieval"]["all"]["n"] == 3
    assert Path(s["path"]).parent == workspace.root / "eval"
    with pytest.raises(UserError, match="no trained run"):
        evaluate(workspace, golden, systems=["tuned+retrieval"])
