from __future__ import annotations

import pytest

from assistant_builder.compare.golden import _summarise


def _row(paraphrase: bool, base: float, tuned: float, stopped: bool) -> dict:
    return {
        "paraphrase": paraphrase,
        "base": {"rouge_l": base, "token_f1": base, "stopped": True},
        "tuned": {"rouge_l": tuned, "token_f1": tuned / 2, "stopped": stopped},
    }


def test_summary_splits_verbatim_and_reworded() -> None:
    rows = [_row(False, 0.1, 0.5, True), _row(False, 0.3, 0.7, False), _row(True, 0.2, 0.4, True)]
    s = _summarise(rows, "tuned")
    assert s["verbatim"]["n"] == 2 and s["reworded"]["n"] == 1 and s["all"]["n"] == 3
    assert s["verbatim"]["rouge_l"] == pytest.approx(0.6)
    assert s["verbatim"]["token_f1"] == pytest.approx(0.3)
    assert s["verbatim"]["stopped"] == pytest.approx(0.5)
    assert s["reworded"]["rouge_l"] == pytest.approx(0.4)
    assert s["all"]["rouge_l"] == pytest.approx((0.5 + 0.7 + 0.4) / 3)


def test_summary_leaves_out_empty_splits() -> None:
    s = _summarise([_row(False, 0.1, 0.2, True)], "base")
    assert "reworded" not in s and s["all"]["n"] == 1
