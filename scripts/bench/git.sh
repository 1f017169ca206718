#!/usr/bin/env bash
# Git benchmark: generates a repository (100,000 commits, 1,000 branches, 500 tags by
# default) with `git fast-import`, writes its commit-graph, then times berth's git facts
# loading and its keep set for 50,000 linked tags (facts + plan) against
# `git rev-list --all --count` on it, the two run alternately, and prints the ratios (target
# <= 2) and peak memory; then the planner alone on 100,000 tags.
# Extra arguments go to benches/git.rs (--dir, --commits, --branches, --tags, --runs,
# --linked, --planner-tags).
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "git $(git --version | cut -d' ' -f3), $(nproc) cores"
cargo bench --bench git -- "$@"
