"""assistant-builder: turn FAQ pages and domain documents into a fine-tuned domain chatbot.

The package is split into a plain-Python core (ingest, dataset, train, compare, export, serve)
and a thin Textual UI in ``assistant_builder.tui``. Core modules never import Textual, and
heavy libraries (torch, transformers, trl) are imported inside functions so that the CLI and
the TUI start fast.
"""

__version__ = "0.1.0"
