#!/usr/bin/env bash
# Fuzzes berth's parsers and renderers: every target in fuzz/ runs for SECONDS (default 60)
# with cargo-fuzz (libFuzzer) on the nightly toolchain, starting from the seeds in
# fuzz/seeds/TARGET. A crash stops the script with the input saved under
# fuzz/artifacts/TARGET/; turn it into a unit test next to the code it broke.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
case $seconds in
  '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2 ;;
esac

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: installing the nightly toolchain (cargo fuzz needs it)" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

cargo +nightly fuzz build --fuzz-dir fuzz
for target in "${targets[@]}"; do
  corpus=$(mktemp -d)
  [ -d "fuzz/seeds/$target" ] && cp -r "fuzz/seeds/$target/." "$corpus/"
  echo "fuzz.sh: $target for ${seconds}s" >&2
  cargo +nightly fuzz run --fuzz-dir fuzz "$target" "$corpus" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    2>&1 | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|SUMMARY|==[0-9]+==ERROR|thread .* panicked|Done)' || true
  if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
    echo "fuzz.sh: $target found a crash: fuzz/artifacts/$target/" >&2
    ls -l "fuzz/artifacts/$target/" >&2
    rm -rf "$corpus"
    exit 1
  fi
  rm -rf "$corpus"
done
echo "fuzz.sh: no crash in ${#targets[@]} targets (${seconds}s each)" >&2
