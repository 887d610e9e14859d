#!/usr/bin/env bash
# Runs the Linux dataplane integration test as root (built beforehand with
# `bazel build [--config=NAME] //test/integration:linux_integration_test`).
# Whatever happens to the test process, the trap removes every namespace and
# interface named with this run's prefix.
#
#   run.sh [--config=NAME] [gtest arguments...]
#
# --config=NAME (e.g. asan, tsan: .bazelrc) runs the binary from that
# configuration's output tree; without it, the default (gcc) build's.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
CONFIG=""
if [[ "${1:-}" == --config=* ]]; then
  CONFIG="$1"
  shift
fi
# The configuration's own output tree (the bazel-bin symlink follows whichever
# configuration built last).
BIN_DIR="$(bazel info ${CONFIG:+"${CONFIG}"} bazel-bin 2>/dev/null)" ||
  { echo "run.sh: bazel info ${CONFIG} bazel-bin failed" >&2; exit 1; }
BIN="${BIN_DIR}/test/integration/linux_integration_test"
if [[ ! -x "${BIN}" ]]; then
  echo "run.sh: ${BIN} not built (bazel build ${CONFIG} //test/integration:linux_integration_test)" >&2
  exit 1
fi
# Sanitizer settings as under `bazel test` (.bazelrc); ignored by a plain build.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-second_deadlock_stack=1:ignore_noninstrumented_modules=1}"
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
  # The kernel engine's pins (the test pins under /sys/fs/bpf/<prefix>/).
  rm -rf "/sys/fs/bpf/${PREFIX}" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [[ "$(id -u)" -ne 0 ]]; then
  echo "run.sh: needs root (network namespaces)" >&2
  exit 1
fi
# Bounded in time: the whole test (both engines) never runs longer than 6
# minutes.
timeout --signal=KILL 360 "${BIN}" "$@"
