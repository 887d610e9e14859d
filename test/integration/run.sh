#!/usr/bin/env bash
# Runs the Linux dataplane integration test as root (built beforehand with
# `bazel build //test/integration:linux_integration_test`). Whatever happens
# to the test process, the trap removes every namespace and interface named
# with this run's prefix. Extra arguments go to the gtest binary.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN="bazel-bin/test/integration/linux_integration_test"
PREFIX="vit$$"
export VEB_IT_PREFIX="${PREFIX}"

cleanup() {
  local ns link
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${PREFIX}-" || true); do
    ip netns del "${ns}" 2>/dev/null || true
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^${PREFIX}" || true); do
    ip link del "${link}" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

if [[ "$(id -u)" -ne 0 ]]; then
  echo "run.sh: needs root (network namespaces)" >&2
  exit 1
fi
# Bounded in time: the whole test never runs longer than 3 minutes.
timeout --signal=KILL 180 "${BIN}" "$@"
