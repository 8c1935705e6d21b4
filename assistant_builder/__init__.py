"""assistant-builder: turn FAQ pages and domain documents into a fine-tuned domain chatbot.

The package is split into a plain-Python core (ingest, dataset, train, compare, export, serve)
and a thin Textual UI in ``assistant_builder.tui``. Core modules never import Textual, and
heavy libraries (torch, transformers, trl) are imported inside functions so that the CLI and
the TUI start fast.
"""

__version__ = "0.1.0"


def package_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """The installed version of each distribution (None: not installed), read from its metadata
    so that nothing is imported: recorded with every run, shown by ``doctor`` and benchmarks."""
    import importlib.metadata as md

    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return versions
