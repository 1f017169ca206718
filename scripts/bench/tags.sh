#!/usr/bin/env bash
# `berth tags` on 10,000 tags (5,000 digests) in the real registry vs skopeo; see benches/tags.rs.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo bench --bench tags "$@"
