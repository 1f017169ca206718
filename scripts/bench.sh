#!/usr/bin/env bash
# Benchmarks (not timed tests): `scripts/bench.sh NAME` runs scripts/bench/NAME.sh, which
# prints its figures and ratios against a baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:-}"
if [ -z "$name" ] || [ ! -f "scripts/bench/$name.sh" ]; then
  echo "usage: scripts/bench.sh NAME   where NAME is one of:" >&2
  ls scripts/bench | sed 's/\.sh$//; s/^/  /' >&2
  exit 2
fi
shift
exec bash "scripts/bench/$name.sh" "$@"
