#!/usr/bin/env bash
# Engine output benchmarks: builds bench_stream, then runs it and
# the Python json.loads baseline on the same corpus and prints the table for
# benchmarks/RESULTS.md. Quiet machines give steadier numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${RTB_BUILD_DIR:-build}
[[ -f $build/build.ninja ]] || meson setup "$build" --wrap-mode=nofallback
meson compile -C "$build" bench_stream >/dev/null
exec /usr/bin/python3 benchmarks/stream_report.py "$build/benchmarks/bench_stream" "$@"
