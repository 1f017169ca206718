#!/usr/bin/env bash
# Platform providers: `berth cleanup` through the fakes of GitHub Packages, GitLab, Docker Hub, Harbor, Quay, ACR and Google (gcr)
# (in front of the real Distribution registry) vs the plain Distribution path on the same 5,000
# tags: scan time ratio, and the real run's requests against the minimum its plan needs.
# See benches/providers.rs. Scale with BENCH_TAGS (default 5000).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v git >/dev/null || { echo "providers bench: git is missing" >&2; exit 2; }
[ -x /usr/bin/docker-registry ] || { echo "providers bench: /usr/bin/docker-registry is missing (apt-get install docker-registry)" >&2; exit 2; }
# BENCH_PROFILE=dev measures the dev build without a release build of every crate.
exec cargo bench --profile "${BENCH_PROFILE:-bench}" --bench providers "$@"
