#!/usr/bin/env bash
# The quick-start demo: installs what it needs, builds vebd and vebctl, starts
# vebd with bridge veb0, attaches three demo pods (network namespaces
# vebdemo-a/b/c, 10.96.0.1-3/24; each gets a pod vport from vebd: a veth pair
# made by the agent, eth0 inside the pod, the host end an AF_PACKET port),
# pings between them, and prints the vports, the learned address table, the
# counters and a metrics excerpt.
#   scripts/demo.sh          clean up at the end (default)
#   scripts/demo.sh --keep   leave vebd and the pods running (stop: scripts/demo.sh --stop)
# Run as root. Traffic stays inside the demo namespaces.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUN=/tmp/vebdemo
SOCK="${RUN}/vebd.sock"
PODS=(vebdemo-a vebdemo-b vebdemo-c)
METRICS=127.0.0.1:9464

stop() {
  for p in "${PODS[@]}"; do
    ip netns del "${p}" 2>/dev/null || true
    ip link del "${p#vebdemo-}-vebdemo" 2>/dev/null || true  # the vport's host end
  done
  if [[ -f "${RUN}/vebd.pid" ]]; then kill "$(cat "${RUN}/vebd.pid")" 2>/dev/null || true; sleep 0.5; fi
  rm -rf "${RUN}"
}
if [[ "${1:-}" == "--stop" ]]; then stop; echo "demo stopped"; exit 0; fi
KEEP=0
[[ "${1:-}" == "--keep" ]] && KEEP=1

bash scripts/setup.sh
bazel build //server:vebd //cli:vebctl 2>&1 | tail -1
stop
mkdir -p "${RUN}"
[[ ${KEEP} == 1 ]] || trap stop EXIT
echo '{"bridges":[{"name":"veb0","settings":{"maxAddresses":1000}}]}' >"${RUN}/vebd.json"
bazel-bin/server/vebd --listen="unix://${SOCK}" --config="${RUN}/vebd.json" \
  --state_file="${RUN}/state.json" --metrics_address="${METRICS}" >"${RUN}/vebd.log" 2>&1 &
echo $! >"${RUN}/vebd.pid"
VEBCTL=(bazel-bin/cli/vebctl --socket="${SOCK}")
for _ in $(seq 1 50); do "${VEBCTL[@]}" health >/dev/null 2>&1 && break; sleep 0.1; done

i=1
for p in "${PODS[@]}"; do
  host="${p#vebdemo-}-vebdemo"
  ip netns add "${p}"
  ip -n "${p}" link set lo up
  "${VEBCTL[@]}" veb0 vport pod "/var/run/netns/${p}" eth0 name "${host}" container "${p}" >/dev/null
  ip -n "${p}" addr add "10.96.0.${i}/24" dev eth0
  i=$((i + 1))
done
echo "== vebctl veb0 show"
"${VEBCTL[@]}" veb0 show
echo "== vebctl veb0 vports"
"${VEBCTL[@]}" veb0 vports
echo "== ping from vebdemo-a"
ip netns exec vebdemo-a ping -c 3 -i 0.2 -W 2 10.96.0.2
ip netns exec vebdemo-a ping -c 3 -i 0.2 -W 2 10.96.0.3
echo "== vebctl veb0 addr (the learned table)"
"${VEBCTL[@]}" veb0 addr
echo "== vebctl veb0 counters"
"${VEBCTL[@]}" veb0 counters
echo "== metrics excerpt (http://${METRICS}/metrics)"
curl -s "http://${METRICS}/metrics" | grep -E '^veb_(addresses|ports|port_receive_packets_total|flooded)' | head -12
if [[ ${KEEP} == 1 ]]; then
  echo "left running: vebd (socket ${SOCK}), pods ${PODS[*]}; stop with scripts/demo.sh --stop"
fi
