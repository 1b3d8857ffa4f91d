# shellcheck shell=bash
# Common settings for testenv scripts (sourced).
TESTENV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K8S_VERSION=v1.37.2
KWOK_VERSION=v0.8.0
KUEUE_VERSION=v0.19.2
CACHE=${KAIC_TESTENV_CACHE:-$HOME/.cache/kaic-testenv}
HOME_DIR=${KAIC_TESTENV_HOME:-$HOME/.cache/kaic-testenv}

log() { printf '[testenv %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }

need_go() {
  command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH (need go >= 1.26; see testenv/README.md)"
}

hash_files() { cat "$@" | sha256sum | cut -c1-16; }

# Directory of the k8s multi-call binary; keyed by everything that affects it.
k8s_bin_dir() {
  echo "$CACHE/bin-$(cd "$TESTENV_DIR" && hash_files go.mod go.sum build cmd/k8s/main.go)"
}
# Our own small tools (sim driver, ...): keyed by their sources.
tools_bin_dir() {
  echo "$CACHE/tools-$(cd "$TESTENV_DIR" && hash_files go.mod go.sum build $(find cmd/kaic-testenv internal -name '*.go' 2>/dev/null | sort))"
}
kwok_bin() { echo "$CACHE/kwok-$KWOK_VERSION/kwok"; }
kueue_bin() { echo "$CACHE/kueue-$KUEUE_VERSION/kueue"; }
