#!/usr/bin/env bash
# veth_bench.py's veb switch: starts vebd with bridge veb0 holding the given
# interfaces as ports of one backend (from a startup config), in the current
# network namespace. Usage: run_veb.sh BACKEND[-rt] IFNAME...
# A "-rt" suffix runs the workers under SCHED_FIFO (--worker_priority=10).
set -euo pipefail
backend="$1"
shift
extra=""
if [[ "${backend}" == *-rt ]]; then
  backend="${backend%-rt}"
  extra="--worker_priority=10"
fi
# VEB_BENCH_DIR: a directory the caller made and removes (veth_bench.py does).
dir="${VEB_BENCH_DIR:-$(mktemp -d /tmp/veb-bench.XXXXXX)}"
ports=""
for p in "$@"; do
  ports="${ports:+${ports},}{\"bridge\":\"veb0\",\"name\":\"${p}\",\"backend\":\"BACKEND_${backend^^}\"}"
done
echo "{\"bridges\":[{\"name\":\"veb0\",\"settings\":{\"maxAddresses\":1000}}],\"ports\":[${ports}]}" >"${dir}/config.json"
exec "$(dirname "${BASH_SOURCE[0]}")/../../bazel-bin/server/vebd" --listen="unix://${dir}/vebd.sock" \
  --config="${dir}/config.json" --state_file= --metrics_address= ${extra} ${VEB_BENCH_ARGS:-}
