#!/usr/bin/env bash
# The Python wheel (packaging/python/pyproject.toml): the static binary on PATH after
# `pip install amlprobe-*.whl`, with no compiler and no package index. Prints the wheel's path.
#   build-wheel.sh [OUTDIR]   (default target/wheels)
# Needs maturin 1.x on PATH or as `python3 -m maturin` (pip install 'maturin>=1.5,<2').
#
# The binary is build-static.sh's: maturin is given the same target, RUSTFLAGS and C compiler
# (static-env.sh) and the release profile, so Cargo reuses the same cache and builds the same
# bytes (the packaging test compares them). maturin compiles it rather than packing a prebuilt
# file because a bin wheel has no other way in; the shared flags keep the two builds one.
#
# Tags: the binary is static and carries its own libc, so it runs on any x86_64 Linux, glibc or
# musl. One wheel says so with both kinds of tag: manylinux2014 (manylinux_2_17, the lowest the
# Rust toolchain builds for) for glibc systems, where pip would refuse a musllinux-only wheel,
# and musllinux_1_1, the lowest musl tag, for musl ones (Alpine); the file is
# amlprobe-VERSION-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.musllinux_1_1_x86_64.whl.
# maturin's own audit checks the binary against the tags (it links no shared library at all).
# py3-none: the wheel holds no Python code and no extension module, so any Python 3 takes it.
set -euo pipefail
# OUTDIR is taken where the caller stands; the default is the repository's target/wheels.
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/target/wheels}" && cd "${1:-$root/target/wheels}" && pwd)
cd "$root"
. packaging/static-env.sh
compatibility=(manylinux2014)
# maturin gives a wheel both kinds of tag only for a musl build; the static glibc fallback is
# manylinux alone.
[ "$target" != x86_64-unknown-linux-musl ] || compatibility+=(musllinux_1_1)
if command -v maturin >/dev/null 2>&1; then
  maturin=(maturin)
elif python3 -m maturin --version >/dev/null 2>&1; then
  maturin=(python3 -m maturin)
else
  echo "build-wheel.sh: maturin is missing (pip install 'maturin>=1.5,<2')" >&2
  exit 1
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
rm -f "$out"/amlprobe-"$version"-*.whl
# maturin reads pyproject.toml from the directory it runs in; static-env.sh was read from the
# root, where its path remapping is right.
(cd packaging/python && "${maturin[@]}" build --quiet --release --locked --target "$target" \
  --compatibility "${compatibility[@]}" --out "$out" >&2)
wheels=("$out"/amlprobe-"$version"-*.whl)
[ -f "${wheels[0]}" ] || { echo "build-wheel.sh: maturin left no wheel in $out" >&2; exit 1; }
echo "${wheels[0]}"
