"""The phone length table (pii/phone_table.py) is libphonenumber's, and answers as it does."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from assistant_builder.dataset.pii import numbers, phone_table
from assistant_builder.dataset.pii.common import DEFAULT_REGIONS

phonenumbers = pytest.importorskip("phonenumbers")  # a pinned dependency; the table is its data
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "pii"


def _reference(cand: str, intl: bool, regions: tuple[str, ...]) -> bool:
    try:
        if intl:
            num = phonenumbers.parse("+" + cand[2:] if cand.startswith("00") else cand, None)
            return bool(phonenumbers.is_possible_number(num))
        return any(phonenumbers.is_possible_number(phonenumbers.parse(cand, r)) for r in regions)
    except phonenumbers.NumberParseException:
        return False


def _candidates() -> list[str]:
    texts = []
    for name in ("labelled.jsonl", "labelled_heldout.jsonl", "wild.jsonl"):
        lines = (BENCH / name).read_text(encoding="utf-8").splitlines()[1:]
        texts += [json.loads(x)["text"] for x in lines if x.strip()]
    found = [
        m.group().strip()
        for t in texts
        for m in numbers.starts(numbers._PHONE_START, numbers._PHONE, t)
        if numbers._phone_shape(m.group().strip())
    ]
    rnd = random.Random(7)  # random digits in the shapes of national and international numbers
    for _ in range(3000):
        d = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(7, 14)))
        found.append(rnd.choice(["+", "00", "0", "", "(0", "1-"]) + d[:3] + " " + d[3:])
    return found


def test_table_is_the_installed_metadata() -> None:
    """Fails after a phonenumbers upgrade; then run
    `python -m assistant_builder.dataset.pii.phone_table`."""
    assert json.loads(phone_table.TABLE.read_text(encoding="utf-8")) == phone_table.generate()


def test_answers_as_libphonenumber() -> None:
    cands = _candidates()
    differ = []
    for c in cands:
        intl = c.startswith(("+", "00"))
        if numbers._is_phone(c, intl, DEFAULT_REGIONS) != _reference(c, intl, DEFAULT_REGIONS):
            differ.append(c)
    # The table skips libphonenumber's per-region number patterns: it may say "possible" where
    # libphonenumber does not (never the other way), and seldom.
    assert all(numbers._is_phone(c, c.startswith(("+", "00")), DEFAULT_REGIONS) for c in differ)
    assert len(differ) <= 0.02 * len(cands), differ[:20]


def test_unknown_region_falls_back_to_phonenumbers() -> None:
    assert numbers._is_phone("0612 345 678", False, ("ZZ",)) is False
    assert phone_table.possible_national("612345678", "ZZ") is None
