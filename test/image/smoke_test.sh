#!/usr/bin/env bash
# Node image smoke test: runs localhost/veb under podman the way the chart's
# DaemonSet does (host network, the same capabilities, the same mounts pointed
# at temporary host directories, the chart's rendered ConfigMap as /etc/veb):
# the init container installs the plugin and this node's conflist and writes
# vebd's startup file (the node's IP taken as 127.0.0.1: a single node, static
# range, no tunnel), vebd turns SERVING,
# /metrics answers, and (when ATTACH=1, the default) two pod namespaces
# attached through the installed plugin with cnitool ping each other.
# The chart's default engine is the kernel engine, so the DaemonSet's bpffs
# step runs first (a privileged container mounting bpffs on the host when
# missing) and vebd gets BPF and PERFMON and the host's /sys/fs/bpf; its pins
# go to a directory of this test's own (--bpf_pin_root), removed at the end.
# Builds the image first unless IMAGE is given. Prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
IMAGE="${IMAGE:-}"
T="$(mktemp -d /tmp/veb-smoke.XXXXXX)"
NAME="veb-smoke-$$"
NS=(vsmk-a-$$ vsmk-b-$$)
PORT=$((20000 + $$ % 20000))
PODMAN=(podman --runtime runc)
PINS="/sys/fs/bpf/veb-smoke-$$"
cleanup() {
  for n in "${NS[@]}"; do
    CNI_PATH="${T}/cni-bin" NETCONFPATH="${T}/cni-conf" timeout 20 "${TOOLS}/cnitool" del veb "/var/run/netns/${n}" >/dev/null 2>&1
    ip netns del "${n}" 2>/dev/null
  done
  # The bridge's host vport (the pods' gateway TAP) outlives vebd by design.
  "${PODMAN[@]}" exec "${NAME}" /opt/veb/bin/vebctl --socket="${T}/run/vebd.sock" destroy veb0 force >/dev/null 2>&1
  rm -rf "${PINS}" 2>/dev/null
  "${PODMAN[@]}" rm -f -t 5 "${NAME}" >/dev/null 2>&1
  ip link show veb0 >/dev/null 2>&1 && ip link del veb0
  rm -rf "${T}"
}
trap cleanup EXIT

if [[ -z "${IMAGE}" ]]; then
  IMAGE="$(bash image/build.sh 2>"${T}/build.log" | tail -1)" || { cat "${T}/build.log"; echo "0 passed, 1 failed"; exit 1; }
fi
pass "image ${IMAGE} built"

# The chart's ConfigMap, rendered for this host's paths.
mkdir -p "${T}"/{cni-bin,cni-conf,run,state,etc,node}
"${TOOLS}/helm" template veb charts/veb --set vebd.socket="${T}/run/vebd.sock" \
  --set cni.ipam.subnet=10.97.0.0/24 --set cni.ipam.gateway=10.97.0.1 --set cni.ipam.nodeRange=static \
  --set tunnel.enabled=false --set cni.mtu=1500 >"${T}/rendered.yaml"
/usr/bin/python3 - "${T}/rendered.yaml" "${T}/etc" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap" and "vebd.json" in d["data"]:
        for k, v in d["data"].items():
            open(f"{sys.argv[2]}/{k}", "w").write(v)
PY

# Init container, as in the DaemonSet.
if "${PODMAN[@]}" run --rm --network host --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 \
    --read-only -e CNI_CONF_NAME=10-veb.conflist -e NODE_NAME=vsmk-node -e NODE_IP=127.0.0.1 \
    -v "${T}/cni-bin:/host/opt/cni/bin" -v "${T}/cni-conf:/host/etc/cni/net.d" \
    -v "${T}/etc:/etc/veb:ro" -v "${T}/node:/etc/veb-node" --entrypoint /opt/veb/bin/install-cni "${IMAGE}" >"${T}/init.log" 2>&1 &&
   [[ -x "${T}/cni-bin/veb" && -x "${T}/cni-bin/host-local" && -s "${T}/cni-conf/10-veb.conflist" && -s "${T}/node/vebd.json" ]]; then
  pass "install-cni put the plugin, host-local and the conflist on the host, and vebd's startup file in node-config"
