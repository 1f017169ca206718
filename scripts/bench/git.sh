#!/usr/bin/env bash
# Git benchmark: generates a repository (100,000 commits, 1,000 branches, 500 tags by
# default) with `git fast-import`, writes its commit-graph, then times berth's git facts
# loading against `git rev-list --all --count` on it and prints the ratio and peak memory.
# Extra arguments go to benches/git.rs (--dir, --commits, --branches, --tags, --runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "git $(git --version | cut -d' ' -f3), $(nproc) cores"
cargo bench --bench git -- "$@"
