#!/usr/bin/env bash
# The issue 11 benchmark session: the kernel engine against the userspace
# engine, the Linux bridge, OVS netdev (and a direct veth pair), one scenario
# after the other, each interleaving its configurations (medians, ratios to
# the bridge of the same run). Writes one markdown file per scenario and
# summary.md (all of them, with the commands and the machine) to OUT.
#
#   test/bench/engine_bench.sh [--out DIR] [--reps N] [--duration S]
#                              [--backends kernel,af_packet] [--ports 1000]
#                              [--addresses 100000] [--flood-ports 64]
#                              [--only veth,rules,flood,scale]
#
# Scenarios (each script's header says how it measures):
#   veth   veth_bench.py: TCP single stream, 64-byte UDP (delivered, loss, CPU
#          per packet), UDP RR p50/p99, ICMP RTT; direct, linux-bridge,
#          veb-<backend>..., ovs-netdev
#   rules  veth_bench.py --scenario rules: TCP with 10 rules per direction per
#          port, VLAN trunk and a span port; linux-bridge (ebtables, tc mirror),
#          veb-<backend>...
#   flood  flood_bench.py: broadcast from one pod to --flood-ports - 1,
#          delivered copies/s; linux-bridge, veb-<backend>..., ovs-netdev
#   scale  scale_bench.py per engine (userspace, and kernel when "kernel" is
#          among --backends): 2 vs 2 + --ports ports, RSS with --addresses
# Root, after `bazel build //server:vebd //cli:vebctl`. Exit status: the
# number of scenarios that failed (a failed scenario does not stop the rest).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
out="/tmp/veb-engine-bench.$(date -u +%Y%m%dT%H%M%S)"
reps=3
duration=5
backends="kernel,af_packet"
ports=1000
addresses=100000
flood_ports=64
only="veth,rules,flood,scale"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2" ;;
    --reps) reps="$2" ;;
    --duration) duration="$2" ;;
    --backends) backends="$2" ;;
    --ports) ports="$2" ;;
    --addresses) addresses="$2" ;;
    --flood-ports) flood_ports="$2" ;;
    --only) only="$2" ;;
    *) echo "engine_bench: unknown argument \"$1\" (see the header of $0)" >&2; exit 2 ;;
  esac
  shift 2 || { echo "engine_bench: $1 needs a value" >&2; exit 2; }
done
if [[ "$(id -u)" -ne 0 ]]; then
  echo "engine_bench: must run as root" >&2
  exit 2
fi
for bin in server/vebd cli/vebctl; do
  if [[ ! -x "${root}/bazel-bin/${bin}" ]]; then
    echo "engine_bench: ${root}/bazel-bin/${bin} missing: bazel build //server:vebd //cli:vebctl" >&2
    exit 2
  fi
done
mkdir -p "${out}"
failed=0
summary="${out}/summary.md"
{
  echo "# veb engines side by side (issue 11)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "${root}" rev-parse --short HEAD 2>/dev/null);" \
    "$(nproc) cores, kernel $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Reps ${reps}, loads ${duration} s; veb variants ${backends}."
} >"${summary}"

# Stopped (SIGTERM/SIGINT): the running scenario is stopped too; it removes
# its namespaces and switches on its way out.
child=""
stop() {
  if [[ -n "${child}" ]]; then
    kill -TERM "${child}" 2>/dev/null
    wait "${child}"
  fi
  echo "engine_bench: stopped; partial tables in ${out}" >&2
  exit 130
}
trap stop TERM INT

run() {  # run NAME COMMAND...: one scenario, its table appended to the summary
  local name="$1"
  shift
  [[ ",${only}," == *",${name%%-*},"* ]] || return 0
  echo "== ${name}: $*" >&2
  local start=${SECONDS}
  "$@" --markdown "${out}/${name}.md" 2> >(tee "${out}/${name}.log" >&2) &
  child=$!
  wait "${child}"
  local rc=$?
  child=""
  if [[ ${rc} -eq 0 ]]; then
    status="ok"
  else
    status="FAILED (exit ${rc}; see ${name}.log)"
    failed=$((failed + 1))
  fi
  {
    echo
    echo "## ${name}: ${status}, $((SECONDS - start)) s"
    echo
    echo "\`$*\`"
    echo
    cat "${out}/${name}.md" 2>/dev/null || echo "(no table)"
  } >>"${summary}"
}

run veth python3 "${here}/veth_bench.py" --reps "${reps}" --duration "${duration}" \
  --veb-backends "${backends}"
run rules python3 "${here}/veth_bench.py" --scenario rules --reps "${reps}" \
  --duration "${duration}" --veb-backends "${backends}"
run flood python3 "${here}/flood_bench.py" --ports "${flood_ports}" --reps "${reps}" \
  --duration "${duration}" --veb-backends "${backends}"
run scale-userspace python3 "${here}/scale_bench.py" --engine userspace --ports "${ports}" \
  --addresses "${addresses}" --reps "${reps}" --duration "${duration}"
if [[ ",${backends}," == *",kernel,"* ]]; then
  run scale-kernel python3 "${here}/scale_bench.py" --engine kernel --ports "${ports}" \
    --addresses "${addresses}" --reps "${reps}" --duration "${duration}"
fi
echo "engine_bench: ${failed} scenario(s) failed; tables in ${out}, all of them in ${summary}" >&2
exit "${failed}"
