#!/bin/sh
# Builds the serving probe (src/sm_lint/harness/probe/probe.c) as static binaries for the engines'
# two common architectures, into src/sm_lint/data/probe/. Each binary carries the sha256 of the
# source it was built from (`sm-lint-probe version`); tests/test_probe.py checks that it matches.
# Needs gcc + libc6-dev (amd64) and gcc-aarch64-linux-gnu + libc6-dev-arm64-cross (arm64).
set -eu
cd "$(dirname "$0")/.."
source=src/sm_lint/harness/probe/probe.c
out=src/sm_lint/data/probe
sha=$(sha256sum "$source" | cut -d' ' -f1)
mkdir -p "$out"
flags="-static -Os -s -Wall -Wno-unused-result -DSOURCE_SHA256=\"$sha\""
# shellcheck disable=SC2086
x86_64-linux-gnu-gcc $flags -o "$out/sm-lint-probe-amd64" "$source" 2>/dev/null || gcc $flags -o "$out/sm-lint-probe-amd64" "$source"
# shellcheck disable=SC2086
aarch64-linux-gnu-gcc $flags -o "$out/sm-lint-probe-arm64" "$source"
ls -l "$out"
