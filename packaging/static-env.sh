# Sourced by build-static.sh and build-wheel.sh, from the repository's root: the static build's
# target and flags, so that the binary and the wheel's binary are built alike and share Cargo's
# cache. Sets `target`; exports RUSTFLAGS and the musl C compiler.

# What Cargo sets for a test or build script it runs is not this build's: started from one (the
# packaging test builds the wheel), build scripts that watch such variables (ring's watches
# CARGO_PKG_NAME, CARGO_MANIFEST_DIR and OUT_DIR) would run again and rebuild ring and all above it.
for var in $(compgen -e); do
  case $var in
    CARGO_PKG_* | CARGO_MANIFEST_* | CARGO_CRATE_NAME | CARGO_BIN_NAME | CARGO_BIN_EXE_* | \
      CARGO_TARGET_TMPDIR | CARGO_PRIMARY_PACKAGE | OUT_DIR) unset "$var" ;;
    # Cargo prefers this to RUSTFLAGS: inherited, it would silently replace the flags below.
    CARGO_ENCODED_RUSTFLAGS) unset "$var" ;;
  esac
done

# musl rather than glibc: a static glibc brings its locale, gettext and iconv code (strerror
# reaches them) and its dynamic loader, 800 KB more for the same program. One difference shows:
# an OS error's text is musl's (`Network unreachable (os error 101)` where glibc says `Network
# is unreachable`); the error number and every reason code stay the same.
target=x86_64-unknown-linux-musl
relocs="-C link-arg=-Wl,-z,pack-relative-relocs"
if ! [ -d "$(rustc --print target-libdir --target "$target" 2>/dev/null)" ]; then
  # Without Rust's musl library the same program is linked with a static glibc: it behaves the
  # same, apart from the wording of OS errors, and is about 0.9 MB larger.
  echo "$(basename "$0"): Rust's $target library is missing (rustup target add $target); linking glibc statically instead" >&2
  target=x86_64-unknown-linux-gnu
  relocs=
fi
# ring compiles C and assembly for the target; its C needs only the compiler's own headers, so
# the system compiler stands in where no musl cross compiler is installed.
export CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-cc}
# getrandom: linux_getrandom calls getrandom() directly, so an empty root needs no /dev.
# pack-relative-relocs: the position-independent binary's relocations as a RELR table, which
# musl's start-up code applies (with musl only); 90 KB less than RELA, and the load address stays random.
# Paths in panic messages are remapped, so the binary does not depend on where it was built:
# /build for this crate, /cargo for Cargo's home, and shorter, /crates, for the registry's crates.
cargo_home=${CARGO_HOME:-${HOME:-/root}/.cargo}
remap="--remap-path-prefix=$PWD=/build --remap-path-prefix=$cargo_home=/cargo"
shopt -s nullglob
for dir in "$cargo_home"/registry/src/*/; do
  remap+=" --remap-path-prefix=${dir%/}=/crates"
done
shopt -u nullglob
export RUSTFLAGS="-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\" $relocs $remap"
