"""What keeps redaction cheap keeps its findings: the anchored scans find exactly what a scan of
the whole text finds, an FAQ build does not import phonenumbers, an unchanged cache is not
rewritten. (No timing here: benchmarks/pii_redaction.py measures it.)"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant_builder.dataset.pii import context, numbers, secrets
from assistant_builder.dataset.pii.common import starts

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "pii"
REPO = Path(__file__).resolve().parents[2]


def _texts() -> list[str]:
    texts = []
    for name in ("labelled.jsonl", "labelled_heldout.jsonl"):
        lines = (BENCH / name).read_text(encoding="utf-8").splitlines()[1:]
        texts += [json.loads(x)["text"] for x in lines if x.strip()]
    rnd = random.Random(3)
    mixed = []
    for _ in range(300):  # run-ons, other cases, no spaces: the edges of each pattern
        a, b = rnd.sample(texts, 2)
        t = a + rnd.choice(["", " ", "\n", "@", "+"]) + b
        mixed.append(rnd.choice([t, t.upper(), t.lower(), t.replace(" ", ""), t[1:]]))
    return texts + mixed + ["", "@", "@@a@b.co", "x@y.com@z.io", "İstanbul 5 Hauptstraße 7"]


TEXTS = _texts()


def _spans(ms: Iterator[re.Match[str]]) -> list[tuple[int, int]]:
    return [m.span() for m in ms]


def test_phone_scan_finds_every_candidate_of_seven_digits_a_full_scan_finds() -> None:
    """_PHONE_START looks ahead for the seven digits a phone needs (_phone_shape): the
    candidates it skips are those the shape check would drop, and no other."""

    def shaped(ms: Iterator[re.Match[str]]) -> list[tuple[int, int]]:
        return [m.span() for m in ms if numbers._phone_shape(m.group().strip())]

    for t in TEXTS:
        got = shaped(starts(numbers._PHONE_START, numbers._PHONE, t))
        assert got == shaped(numbers._PHONE.finditer(t)), t


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def test_card_scan_finds_every_run_of_thirteen_digits() -> None:
    """_DIGIT_RUN looks ahead for the 13 digits the shortest card has."""
    loose = re.compile(numbers._DIGIT_RUN.pattern.replace(r"(?=(?:[ -]?\d){12})", ""))
    assert loose.pattern != numbers._DIGIT_RUN.pattern
    for t in TEXTS:
        long_runs = [m.span() for m in loose.finditer(t) if len(_digits(m.group())) >= 13]
        assert [m.span() for m in numbers._DIGIT_RUN.finditer(t)] == long_runs, t


@pytest.mark.parametrize(
    ("start", "rx", "back"),
    [
        (numbers._IBAN_START, numbers._IBAN, 2),
        (context._ADDRESS_START, context._ADDRESS, 0),
    ],
    ids=["iban", "address"],
)
def test_anchored_scan_finds_what_a_full_scan_finds(
    start: re.Pattern[str], rx: re.Pattern[str], back: int
) -> None:
    for t in TEXTS:
        assert _spans(starts(start, rx, t, back)) == _spans(rx.finditer(t)), t


def test_emails_and_names_found_from_their_anchors_as_by_a_full_scan() -> None:
    for t in TEXTS:
        assert [(f.start, f.end) for f in secrets._emails(t)] == _spans(secrets._EMAIL.finditer(t))
        assert _spans(context._said(t)) == _spans(context._PERSON_SAID.finditer(t)), t


def test_keys_found_in_long_words_as_in_the_whole_text() -> None:
    """Keys and tokens are searched word by word; the patterns' shortest match (15 and 24
    characters) is what lets shorter words be skipped."""
    for t in TEXTS:
        got = [(f.start, f.end) for f in secrets._secrets(t) if f.kind == "api_key"]
        if not secrets._LONG_TOKEN.search(t):
            continue
        full = [m.span() for m in secrets._PREFIXED_KEY.finditer(t)]
        for m in secrets._TOKEN.finditer(t):
            before = t[max(0, m.start() - 30) : m.start()]
            if secrets._is_high_entropy(m.group()) or secrets._is_hex_secret(m.group(), before):
                full.append(m.span())
        assert set(full) <= set(got), t


def test_an_faq_build_does_not_import_phonenumbers(tmp_path: Path) -> None:
    """Importing phonenumbers takes longer than an FAQ's whole dataset build; it is imported
    only when a number needs its length rules."""
    code = (
        "import sys; from pathlib import Path\n"
        "from assistant_builder.workspace import Workspace\n"
        "from assistant_builder.sources.ingest import ingest_paths\n"
        "from assistant_builder.dataset.build import BuildOptions, build_dataset\n"
        f"ws = Workspace(Path({str(tmp_path / 'ws')!r})); ws.create()\n"
        f"ingest_paths(ws, [Path({str(REPO / 'data_templates')!r})])\n"
        "r = build_dataset(ws, BuildOptions())\n"
        "print(r.redaction['enabled'], 'phonenumbers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert out.split()[-2:] == ["True", "False"]


def test_an_unchanged_cache_is_not_rewritten(tmp_path: Path) -> None:
    from assistant_builder.dataset.build import BuildOptions, build_dataset
    from assistant_builder.sources.ingest import ingest_paths
    from assistant_builder.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.create()
    ingest_paths(ws, [REPO / "data_templates"])
    build_dataset(ws, BuildOptions())
    cache = ws.cache_dir / "redaction.json"
    before = cache.stat().st_mtime_ns, cache.read_text()
    build_dataset(ws, BuildOptions())
    assert (cache.stat().st_mtime_ns, cache.read_text()) == before
