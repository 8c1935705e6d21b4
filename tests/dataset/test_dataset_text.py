"""Soft-wrapped answer paragraphs are joined (Markdown semantics); structure is kept."""

from __future__ import annotations

from assistant_builder.sources.parsers.cleanup import unwrap_paragraphs

WRAPPED = """Homebrew automatically uninstalls old versions of each formula
that is upgraded, and periodically performs
additional cleanup.

* An Apple Silicon CPU or
  64-bit Intel CPU
* macOS Sonoma
  1. nested item
     wrapped

```sh
brew update
brew upgrade
```

| option | meaning |
|--------|---------|
| `-v`   | verbose |

    indented code
    second line

A hard break\\
stays.
## Heading
Text after the heading
continues."""


def test_paragraph_lines_are_joined_and_structure_is_kept() -> None:
    out = unwrap_paragraphs(WRAPPED)
    assert out.split("\n\n")[0] == (
        "Homebrew automatically uninstalls old versions of each formula that is upgraded, "
        "and periodically performs additional cleanup."
    )
    assert "* An Apple Silicon CPU or 64-bit Intel CPU\n* macOS Sonoma\n" in out
    assert "  1. nested item wrapped" in out
    assert "```sh\nbrew update\nbrew upgrade\n```" in out
    assert "| option | meaning |\n|--------|---------|\n| `-v`   | verbose |" in out
    assert "    indented code\n    second line" in out
    assert "A hard break\\\nstays." in out
    assert "## Heading\nText after the heading continues." in out


def test_unwrap_is_idempotent_and_keeps_blank_lines() -> None:
    once = unwrap_paragraphs(WRAPPED)
    assert unwrap_paragraphs(once) == once
    assert once.count("\n\n") == WRAPPED.count("\n\n")
    assert unwrap_paragraphs("One.\n\nTwo.") == "One.\n\nTwo."
