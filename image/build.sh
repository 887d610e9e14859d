#!/usr/bin/env bash
# Builds the veb node image with buildah from a Debian 12 rootfs made by
# debootstrap: only the runtime libraries the three binaries link against
# (found with ldd and mapped to Debian packages with dpkg -S), the reference
# CNI plugins, and /opt/veb/bin/{vebd,vebctl,veb,install-cni}. No registry is
# used: the base is Debian's own archive.
#
#   image/build.sh [TAG]        (default localhost/veb:0.1.0)
# Needs root, debootstrap and buildah (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TAG="${1:-localhost/veb:0.1.0}"
MIRROR="${VEB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WORK="$(mktemp -d /tmp/veb-image.XXXXXX)"
trap 'rm -rf "${WORK}"' EXIT

bazel build -c opt //server:vebd //cli:vebctl //cni-plugin:veb >&2
BINS=(bazel-bin/server/vebd bazel-bin/cli/vebctl bazel-bin/cni-plugin/veb)

# Runtime packages: whatever provides the shared libraries the binaries use.
mapfile -t libs < <(ldd "${BINS[@]}" | awk '/=> \//{print $3}' | sort -u)
mapfile -t pkgs < <(for l in "${libs[@]}"; do dpkg -S "$(readlink -f "$l")" 2>/dev/null ||
                      dpkg -S "$l" 2>/dev/null; done | cut -d: -f1 | sort -u)
pkgs+=(containernetworking-plugins ca-certificates)
echo "image: runtime packages: ${pkgs[*]}" >&2

debootstrap --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" bookworm \
  "${WORK}/rootfs" "${MIRROR}" >"${WORK}/debootstrap.log" 2>&1 ||
  { tail -20 "${WORK}/debootstrap.log" >&2; exit 1; }
rm -rf "${WORK}/rootfs/var/cache/apt/archives/"*.deb "${WORK}/rootfs/var/lib/apt/lists/"*
install -d "${WORK}/rootfs/opt/veb/bin"
install -m 0755 "${BINS[@]}" image/install-cni "${WORK}/rootfs/opt/veb/bin/"

ctr="$(buildah from scratch)"
trap 'buildah rm "${ctr}" >/dev/null 2>&1 || true; rm -rf "${WORK}"' EXIT
buildah copy "${ctr}" "${WORK}/rootfs" / >/dev/null
buildah config --entrypoint '["/opt/veb/bin/vebd"]' --cmd '' \
  --env PATH=/opt/veb/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --label org.opencontainers.image.title=veb \
  --label org.opencontainers.image.description="veb userspace Ethernet switch node image" \
  "${ctr}"
buildah commit --quiet "${ctr}" "${TAG}" >&2
echo "${TAG}"
