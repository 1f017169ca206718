#!/usr/bin/env bash
# Planner benchmark: 100,000 commits, 1,000 branches, 100,000 tags → plan(); prints time,
# peak heap and the ratio to the input-building baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo bench --bench plan "$@"
