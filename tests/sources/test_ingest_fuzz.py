"""Property tests: whatever bytes arrive, a parser returns a ParseResult or raises IngestError.

Inputs are random bytes and random cuts/corruptions of valid files of every format. A
non-IngestError exception inside a parser is turned into IngestError("internal parser
error ...") by ``parse_file`` as a safety net, so these tests also fail on that reason: it
means a parser has a bug.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant_builder.errors import IngestError
from assistant_builder.sources.parsers import ParseResult, parse_file

FIX = Path(__file__).parents[1] / "fixtures" / "ingest"
VALID: dict[str, bytes] = {
    ".md": (FIX / "kramdown_faq.md").read_bytes(),
    ".rst": (FIX / "sphinx_faq.rst").read_bytes(),
    ".html": (FIX / "helpcentre.html").read_bytes(),
    ".txt": (FIX / "plain_faq.txt").read_bytes(),
    ".csv": (FIX / "lamp_faq.csv").read_bytes(),
    ".tsv": b"Question\tAnswer\tQnaId\nHi?\tHello\\nthere\t1\nHey\tHello\\nthere\t1\n",
    ".json": (FIX / "sharegpt.json").read_bytes(),
    ".jsonl": (FIX / "chat_messages.jsonl").read_bytes(),
    ".pdf": (FIX / "lamp_faq.pdf").read_bytes(),  # written by test_ingest_formats.make_pdf
}
SETTINGS = settings(
    max_examples=int(os.environ.get("INGEST_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _check(tmp_path: Path, name: str, data: bytes) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    try:
        result = parse_file(f)
    except IngestError as exc:
        assert "internal parser error" not in exc.reason, exc.reason
        assert exc.reason
        return
    assert isinstance(result, ParseResult)
    for p in result.pairs:
        assert isinstance(p.question, str) and p.question.strip()
        assert isinstance(p.answer, str) and p.answer.strip()
        if p.line_start is not None and p.line_end is not None:
            assert 1 <= p.line_start <= p.line_end


@pytest.mark.parametrize("ext", sorted(VALID))
@SETTINGS
@given(data=st.binary(max_size=2000))
def test_random_bytes(tmp_path: Path, ext: str, data: bytes) -> None:
    _check(tmp_path, "random" + ext, data)


@pytest.mark.parametrize("ext", sorted(VALID))
@SETTINGS
@given(
    cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4)
)
def test_truncated_and_corrupted_valid_files(
    tmp_path: Path, ext: str, cut: float, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(VALID[ext][: int(len(VALID[ext]) * cut)])
    for where, value in flips:
        if data:
            data[int(where * (len(data) - 1))] = value
    _check(tmp_path, "cut" + ext, bytes(data))


@pytest.mark.parametrize("ext", sorted(VALID))
@SETTINGS
@given(text=st.text(max_size=600))
def test_random_text(tmp_path: Path, ext: str, text: str) -> None:
    _check(tmp_path, "text" + ext, text.encode("utf-8", "surrogatepass"))
