#!/usr/bin/env bash
# `berth cleanup` at scale: 10,000 tags in 10 repositories of the real Distribution registry,
# a 50,000-commit history; cold and warm dry runs, the real run deleting half, HTTP requests
# against the minimum, and the same deletions by a `skopeo delete` loop. See benches/cleanup.rs.
# Scale with BENCH_TAGS_PER_REPO (default 1000) and BENCH_COMMITS (default 50000).
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in git skopeo; do
  command -v "$tool" >/dev/null || { echo "cleanup bench: $tool is missing (scripts/test.sh installs it)" >&2; exit 2; }
done
[ -x /usr/bin/docker-registry ] || { echo "cleanup bench: /usr/bin/docker-registry is missing (apt-get install docker-registry)" >&2; exit 2; }
exec cargo bench --bench cleanup "$@"
