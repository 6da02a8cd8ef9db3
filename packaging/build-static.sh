#!/usr/bin/env bash
# The one-file build: musl libc linked statically (hickory resolves DNS itself, so no NSS is
# needed), size-optimised by the release profile. Prints the binary's path. The target and
# flags, and why, are in static-env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/static-env.sh
cargo build --release --locked --quiet --target "$target"
echo "$PWD/target/$target/release/amlprobe"
