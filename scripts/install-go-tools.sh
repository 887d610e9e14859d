#!/usr/bin/env bash
# Installs the real clients the tests drive (DESIGN.md §11) with `go install`
# from the Go module proxy, pinned, into ${VEB_TOOLS_BIN:-/opt/veb/tools/bin}.
# Idempotent: a tool already present at its pinned version is not rebuilt.
# Usage: scripts/install-go-tools.sh [tool ...]   (default: all)
set -euo pipefail

BIN="${VEB_TOOLS_BIN:-/opt/veb/tools/bin}"
LOG="${VEB_SETUP_LOG:-/tmp/veb-setup.log}"
# name  module@version  (one place for the versions)
TOOLS=(
  "grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3"
  "cnitool github.com/containernetworking/cni/cnitool@v1.3.0"
  "crictl sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0"
  "helm helm.sh/helm/v3/cmd/helm@v3.22.0"
)

command -v go >/dev/null 2>&1 || { echo "install-go-tools: go not on PATH (run scripts/setup.sh)" >&2; exit 1; }
mkdir -p "${BIN}" "${BIN}/.versions"
want=("$@")
rc=0
for entry in "${TOOLS[@]}"; do
  read -r name spec <<<"${entry}"
  if [[ ${#want[@]} -gt 0 && ! " ${want[*]} " == *" ${name} "* ]]; then continue; fi
  stamp="${BIN}/.versions/${name}"
  if [[ -x "${BIN}/${name}" && "$(cat "${stamp}" 2>/dev/null)" == "${spec}" ]]; then
    continue
  fi
  echo "install-go-tools: go install ${spec}"
  if GOBIN="${BIN}" GOFLAGS=-buildvcs=false nice -n 10 go install "${spec}" >>"${LOG}" 2>&1; then
    echo "${spec}" >"${stamp}"
  else
    echo "install-go-tools: FAILED ${spec} (see ${LOG})" >&2
    rc=1
  fi
done
exit ${rc}
