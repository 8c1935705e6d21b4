"""The core must not import Textual, and the CLI must not import torch to answer --help."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import assistant_builder

CORE_MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(assistant_builder.__path__, "assistant_builder.")
    if not m.name.startswith("assistant_builder.tui") and not m.name.endswith("__main__")
)


def test_core_modules_found() -> None:
    assert "assistant_builder.dataset.build" in CORE_MODULES
    assert "assistant_builder.train.launch" in CORE_MODULES
    assert "assistant_builder.status" in CORE_MODULES
    assert "assistant_builder.runs" in CORE_MODULES


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_does_not_import_textual(module: str) -> None:
    code = f"import sys, {module}; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"{module} imports textual"


def test_cli_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from assistant_builder.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"
