#!/usr/bin/env bash
# Installs everything veb's build and tests need on Debian 12, as root.
#
# Idempotent: when every required package is already installed it changes
# nothing and does not touch the network (VEB_SETUP_FORCE=1 runs apt-get update
# and install anyway). Otherwise: apt-get update, then one
# `apt-get install -y --no-install-recommends` of the required packages, then the
# optional ones one by one (a missing optional package is a warning).
# Output goes to $VEB_SETUP_LOG (default /tmp/veb-setup.log); a summary is printed.
# Then installs the pinned Go tools (scripts/install-go-tools.sh), unless
# VEB_SETUP_GO_TOOLS=0.
# Exit status: non-zero when a required package or Go tool could not be installed.
set -euo pipefail

# --- the package list (the only place) ------------------------------------------------
REQUIRED_PACKAGES=(
  # build: Bazel 4.2.3 (offline, see docs/design.md §10), compilers
  bazel-bootstrap build-essential clang libclang-rt-14-dev git ca-certificates
  # libraries (the @system and @com_google_protobuf repositories)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libnl-3-dev libnl-route-3-dev prometheus-cpp-dev libxdp-dev libbpf-dev
  libelf-dev zlib1g-dev linux-libc-dev  # the kernel engine: -lbpf -lelf -lz, BPF headers
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libabsl-dev
  # tests: traffic and inspection
  iproute2 iputils-ping iperf3 tcpdump python3-scapy python3-yaml netsniff-ng ethtool procps
  dnsmasq-base  # test/agent/multinode_test.sh: the DNS server behind the tunnel peers
  # tests: promtool (server/metrics_test), a real Prometheus server
  prometheus curl openssl
  # node image: image/build.sh and its podman smoke test
  debootstrap buildah podman runc
  # CNI tests: reference plugins (host-local, portmap, tuning, bridge), the
  # kubelet path (containerd's CRI plugin), iptables for portmap
  containernetworking-plugins containerd iptables
  # the one-node Kubernetes test (test/k8s): etcd, kube-proxy's conntrack, the
  # test pods' image (busybox: ping, httpd, nc)
  etcd-server conntrack busybox-static
)
# Installed when the archive has them; their absence is not an error.
OPTIONAL_PACKAGES=(linux-perf openvswitch-switch)  # perf: profiles; OVS: test/bench comparison
# Installed only when no `go` is on PATH (Go tools: grpcurl, cnitool, crictl, helm).
GO_PACKAGE=golang-go
# ------------------------------------------------------------------------------------

LOG="${VEB_SETUP_LOG:-/tmp/veb-setup.log}"
export DEBIAN_FRONTEND=noninteractive

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    echo "setup.sh: must run as root (or with sudo)" >&2
    exit 1
  fi
fi

installed() {  # installed PACKAGE -> 0 when dpkg has it fully installed
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

available() {  # available PACKAGE -> 0 when apt has an installation candidate
  local candidate
  candidate="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  [[ -n "${candidate}" && "${candidate}" != "(none)" ]]
}

# Go tools the tests drive (grpcurl, cnitool, crictl, helm, Prometheus), pinned;
# VEB_SETUP_GO_TOOLS=0 leaves them to the caller (CI: scripts/test.sh builds them
# in the background while its first steps run).
go_tools() {
  if [[ "${VEB_SETUP_GO_TOOLS:-1}" == 0 ]]; then
    echo "setup.sh: Go tools left to scripts/test.sh (VEB_SETUP_GO_TOOLS=0)"
    exit 0
  fi
  exec bash "$(dirname "${BASH_SOURCE[0]}")/install-go-tools.sh"
}

wanted=("${REQUIRED_PACKAGES[@]}")
if ! command -v go >/dev/null 2>&1; then
  wanted+=("${GO_PACKAGE}")
fi

missing=()
for pkg in "${wanted[@]}"; do
  installed "${pkg}" || missing+=("${pkg}")
done

: >"${LOG}"
start=${SECONDS}
optional_installed=()
optional_skipped=()

if [[ ${#missing[@]} -eq 0 && "${VEB_SETUP_FORCE:-0}" != 1 ]]; then
  echo "setup.sh: all ${#wanted[@]} required packages already installed"
  go_tools
fi

echo "setup.sh: installing ${#missing[@]} missing package(s): ${missing[*]:-none} (log: ${LOG})"
if ! "${SUDO[@]}" apt-get update >>"${LOG}" 2>&1; then
  echo "setup.sh: apt-get update failed; last lines of ${LOG}:" >&2
  tail -n 20 "${LOG}" >&2
  exit 1
fi
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${wanted[@]}" >>"${LOG}" 2>&1; then
  echo "setup.sh: apt-get install failed; last lines of ${LOG}:" >&2
  tail -n 20 "${LOG}" >&2
  exit 1
fi
for pkg in "${OPTIONAL_PACKAGES[@]}"; do
  if installed "${pkg}"; then
    optional_installed+=("${pkg}")
  elif available "${pkg}" &&
      "${SUDO[@]}" apt-get install -y --no-install-recommends "${pkg}" >>"${LOG}" 2>&1; then
    optional_installed+=("${pkg}")
  else
    optional_skipped+=("${pkg}")
  fi
done

# Verify: every required package is now really installed.
still_missing=()
for pkg in "${wanted[@]}"; do
  installed "${pkg}" || still_missing+=("${pkg}")
done
if [[ ${#still_missing[@]} -ne 0 ]]; then
  echo "setup.sh: still missing after install: ${still_missing[*]} (see ${LOG})" >&2
  exit 1
fi

echo "setup.sh: ${#wanted[@]} required packages installed in $((SECONDS - start))s;" \
  "optional installed: ${optional_installed[*]:-none}; optional unavailable: ${optional_skipped[*]:-none}"

go_tools
