"""The command line: one command per stage, thin (parse, call the core, print)."""

from assistant_builder.cli.main import main

__all__ = ["main"]
