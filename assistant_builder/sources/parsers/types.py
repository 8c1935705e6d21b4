"""What a parser returns: question/answer pairs and prose sections, each with provenance."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Pair:
    """One question/answer pair found in a source file.

    ``variants`` holds other phrasings of the same question found in the source (QnABot
    ``q`` lists, several TSV rows sharing one answer). ``line_start``/``line_end`` are 1-based
    and inclusive; ``page`` is set for PDFs instead.
    """

    question: str
    answer: str
    source: str
    format: str
    line_start: int | None = None
    line_end: int | None = None
    page: int | None = None
    variants: list[str] = field(default_factory=list)
    how: str = "extracted"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "pair", **asdict(self)}


@dataclass
class Section:
    """A piece of prose without Q/A structure: the heading path and its text (Markdown)."""

    heading_path: list[str]
    text: str
    source: str
    format: str
    line_start: int | None = None
    line_end: int | None = None
    page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "section", **asdict(self)}


@dataclass
class Conversation:
    """A support transcript: alternating customer (``user``) and agent (``assistant``) turns,
    internal notes and bot messages already dropped. ``conversation_id`` is the export's own
    ticket or conversation id, so the dataset can split by conversation."""

    turns: list[dict[str, str]]
    conversation_id: str
    source: str
    format: str
    line_start: int | None = None
    line_end: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "conversation", **asdict(self)}


@dataclass
class Skipped:
    """Something that was not ingested, with the reason a user can act on."""

    path: str
    reason: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "reason": self.reason}
        if self.line is not None:
            d["line"] = self.line
        return d


@dataclass
class ParseResult:
    format: str
    pairs: list[Pair] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    # How the bytes were decoded, when it was not declared or plain UTF-8 (a guess, a repair):
    # ingest reports it so the user can check the text.
    encoding_note: str | None = None
    # Things read with a repair the user should know of (a row's extra cells joined back,
    # control characters removed): kept, unlike ``skipped``, but reported with their line.
    notes: list[Skipped] = field(default_factory=list)
