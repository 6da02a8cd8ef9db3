#!/usr/bin/env bash
# Builds the release tarball and the .deb, reproducibly: the static binary, README, guide and
# docs (what the README links to), licence, shell completions, man page and SHA-256 sums. Same
# sources and binary, same bytes.
#   OUT=DIR            where to put them (default target/dist)
#   AMLPROBE_BIN=PATH  package this binary instead of building one
#   SOURCE_DATE_EPOCH  timestamps inside the archives (default: the last commit's time)
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 1)}
bin=${AMLPROBE_BIN:-$(packaging/build-static.sh)}
out=${OUT:-target/dist}
name=amlprobe-$version-x86_64-linux
stage=$out/$name
rm -rf "$stage" "$out/deb"
mkdir -p "$stage/completions" "$stage/man" "$stage/docs"
install -m 0755 "$bin" "$stage/amlprobe"
install -m 0644 README.md GUIDE.md LICENSE "$stage/"
install -m 0644 docs/*.md "$stage/docs/"
"$bin" completions bash > "$stage/completions/amlprobe.bash"
"$bin" completions zsh > "$stage/completions/_amlprobe"
"$bin" completions fish > "$stage/completions/amlprobe.fish"
"$bin" man > "$stage/man/amlprobe.1"
chmod 0644 "$stage"/completions/* "$stage"/man/* "$stage"/docs/*
(cd "$stage" && sha256sum amlprobe README.md GUIDE.md LICENSE docs/* completions/* man/* > SHA256SUMS)
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --format=gnu \
  -C "$out" -cf - "$name" | gzip -n -9 > "$out/$name.tar.gz"

# The .deb: the same files in Debian's places.
deb=$out/deb
mkdir -p "$deb/DEBIAN" "$deb/usr/bin" "$deb/usr/share/man/man1" "$deb/usr/share/doc/amlprobe" \
  "$deb/usr/share/bash-completion/completions" "$deb/usr/share/zsh/vendor-completions" \
  "$deb/usr/share/fish/vendor_completions.d"
install -m 0755 "$stage/amlprobe" "$deb/usr/bin/amlprobe"
gzip -n -9 -c "$stage/man/amlprobe.1" > "$deb/usr/share/man/man1/amlprobe.1.gz"
install -m 0644 "$stage/completions/amlprobe.bash" "$deb/usr/share/bash-completion/completions/amlprobe"
install -m 0644 "$stage/completions/_amlprobe" "$deb/usr/share/zsh/vendor-completions/_amlprobe"
install -m 0644 "$stage/completions/amlprobe.fish" "$deb/usr/share/fish/vendor_completions.d/amlprobe.fish"
install -m 0644 LICENSE "$deb/usr/share/doc/amlprobe/copyright"
install -m 0644 packaging/azureml-setup-hook.sh "$deb/usr/share/doc/amlprobe/azureml-setup-hook.sh"
chmod 0644 "$deb/usr/share/man/man1/amlprobe.1.gz"
cat > "$deb/DEBIAN/control" <<CONTROL
Package: amlprobe
Version: $version
Section: net
Priority: optional
Architecture: amd64
Maintainer: amlprobe authors <amlprobe@localhost>
Description: checks an Azure Machine Learning node reaches every endpoint it needs
 Probes DNS, TCP, UDP, TLS, HTTP, WebSocket and SMB to every endpoint the Azure ML
 network documents require, and explains each failure with a reason and a fix.
CONTROL
find "$deb" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$deb" "$out/amlprobe_${version}_amd64.deb" > /dev/null
rm -rf "$deb"
(cd "$out" && sha256sum "$name.tar.gz" "amlprobe_${version}_amd64.deb" > SHA256SUMS)
echo "$out/$name.tar.gz"
echo "$out/amlprobe_${version}_amd64.deb"
