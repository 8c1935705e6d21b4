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
