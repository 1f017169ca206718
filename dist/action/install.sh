#!/usr/bin/env bash
# Step 1 of action.yml: picks the release target from the runner, installs berth with
# dist/install.sh into $RUNNER_TEMP and puts it on $GITHUB_PATH.
set -euo pipefail

case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  *) echo "::error::unsupported runner: ${RUNNER_OS:-?}/${RUNNER_ARCH:-?} (berth releases exist for Linux and macOS on X64 and ARM64)" >&2; exit 1 ;;
esac

version="${INPUT_VERSION:-}"
# The action's own release: dist/VERSION is bumped with every tag, so @v0.2.0 installs v0.2.0.
[ -n "$version" ] || version="$(cat "${GITHUB_ACTION_PATH:?}/dist/VERSION")"

case "${INPUT_CHECKSUM:-true}" in
  true) ;;
  *) echo "::error::checksum: '${INPUT_CHECKSUM}' is not supported: berth is always verified against sha256.sum (leave the input at 'true')" >&2; exit 1 ;;
esac

bin_dir="${RUNNER_TEMP:?}/berth/bin"
sh "${GITHUB_ACTION_PATH:?}/dist/install.sh" --version "$version" --target "$target" --bin-dir "$bin_dir"
echo "$bin_dir" >> "${GITHUB_PATH:?}"
echo "berth-path=$bin_dir/berth" >> "${GITHUB_OUTPUT:?}"
