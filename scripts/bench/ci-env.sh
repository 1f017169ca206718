#!/usr/bin/env bash
# Benchmark: `berth ci-env` with a verified login against the real Distribution registry on
# loopback (htpasswd mode), target < 100 ms per run (DESIGN §9). Baselines measured in the same
# run: `berth --version` (process start-up) and `ci-env --no-login` (everything but the login).
# Usage: scripts/bench.sh ci-env [RUNS]   (default 50 runs each; release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-50}"

cargo build --release --quiet --bin berth
berth="$PWD/target/release/berth"

work="$(mktemp -d)"
registry_pid=""
cleanup() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# berth / s3cret-pass, the same fixed bcrypt line the test harness uses.
echo 'berth:$2y$05$FN78OXwA7nm.1gcfhm31DuUSQkAvVtFg.BwYxbTGZkgL2bM9yPh5a' >"$work/htpasswd"
mkdir -p "$work/storage" "$work/runner" "$work/home"
for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  cat >"$work/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: 127.0.0.1:$port
auth:
  htpasswd:
    realm: bench
    path: $work/htpasswd
YAML
  /usr/bin/docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" 2>/dev/null | grep -q 401; then
      break 2
    fi
    if ! kill -0 "$registry_pid" 2>/dev/null; then break; fi
    sleep 0.05
  done
  kill "$registry_pid" 2>/dev/null || true
  wait "$registry_pid" 2>/dev/null || true
  registry_pid=""
  [ "$attempt" -eq 5 ] && { echo "the registry did not start:" >&2; cat "$work/registry.log" >&2; exit 1; }
done

job_env=(
  env -i PATH="$PATH" HOME="$work/home"
  GITLAB_CI=true CI_COMMIT_SHA=1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d
  CI_COMMIT_BRANCH=main CI_COMMIT_REF_NAME=main
  CI_REGISTRY="127.0.0.1:$port" CI_REGISTRY_IMAGE="127.0.0.1:$port/group/project"
  CI_REGISTRY_USER=berth CI_REGISTRY_PASSWORD=s3cret-pass
  CI_PROJECT_URL=https://gitlab.example.com/group/project
  CI_BUILDS_DIR="$work/runner"
)

# mean_ms LABEL CMD...: runs CMD $runs times (after one warm-up) and prints the mean in ms.
mean_ms() {
  local start end
  "$@" >/dev/null 2>&1
  start=$(date +%s%N)
  for _ in $(seq 1 "$runs"); do "$@" >/dev/null 2>&1; done
  end=$(date +%s%N)
  echo $(( (end - start) / runs / 1000 ))
}

# Each ci-env run leaves its per-job directory behind (as a job would until --cleanup);
# they are removed with the work dir.
base_us=$(mean_ms "$berth" --version)
nologin_us=$(mean_ms "${job_env[@]}" "$berth" ci-env gitlab --no-login)
login_us=$(mean_ms "${job_env[@]}" "$berth" ci-env gitlab)

fmt() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
echo "ci-env benchmark: $runs runs each, release build, registry 127.0.0.1:$port (htpasswd)"
printf '  %-38s %12s %10s\n' "case" "mean" "vs --version"
printf '  %-38s %12s %10s\n' "berth --version (baseline)" "$(fmt "$base_us")" "1.00x"
printf '  %-38s %12s %10s\n' "ci-env gitlab --no-login" "$(fmt "$nologin_us")" "$(ratio "$nologin_us" "$base_us")"
printf '  %-38s %12s %10s\n' "ci-env gitlab (verified login)" "$(fmt "$login_us")" "$(ratio "$login_us" "$base_us")"
if [ "$login_us" -lt 100000 ]; then
  echo "  target < 100 ms with a verified login: met"
else
  echo "  target < 100 ms with a verified login: MISSED"
fi
