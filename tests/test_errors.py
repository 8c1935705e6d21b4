"""errors.one_line: the one way an error becomes a one-line report."""

from __future__ import annotations

from assistant_builder.errors import IngestError, UserError, one_line


def test_a_user_error_stands_alone_and_others_are_named_by_type() -> None:
    assert (
        one_line(UserError("faq.md:3: not valid JSON\nmore detail")) == "faq.md:3: not valid JSON"
    )
    assert one_line(IngestError("faq.md", "no questions", 7)) == "faq.md:7: no questions"
    assert one_line(ValueError("  bad value\nsecond line")) == "ValueError: bad value"
    assert one_line(ValueError("bad value"), with_type=False) == "bad value"


def test_an_empty_message_gives_the_type() -> None:
    assert one_line(MemoryError()) == "MemoryError"
    assert one_line(UserError("")) == "UserError"
