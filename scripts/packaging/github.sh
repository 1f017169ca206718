#!/usr/bin/env bash
# Packaging checks for the GitHub side (run by scripts/test.sh): installs the validators when
# missing, validates action.yml and the workflows offline, shellchecks every script, and checks
# that the x86_64 musl release build is static and runs.
set -euo pipefail
cd "$(dirname "$0")/../.."

tools="${BERTH_TOOLS_DIR:-$PWD/target/tools}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

apt_need=()
command -v shellcheck >/dev/null 2>&1 || apt_need+=(shellcheck)
command -v musl-gcc >/dev/null 2>&1 || apt_need+=(musl-tools)
command -v file >/dev/null 2>&1 || apt_need+=(file)
if [ ${#apt_need[@]} -gt 0 ]; then
  echo "packaging: installing ${apt_need[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${apt_need[@]}" >/dev/null
fi
pip_need=()
command -v check-jsonschema >/dev/null 2>&1 || pip_need+=(check-jsonschema)
command -v zizmor >/dev/null 2>&1 || pip_need+=(zizmor)
if [ ${#pip_need[@]} -gt 0 ]; then
  echo "packaging: installing ${pip_need[*]}" >&2
  python3 -m pip install -q --user "${pip_need[@]}"
  PATH="$(python3 -m site --user-base)/bin:$PATH"
fi
action_validator="$tools/node_modules/.bin/action-validator"
if [ ! -x "$action_validator" ]; then
  echo "packaging: installing @action-validator/cli into $tools" >&2
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" @action-validator/cli@0.6.0 @action-validator/core@0.6.0
fi

check-jsonschema --builtin-schema vendor.github-actions action.yml
check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
"$action_validator" action.yml
# action-validator 0.6.0's bundled workflow schema predates the `attestations` permission that
# actions/attest-build-provenance needs, so workflows are schema-checked by check-jsonschema
# (SchemaStore's current schema) only.
zizmor --offline --quiet action.yml .github/workflows
shellcheck dist/install.sh dist/action/*.sh scripts/packaging/*.sh
# The other scripts are held to warnings (their info-level notes are deliberate, e.g. literal
# htpasswd hashes in single quotes).
mapfile -t scripts < <(find dist scripts -name '*.sh' -type f | sort)
shellcheck --severity=warning "${scripts[@]}"

# The static release build, in its own target dir so the debug build stays warm.
musl=x86_64-unknown-linux-musl
if ! rustup target list --installed | grep -qx "$musl"; then
  rustup target add "$musl" || { echo "packaging: the $musl target cannot be installed on this machine (rustup target add $musl failed)" >&2; exit 1; }
fi
cargo build --locked --release --target "$musl" --target-dir target/musl
bin="target/musl/$musl/release/berth"
file "$bin" | grep -q 'statically linked\|static-pie linked' || { echo "packaging: $bin is not static: $(file "$bin")" >&2; exit 1; }
if ldd "$bin" 2>&1 | grep -q '=>'; then
  echo "packaging: $bin links shared libraries: $(ldd "$bin" 2>&1)" >&2
  exit 1
fi
"$bin" demo >/dev/null
echo "packaging: github checks passed" >&2
