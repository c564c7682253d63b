#!/bin/sh
# Fleet benchmark: pteguard diagnose vs plain ansible-playbook on loopback hosts in a private network namespace
# (needs root). Arguments go to bench/fleet.py, e.g. bench/fleet.sh --hosts 10,50,100 --rounds 3
set -eu
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/fleet.py "$@"
