#!/usr/bin/env bash
# Builds the six Kubernetes binaries that test/k8s/cluster.sh runs
# (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
# kubectl) of the release pinned in build/go.mod, from the Go module proxy, in
# one `go build` so that they share compilation. The binaries, the module cache
# and the build cache live under ${VEB_K8S_CACHE:-/var/cache/veb}/k8s-<version>/,
# outside the clone, so a second run (CI's next one included) builds nothing.
# Prints the directory holding the binaries on its last line.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOD="${HERE}/build"
VERSION="$(awk '$1 == "k8s.io/kubernetes" {print $2}' "${MOD}/go.mod")"
[[ "${VERSION}" =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || { echo "build.sh: no k8s.io/kubernetes release in ${MOD}/go.mod" >&2; exit 1; }
MINOR="${BASH_REMATCH[1]}"
CACHE="${VEB_K8S_CACHE:-/var/cache/veb}/k8s-${VERSION}"
BIN="${CACHE}/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
# The stamp names the version and the wrapper module's hash: a change to either rebuilds.
STAMP="${VERSION} $(cat "${MOD}/go.mod" "${MOD}/go.sum" "${MOD}/tools.go" | sha256sum | cut -c1-16)"

complete() {
  [[ "$(cat "${BIN}/.stamp" 2>/dev/null)" == "${STAMP}" ]] || return 1
  local b
  for b in "${BINARIES[@]}"; do [[ -x "${BIN}/${b}" ]] || return 1; done
}

if complete; then
  echo "${BIN}"
  exit 0
fi
mkdir -p "${BIN}" "${CACHE}/gocache" "${CACHE}/gomodcache"
# The version the components report (the release's own build sets these the same way).
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${MINOR}"
  ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
done
pkgs=()
for b in "${BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/${b}"); done
echo "build.sh: building Kubernetes ${VERSION} (${BINARIES[*]}) into ${BIN}" >&2
start=${SECONDS}
(
  cd "${MOD}"
  GOMODCACHE="${CACHE}/gomodcache" GOCACHE="${CACHE}/gocache" GOFLAGS="-mod=readonly -buildvcs=false" \
    GOTOOLCHAIN=local CGO_ENABLED=0 \
    nice -n 19 go build -trimpath -ldflags "${ldflags}" -o "${BIN}/" "${pkgs[@]}"
) >&2
echo "${STAMP}" >"${BIN}/.stamp"
echo "build.sh: built in $((SECONDS - start)) s" >&2
echo "${BIN}"
