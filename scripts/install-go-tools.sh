#!/usr/bin/env bash
# Installs the real clients the tests drive (docs/design.md §11) with `go install`
# from the Go module proxy, pinned, into ${VEB_TOOLS_BIN:-/opt/veb/tools/bin}.
# Idempotent: a tool already present at its pinned version is not rebuilt.
# Usage: scripts/install-go-tools.sh [tool ...|cni]   (default: all)
set -euo pipefail

BIN="${VEB_TOOLS_BIN:-/opt/veb/tools/bin}"
LOG="${VEB_SETUP_LOG:-/tmp/veb-setup.log}"
# name  module@version  (one place for the versions)
TOOLS=(
  "grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3"
  "cnitool github.com/containernetworking/cni/cnitool@v1.3.0"
  "crictl sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0"
  "helm helm.sh/helm/v3/cmd/helm@v3.22.0"
  # Prometheus 3.x with Kubernetes service discovery only (Debian's has none),
  # for test/k8s: kubernetes_sd_configs against the test cluster's API server.
  "prometheus github.com/prometheus/prometheus/cmd/prometheus@v0.316.0 remove_all_sd,enable_kubernetes_sd"
)
# CNI reference plugins (CNI 1.1.0: GC and STATUS; Debian's 1.1.1 stops at
# 1.0.0) into ${BIN}/cni, for the CNI plugin's IPAM, chaining and comparison
# benchmark.
CNI_PLUGINS_VERSION=v1.9.1
CNI_PLUGINS_SET=1  # bump when CNI_PLUGINS changes
CNI_PLUGINS=(ipam/host-local meta/portmap meta/tuning meta/bandwidth main/bridge main/loopback)

command -v go >/dev/null 2>&1 || { echo "install-go-tools: go not on PATH (run scripts/setup.sh)" >&2; exit 1; }
mkdir -p "${BIN}" "${BIN}/.versions"
want=("$@")
rc=0
for entry in "${TOOLS[@]}"; do
  read -r name spec tags <<<"${entry}"
  if [[ ${#want[@]} -gt 0 && ! " ${want[*]} " == *" ${name} "* ]]; then continue; fi
  stamp="${BIN}/.versions/${name}"
  if [[ -x "${BIN}/${name}" && "$(cat "${stamp}" 2>/dev/null)" == "${spec}${tags:+ ${tags}}" ]]; then
    continue
  fi
  echo "install-go-tools: go install ${spec}${tags:+ (tags ${tags})}"
  if GOBIN="${BIN}" GOFLAGS=-buildvcs=false nice -n 10 go install ${tags:+-tags "${tags}"} "${spec}" >>"${LOG}" 2>&1; then
    echo "${spec}${tags:+ ${tags}}" >"${stamp}"
  else
    echo "install-go-tools: FAILED ${spec} (see ${LOG})" >&2
    rc=1
  fi
done
if [[ ${#want[@]} -eq 0 || " ${want[*]} " == *" cni "* ]]; then
  stamp="${BIN}/.versions/cni"
  if [[ "$(cat "${stamp}" 2>/dev/null)" != "${CNI_PLUGINS_VERSION}-${CNI_PLUGINS_SET}" ]]; then
    pkgs=()
    for p in "${CNI_PLUGINS[@]}"; do
      pkgs+=("github.com/containernetworking/plugins/plugins/${p}@${CNI_PLUGINS_VERSION}")
    done
    echo "install-go-tools: go install CNI plugins ${CNI_PLUGINS_VERSION}"
    mkdir -p "${BIN}/cni"
    if GOBIN="${BIN}/cni" GOFLAGS=-buildvcs=false nice -n 10 go install "${pkgs[@]}" >>"${LOG}" 2>&1; then
      echo "${CNI_PLUGINS_VERSION}-${CNI_PLUGINS_SET}" >"${stamp}"
    else
      echo "install-go-tools: FAILED CNI plugins ${CNI_PLUGINS_VERSION} (see ${LOG})" >&2
      rc=1
    fi
  fi
fi
exit ${rc}