else
  fail "install-cni"; cat "${T}/init.log"
fi

# The kernel engine's bpffs step, as in the DaemonSet.
if "${PODMAN[@]}" run --rm --privileged --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 \
    -v /sys/fs/bpf:/sys/fs/bpf:rshared --entrypoint /bin/sh "${IMAGE}" \
    -c "mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf" >"${T}/bpffs.log" 2>&1 &&
   [[ "$(stat -f -c %T /sys/fs/bpf)" == bpf_fs ]]; then
  pass "bpffs mounted on the host's /sys/fs/bpf by the init step"
else
  fail "bpffs init step"; cat "${T}/bpffs.log"
fi

# vebd, as in the DaemonSet.
mkdir -p /var/run/netns
"${PODMAN[@]}" run -d --name "${NAME}" --network host --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 \
  --read-only --cap-drop ALL --cap-add NET_ADMIN,NET_RAW,SYS_ADMIN,IPC_LOCK,BPF,PERFMON \
  --security-opt no-new-privileges --device /dev/net/tun \
  -v "${T}/run:${T}/run" -v "${T}/state:/var/lib/veb" -v /var/run/netns:/var/run/netns:rslave \
  -v /sys/fs/bpf:/sys/fs/bpf:rslave -v "${T}/etc:/etc/veb:ro" -v "${T}/node:/etc/veb-node:ro" "${IMAGE}" \
  --listen="unix://${T}/run/vebd.sock" --config=/etc/veb-node/vebd.json --bpf_pin_root="${PINS}" \
  --state_file=/var/lib/veb/state.json --metrics_address="127.0.0.1:${PORT}" >/dev/null
serving=""
for _ in $(seq 1 50); do
  serving="$("${PODMAN[@]}" exec "${NAME}" /opt/veb/bin/vebctl --socket="${T}/run/vebd.sock" health 2>/dev/null)"
  [[ "${serving}" == SERVING ]] && break
  sleep 0.2
done
if [[ "${serving}" == SERVING ]]; then pass "health check SERVING (vebctl health in the container)"; else
  fail "health check: '${serving}'"; "${PODMAN[@]}" logs "${NAME}" | tail -20; fi
listed="$("${PODMAN[@]}" exec "${NAME}" /opt/veb/bin/vebctl --socket="${T}/run/vebd.sock" list 2>&1)"
if [[ "${listed}" == "veb0: up engine kernel "* ]]; then
  pass "bridge veb0 created from the chart's vebd.json (kernel engine)"; else fail "bridge veb0 from vebd.json" "${listed}"; "${PODMAN[@]}" logs "${NAME}" | tail -5; fi
if curl -sf "http://127.0.0.1:${PORT}/metrics" | grep -q '^veb_build_info'; then pass "/metrics answers"; else fail "/metrics"; fi

if [[ "${ATTACH:-1}" == 1 ]]; then
  attached=1
  for i in 0 1; do
    ip netns add "${NS[$i]}"
    if ! CNI_PATH="${T}/cni-bin" NETCONFPATH="${T}/cni-conf" timeout 30 "${TOOLS}/cnitool" add veb \
        "/var/run/netns/${NS[$i]}" >"${T}/add-$i.json" 2>&1; then
      attached=0; cat "${T}/add-$i.json"
    fi
  done
  if [[ ${attached} == 1 ]]; then pass "two pods attached through the installed plugin (cnitool add)"; else fail "cnitool add"; fi
  peer="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"].split("/")[0])' "${T}/add-1.json" 2>/dev/null)"
  if [[ -n "${peer}" ]] && ip netns exec "${NS[0]}" ping -c 3 -i 0.2 -W 2 "${peer}" >"${T}/ping.log" 2>&1; then
    pass "pod ${NS[0]} pings ${peer} through the switch"; else fail "ping between pods"; cat "${T}/ping.log" 2>/dev/null; fi
fi

finish
