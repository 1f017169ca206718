#!/bin/sh
# Installs the berth binary from a release: downloads berth-<target>.tar.gz, verifies it
# against the release's sha256.sum (fail closed) and copies berth-<target>/berth to the bin dir.
#
#   install.sh [--version vX.Y.Z] [--bin-dir DIR] [--base-url URL] [--target TRIPLE]
#
# Environment (flags win): BERTH_VERSION, BERTH_INSTALL_DIR, BERTH_BASE_URL.
set -eu

DEFAULT_BASE_URL="https://github.com/berth-ci/berth/releases/download"
LATEST_URL="https://github.com/berth-ci/berth/releases/latest"

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
  cat <<'USAGE'
Usage: install.sh [--version vX.Y.Z] [--bin-dir DIR] [--base-url URL] [--target TRIPLE]

  --version   release tag to install (v0.2.0 or 0.2.0); env BERTH_VERSION; default: latest
  --bin-dir   directory to install into (created when missing); env BERTH_INSTALL_DIR;
              default: $HOME/.local/bin
  --base-url  where releases live: <base>/<version>/berth-<target>.tar.gz; env BERTH_BASE_URL
  --target    target triple, overriding the one derived from uname
USAGE
}

version="${BERTH_VERSION:-}"
bin_dir="${BERTH_INSTALL_DIR:-}"
base_url="${BERTH_BASE_URL:-}"
target=""

need_value() {
  if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --version) need_value "$@"; version="$2"; shift 2 ;;
    --version=*) version="${1#*=}"; shift ;;
    --bin-dir) need_value "$@"; bin_dir="$2"; shift 2 ;;
    --bin-dir=*) bin_dir="${1#*=}"; shift ;;
    --base-url) need_value "$@"; base_url="$2"; shift 2 ;;
    --base-url=*) base_url="${1#*=}"; shift ;;
    --target) need_value "$@"; target="$2"; shift 2 ;;
    --target=*) target="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

[ -n "$base_url" ] || base_url="$DEFAULT_BASE_URL"
base_url="${base_url%/}"
if [ -z "$bin_dir" ]; then
  [ -n "${HOME:-}" ] || die "HOME is not set: pass --bin-dir DIR or set BERTH_INSTALL_DIR"
  bin_dir="$HOME/.local/bin"
fi

# Plain http is only accepted for loopback hosts (mirrors in tests), like berth itself.
case "$base_url" in
  https://*) ;;
  http://*)
    hostport="${base_url#http://}"
    hostport="${hostport%%/*}"
    hostport="${hostport##*@}"
    case "$hostport" in
      \[::1\]|\[::1\]:*) ;;
      localhost|localhost:*) ;;
      127.*)
        host="${hostport%%:*}"
        case "$host" in
          *[!0-9.]*) die "base URL '$base_url' uses plain http on a non-loopback host: use https:// (http is only allowed for 127.0.0.0/8, localhost, [::1])" ;;
        esac
        ;;
      *) die "base URL '$base_url' uses plain http on a non-loopback host: use https:// (http is only allowed for 127.0.0.0/8, localhost, [::1])" ;;
    esac
    ;;
  *) die "base URL '$base_url' is not an https:// URL: pass --base-url https://… (or set BERTH_BASE_URL)" ;;
esac

if command -v curl >/dev/null 2>&1; then
  downloader=curl
elif command -v wget >/dev/null 2>&1; then
  downloader=wget
else
  die "neither curl nor wget is installed: install one of them and run again"
fi

# $1 URL, $2 destination file
fetch() {
  case "$1" in
    https://*)
      if [ "$downloader" = curl ]; then
        curl --proto '=https' --tlsv1.2 -fsSL --retry 3 -o "$2" "$1"
      else
        wget --https-only --secure-protocol=TLSv1_2 -q -O "$2" "$1"
      fi
      ;;
    *)
      if [ "$downloader" = curl ]; then
        curl -fsSL --retry 3 -o "$2" "$1"
      else
        wget -q -O "$2" "$1"
      fi
      ;;
  esac
}

if command -v sha256sum >/dev/null 2>&1; then
  hash_file() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  hash_file() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
elif command -v openssl >/dev/null 2>&1; then
  hash_file() { openssl dgst -sha256 "$1" | sed 's/^.*= *//'; }
else
  die "no SHA-256 tool found (sha256sum, shasum or openssl): install one; berth is never installed unverified"
