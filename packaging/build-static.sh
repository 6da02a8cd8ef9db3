#!/usr/bin/env bash
# The one-file build: glibc linked statically (hickory resolves DNS itself, so no NSS is needed),
# size-optimised by the release profile. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
# getrandom finds glibc's getrandom() through dlsym, which a static binary lacks, and would fall
# back to /dev/urandom; linux_getrandom calls it directly, so an empty root needs no /dev.
RUSTFLAGS="-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\" --remap-path-prefix=$PWD=/build --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
  cargo build --release --locked --quiet --target "$target"
echo "$PWD/target/$target/release/amlprobe"
