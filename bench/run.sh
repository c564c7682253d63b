#!/bin/sh
# Run the pteguard benchmark (SYNTHETIC ~1 GiB log under build/bench/). Arguments go to bench/run_bench.py.
set -eu
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/run_bench.py "$@"