fi

if [ -z "$target" ]; then
  os="$(uname -s)"
  arch="$(uname -m)"
  case "$arch" in
    x86_64|amd64) arch=x86_64 ;;
    aarch64|arm64) arch=aarch64 ;;
    *) die "unsupported platform: $os/$arch (releases exist for x86_64 and aarch64 Linux and macOS; pass --target to override)" ;;
  esac
  case "$os" in
    Linux) target="$arch-unknown-linux-musl" ;;
    Darwin) target="$arch-apple-darwin" ;;
    *) die "unsupported platform: $os/$arch (releases exist for x86_64 and aarch64 Linux and macOS; pass --target to override)" ;;
  esac
fi
case "$target" in
  *[!A-Za-z0-9_.-]*) die "target '$target' is not a target triple (e.g. x86_64-unknown-linux-musl)" ;;
esac

tmp="$(mktemp -d 2>/dev/null || mktemp -d -t berth-install)"
trap 'rm -rf "$tmp"' EXIT HUP INT TERM

if [ -z "$version" ] || [ "$version" = latest ]; then
  [ "$base_url" = "$DEFAULT_BASE_URL" ] || die "no version given for base URL '$base_url': pass --version vX.Y.Z (or set BERTH_VERSION); 'latest' is only resolved for GitHub releases"
  # GitHub redirects /releases/latest to /releases/tag/<tag>; the tag is the last path segment.
  if [ "$downloader" = curl ]; then
    resolved="$(curl --proto '=https' --tlsv1.2 -fsSLI -o /dev/null -w '%{url_effective}' "$LATEST_URL")" \
      || die "cannot resolve the latest release from $LATEST_URL: pass --version vX.Y.Z"
  else
    resolved="$(wget --https-only --secure-protocol=TLSv1_2 -S --spider "$LATEST_URL" 2>&1 | sed -n 's/^ *Location: *//p' | tail -n 1)" \
      || die "cannot resolve the latest release from $LATEST_URL: pass --version vX.Y.Z"
  fi
  version="${resolved##*/}"
  case "$version" in
    v[0-9]*) ;;
    *) die "cannot resolve the latest release from $LATEST_URL (got '$resolved'): pass --version vX.Y.Z" ;;
  esac
fi
case "$version" in
  v*) ;;
  *) version="v$version" ;;
esac
case "$version" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) die "version '$version' is not a release tag like v0.2.0" ;;
esac
case "$version" in
  *[!A-Za-z0-9_.+-]*) die "version '$version' is not a release tag like v0.2.0" ;;
esac

archive="berth-$target.tar.gz"
url="$base_url/$version/$archive"
say "downloading $url"
fetch "$base_url/$version/sha256.sum" "$tmp/sha256.sum" \
  || die "cannot download $base_url/$version/sha256.sum: check --version '$version' and --base-url"
fetch "$url" "$tmp/$archive" \
  || die "cannot download $url: check that release $version has a build for $target"

expected="$(awk -v name="$archive" '{ n = $2; sub(/^\*/, "", n); if (n == name) { print $1; exit } }' "$tmp/sha256.sum")"
[ -n "$expected" ] || die "$base_url/$version/sha256.sum has no entry for $archive: refusing to install"
actual="$(hash_file "$tmp/$archive")"
if [ "$actual" != "$expected" ]; then
  die "checksum mismatch for $archive: sha256.sum says $expected, the download is $actual; nothing was installed"
fi

mkdir -p "$tmp/x"
tar -xzf "$tmp/$archive" -C "$tmp/x" || die "cannot unpack $archive: nothing was installed"
[ -f "$tmp/x/berth-$target/berth" ] || die "$archive does not contain berth-$target/berth: nothing was installed"

mkdir -p "$bin_dir" || die "cannot create bin dir '$bin_dir': pass a writable --bin-dir"
# Copy next to the destination then rename, so a running berth is never half-overwritten.
cp "$tmp/x/berth-$target/berth" "$bin_dir/.berth.tmp.$$"
chmod 0755 "$bin_dir/.berth.tmp.$$"
mv -f "$bin_dir/.berth.tmp.$$" "$bin_dir/berth"
say "installed berth $version ($target) to $bin_dir/berth"
case ":${PATH:-}:" in
  *":$bin_dir:"*) ;;
  *) say "note: $bin_dir is not on PATH" ;;
esac
