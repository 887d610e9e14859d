#!/usr/bin/env bash
# Builds the veb node image with buildah from a Debian 12 rootfs made by
# debootstrap: only the runtime libraries the three binaries link against
# (found with ldd and mapped to Debian packages with dpkg -S), the reference
# CNI plugins scripts/install-go-tools.sh built (v1.9.1, CNI 1.1.0: Debian's
# 1.1.1 stops at 1.0.0) in /opt/veb/cni, and
# /opt/veb/bin/{vebd,vebctl,veb,veb-node-config,install-cni,uninstall-cni}, and curl. No container registry is used:
# the base is Debian's own archive.
#
#   image/build.sh [TAG]        (default localhost/veb:0.1.0)
# Needs root, debootstrap and buildah (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TAG="${1:-localhost/veb:0.1.0}"
MIRROR="${VEB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WORK="$(mktemp -d /tmp/veb-image.XXXXXX)"
trap 'rm -rf "${WORK}"' EXIT

bazel build -c opt //server:vebd //cli:vebctl //cni-plugin:veb //cni-plugin:veb-node-config >&2
BINS=(bazel-bin/server/vebd bazel-bin/cli/vebctl bazel-bin/cni-plugin/veb bazel-bin/cni-plugin/veb-node-config)
CNI_SRC="${VEB_TOOLS_BIN:-/opt/veb/tools/bin}/cni"
CNI_PLUGINS=(host-local portmap tuning bandwidth)
for p in "${CNI_PLUGINS[@]}"; do
  [[ -x "${CNI_SRC}/${p}" ]] || { echo "image: ${CNI_SRC}/${p} missing (run scripts/install-go-tools.sh cni)" >&2; exit 1; }
done

# Runtime packages: whatever provides the shared libraries the binaries use.
mapfile -t libs < <(ldd "${BINS[@]}" "${CNI_PLUGINS[@]/#/${CNI_SRC}/}" 2>/dev/null | awk '/=> \//{print $3}' | sort -u)
mapfile -t pkgs < <(for l in "${libs[@]}"; do dpkg -S "$(readlink -f "$l")" 2>/dev/null ||
                      dpkg -S "$l" 2>/dev/null; done | cut -d: -f1 | sort -u)
pkgs+=(ca-certificates curl)  # curl: install-cni and uninstall-cni ask the API server
echo "image: runtime packages: ${pkgs[*]}" >&2

debootstrap --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" bookworm \
  "${WORK}/rootfs" "${MIRROR}" >"${WORK}/debootstrap.log" 2>&1 ||
  { tail -20 "${WORK}/debootstrap.log" >&2; exit 1; }
rm -rf "${WORK}/rootfs/var/cache/apt/archives/"*.deb "${WORK}/rootfs/var/lib/apt/lists/"*
install -d "${WORK}/rootfs/opt/veb/bin"
install -m 0755 "${BINS[@]}" image/install-cni image/uninstall-cni "${WORK}/rootfs/opt/veb/bin/"
install -d "${WORK}/rootfs/opt/veb/cni"
install -m 0755 "${CNI_PLUGINS[@]/#/${CNI_SRC}/}" "${WORK}/rootfs/opt/veb/cni/"

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
