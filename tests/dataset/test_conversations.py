"""The one conversation reader: question, answer and meta of a row, tolerant and strict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant_builder.dataset.conversations import Turn, read_conversations, read_turns, turn_of
from assistant_builder.errors import UserError


def _row(*pairs: tuple[str, str], meta: dict[str, str] | None = None) -> dict[str, object]:
    return {"messages": [{"role": r, "content": c} for r, c in pairs], "meta": meta or {}}


def test_turn_takes_the_first_question_and_the_last_answer() -> None:
    row = _row(("system", "Be brief."), ("user", "Q1?"), ("assistant", "A1."),
               ("user", "Q2?"), ("assistant", "A2."), meta={"source": "faq.md"})  # fmt: skip
    assert turn_of(row) == Turn("Q1?", "A2.", {"source": "faq.md"})


def test_read_turns_limits_and_tolerates_a_missing_split(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    rows = [_row(("user", f"Q{i}?"), ("assistant", f"A{i}.")) for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [t.question for t in read_turns(path, limit=2)] == ["Q0?", "Q1?"]
    assert [t.answer for t in read_turns(path)] == ["A0.", "A1.", "A2."]
    assert read_turns(tmp_path / "missing.jsonl") == []


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{not json", "not valid JSON"),
        ('{"messages": []}', 'expected an object with a "messages" list'),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "needs a role and a text"),
        (json.dumps(_row(("assistant", "A."), ("user", "Q?"))), "must end with an assistant"),
        (json.dumps(_row(("user", "Q?"), ("assistant", " "))), "assistant answer is empty"),
    ],
)
def test_strict_reader_names_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    path = tmp_path / "train.jsonl"
    good = json.dumps(_row(("user", "Q?"), ("assistant", "A.")))
    path.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(UserError, match=rf"train\.jsonl:3: .*{why}"):
        read_conversations(path)
    path.write_text(f"{good}\n")
    assert read_conversations(path) == [json.loads(good)]
