#!/usr/bin/env bash
# Step 2 of action.yml: runs the chosen berth command. Inputs arrive as INPUT_* variables;
# an empty input is left unset so berth falls back to its own defaults.
set -euo pipefail

berth="${BERTH_BIN:?}"
args=()
[ -z "${INPUT_CONFIG:-}" ] || args+=(--config "$INPUT_CONFIG")
[ -z "${INPUT_CONTAINER_REGISTRY:-}" ] || args+=(--container-registry "$INPUT_CONTAINER_REGISTRY")
[ -z "${INPUT_REPO:-}" ] || export BERTH_REPO="$INPUT_REPO"
[ -z "${INPUT_REGISTRY:-}" ] || export BERTH_CI_REGISTRY="$INPUT_REGISTRY"
[ -z "${INPUT_GITHUB_TOKEN:-}" ] || export GITHUB_TOKEN="$INPUT_GITHUB_TOKEN"
# Extra arguments are split on whitespace, never evaluated by a shell.
read -r -a extra <<< "${INPUT_ARGS:-}"

case "${INPUT_COMMAND:-ci-env}" in
  install-only) exit 0 ;;
  ci-env)
    "$berth" "${args[@]}" ci-env github "${extra[@]}"
    ;;
  cleanup)
    if [ "$(git rev-parse --is-shallow-repository 2>/dev/null || echo false)" = true ]; then
      echo "::error::berth cleanup needs the full git history, but this checkout is shallow: use actions/checkout with 'fetch-depth: 0'" >&2
      exit 1
    fi
    cleanup=(cleanup --output markdown)
    case "${INPUT_DRY_RUN:-false}" in
      true) cleanup+=(--dry-run) ;;
      false|"") ;;
      *) echo "::error::dry-run: '${INPUT_DRY_RUN}' is not true or false" >&2; exit 1 ;;
    esac
    summary="${RUNNER_TEMP:?}/berth/cleanup.md"
    status=0
    "$berth" "${args[@]}" "${cleanup[@]}" "${extra[@]}" > "$summary" || status=$?
    cat "$summary"
    cat "$summary" >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
    exit "$status"
    ;;
  *) echo "::error::command: '${INPUT_COMMAND}' is not ci-env, cleanup or install-only" >&2; exit 1 ;;
esac
