"""Typed errors. A user mistake raises ``UserError`` and the CLI turns it into exit status 2
with a one-line message, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a wrong path, a malformed file, an unknown option value."""


class IngestError(UserError):
    """A file (or part of one) could not be ingested. Names the file and, where known, the line."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


def one_line(e: BaseException, *, with_type: bool = True) -> str:
    """The first line of an error's message, for a one-line report. A ``UserError`` is written
    for the user and stands alone; any other error is named by its type, unless ``with_type``
    is False because the caller's sentence already says what failed."""
    first = str(e).strip().splitlines()[:1]
    if not first:
        return type(e).__name__
    if isinstance(e, UserError) or not with_type:
        return first[0]
    return f"{type(e).__name__}: {first[0]}"
