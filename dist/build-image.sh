#!/usr/bin/env bash
# Builds the container image: `bash dist/build-image.sh [TAG]` (default switchyard:VERSION).
#
# 1. the static binary: `cargo build --profile dist --target x86_64-unknown-linux-musl`
#    (needs musl-tools and `rustup target add x86_64-unknown-linux-musl`), unless
#    SWITCHYARD_BINARY names one already built;
# 2. the context in target/image: the binary, the system's CA bundle, `switchyard init`'s
#    starter config in etc/switchyard, an empty data/;
# 3. `podman build` (or buildah) of dist/Containerfile, with no network and no base image.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag=${1:-switchyard:$version}
target=x86_64-unknown-linux-musl

binary=${SWITCHYARD_BINARY:-}
if [ -z "$binary" ]; then
  CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-x86_64-linux-musl-gcc} \
    cargo build --locked --profile dist --target "$target" -p switchyard
  binary=${CARGO_TARGET_DIR:-target}/$target/dist/switchyard
fi

stage=target/image
rm -rf "$stage"
mkdir -p "$stage/etc/ssl/certs" "$stage/data"
install -m 0755 "$binary" "$stage/switchyard"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$stage/etc/ssl/certs/ca-certificates.crt"
"$stage/switchyard" init "$stage/etc/switchyard" >/dev/null
chmod -R a+rX "$stage/etc"
cp dist/Containerfile "$stage/Containerfile"

if command -v podman >/dev/null; then
  podman --cgroup-manager=cgroupfs --events-backend=file \
    build --format docker --pull=never --network=none -f "$stage/Containerfile" -t "$tag" "$stage"
else
  buildah bud --format docker --pull=never --network=none -f "$stage/Containerfile" -t "$tag" "$stage"
fi
echo "built $tag from $binary"
