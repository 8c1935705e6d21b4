#!/usr/bin/env bash
# The whole journey, headless, on the starter data: init → ingest → dataset → train → compare
# → export. Uses ./demo-workspace (or $ASSISTANT_BUILDER_WORKSPACE); extra arguments go to
# `train` (e.g. --set epochs=1).
set -euo pipefail
ws=${ASSISTANT_BUILDER_WORKSPACE:-demo-workspace}
ab() { assistant-builder --workspace "$ws" "$@"; }
ab init --demo
ab ingest "$ws/demo-data"
ab dataset
ab train "$@"
ab compare
ab export --format adapter
echo "Done. Everything is in $ws/ (runs/, exports/)." >&2
