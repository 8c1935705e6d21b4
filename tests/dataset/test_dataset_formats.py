"""Dataset exports: each format validates, round-trips, and replaces the old one atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant_builder.dataset.build import BuildOptions, build_dataset, load_split
from assistant_builder.dataset.formats import (
    FORMATS,
    export_dataset,
    triples,
    validate_alpaca,
    validate_file,
    validate_sharegpt,
)
from assistant_builder.errors import UserError
from assistant_builder.sources.ingest import ingest_paths

CSV = "question,answer\n" + "".join(
    f'"How do I set option {i}?","Open Settings, then:\n\n1. pick option {i}\n2. save"\n'
    for i in range(12)
)


@pytest.fixture
def built(workspace, tmp_path: Path):
    (tmp_path / "faq.csv").write_text(CSV)
    ingest_paths(workspace, [tmp_path / "faq.csv"])
    build_dataset(workspace, BuildOptions(variants=1, out_of_scope=2))
    return workspace


def _expected(ws, split: str) -> list[tuple[str, str, str]]:
    return [triples(r) for r in load_split(ws, split)]


def _read_back(fmt: str, folder: Path, split: str) -> list[tuple[str, str, str]]:
    if fmt == "openai":
        rows = [json.loads(x) for x in (folder / f"{split}.jsonl").read_text().splitlines()]
        return [triples(r) for r in rows]
    if fmt == "sharegpt":
        rows = json.loads((folder / f"{split}.json").read_text())
        back = []
        for r in rows:
            t = {c["from"]: c["value"] for c in r["conversations"]}
            back.append((t.get("system", ""), t["human"], t["gpt"]))
        return back
    if fmt == "alpaca":
        rows = json.loads((folder / f"{split}.json").read_text())
        return [(r.get("system", ""), r["instruction"], r["output"]) for r in rows]
    if fmt == "hf":
        from datasets import load_from_disk

        return [triples(r) for r in load_from_disk(str(folder))[split].to_list()]
    import pyarrow.parquet as pq

    return [triples(r) for r in pq.read_table(folder / f"{split}.parquet").to_pylist()]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_round_trips(built, fmt: str) -> None:
    info = export_dataset(built, fmt)
    folder = Path(info["path"])
    assert folder == built.exports_dir / "dataset" / fmt and info["verified"]
    for split in ("train", "eval"):
        expected = _expected(built, split)
        assert expected, "the fixture has both splits"
        assert _read_back(fmt, folder, split) == expected
    assert "\n1. pick option" in _read_back(fmt, folder, "train")[0][2], "lists survive"
    leftovers = [p.name for p in folder.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "no temporary folders left behind"


def test_openai_export_uses_the_shared_validator(built) -> None:
    folder = Path(export_dataset(built, "openai")["path"])
    n, problems = validate_file(folder / "train.jsonl")
    assert problems == [] and n == len(load_split(built, "train"))
    assert "meta" not in (folder / "train.jsonl").read_text()


def test_validators_catch_broken_rows() -> None:
    assert validate_sharegpt([{"conversations": [{"from": "gpt", "value": "x"}]}])
    empty = [{"from": "human", "value": ""}, {"from": "gpt", "value": "a"}]
    assert validate_sharegpt([{"conversations": empty}])
    good = [{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}]
    assert validate_sharegpt(good) == []
    assert validate_alpaca([{"instruction": "", "input": "", "output": "a"}])
    assert validate_alpaca({"instruction": "q"}) == ["top level must be a JSON array"]


def test_failed_export_keeps_the_previous_one(built, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant_builder.dataset import formats as dataset_formats

    first = Path(export_dataset(built, "alpaca")["path"])
    before = (first / "train.json").read_text()
    monkeypatch.setitem(
        dataset_formats.WRITERS, "alpaca", lambda folder, splits: ["row 0: broken on purpose"]
    )
    with pytest.raises(UserError, match="failed validation"):
        export_dataset(built, "alpaca")
    assert (first / "train.json").read_text() == before
    assert [p.name for p in first.parent.iterdir()] == ["alpaca"]


def test_export_needs_a_built_dataset(workspace) -> None:
    with pytest.raises(UserError, match="no dataset"):
        export_dataset(workspace, "openai")
    with pytest.raises(UserError, match="unknown dataset format"):
        export_dataset(workspace, "csv")


def test_cli_export_to_out_dir(built, tmp_path: Path, run_cli) -> None:
    out = tmp_path / "out"
    args = ["dataset", "--export", "sharegpt,alpaca", "--out", str(out), "--json"]
    proc = run_cli(built.root, *args)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result["exports"]) == {"sharegpt", "alpaca"}
    assert (out / "sharegpt" / "train.json").is_file() and (out / "alpaca" / "eval.json").is_file()
    bad = run_cli(built.root, "dataset", "--export", "xml")
    assert bad.returncode == 2 and "unknown dataset format" in bad.stderr
