#!/usr/bin/env bash
# Many repositories: `cleanup --all-repos --dry-run` over 1,000 repositories x 100 tags of the
# real Distribution registry, as one job and as four `--shard I/4` jobs at once: wall time, peak
# memory per process (/usr/bin/time), requests against the minimum. See benches/repos.rs.
# Scale with BENCH_REPOS (default 1000) and BENCH_TAGS (default 100).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v git >/dev/null || { echo "repos bench: git is missing" >&2; exit 2; }
[ -x /usr/bin/docker-registry ] || { echo "repos bench: /usr/bin/docker-registry is missing (apt-get install docker-registry)" >&2; exit 2; }
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q time >/dev/null; else sudo apt-get install -y -q time >/dev/null; fi
fi
# BENCH_PROFILE=dev measures the dev build (dependencies at opt-level 1) without a release
# build of every crate; the registry, not berth, is the bottleneck of this benchmark.
exec cargo bench --profile "${BENCH_PROFILE:-bench}" --bench repos "$@"
