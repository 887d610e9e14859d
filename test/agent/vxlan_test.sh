#!/usr/bin/env bash
# Tunnel vports (docs/design.md section 14) between two nodes, each a network
# namespace running its own vebd (own socket, state file, no metrics, its own
# bpffs pins), joined by an underlay veth (10.99.0.1 <-> 10.99.0.2):
#   - `vebctl veb0 vport vxlan vx0 vni N local IP dev UNDERLAY` makes a VXLAN
#     device (nolearning) that is a member port of veb0; `peers` sets its
#     peer (an all-zeros forwarding entry on the device);
#   - pods (veth pod vports) ping across the nodes; TCP carries 8 MiB
#     byte for byte (sha256 at both ends); the remote pod's MAC is learned
#     behind vx0;
#   - one broadcast from a pod arrives exactly once at the remote pod and
#     exactly once at the local neighbour (never reflected back through the
#     tunnel); with the peer removed it no longer reaches the other node, and
#     re-added it does again;
#   - kill -9 of one vebd and a restart: the tunnel, its peers (one entry,
#     not two) and the pods are back, pings cross again;
#   - a restart while the device and its underlay are gone: the tunnel is
#     pending (naming the underlay) and made again, with its peers, as soon
#     as the underlay is back;
#   - bad input (VNI out of range, a missing underlay, a VNI used twice, a
#     malformed peer, peers of a pod vport) is refused with a clear error
#     and leaves no interface and no change behind; deleting the vport
#     deletes the device; cleanup leaves nothing.
# VEB_ENGINE=kernel runs it all on kernel-engine bridges. Root only.
# Prints "PASS: ..." / "FAIL: ..." per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." && source test/lib.sh
require_root
require_executables "bazel build //server:vebd //cli:vebctl" "${VEBD}" "${VEBCTL_BIN}"

ENGINE="${VEB_ENGINE:-userspace}"
P="vvx$$"
T="$(mktemp -d /tmp/veb-vxlan.XXXXXX)"
SOCK="${T}/n1.sock"  # lib.sh's vebctl; node-specific calls use vctl
N1="${P}-n1"
N2="${P}-n2"
VNI=4242
pid1=""
pid2=""
cleanup() {
  local p
  for p in "${pid1}" "${pid2}"; do [[ -n "${p}" ]] && kill -9 "${p}" 2>/dev/null; done
  wait 2>/dev/null
  pid1=""
  pid2=""
  vebd_pid=""
  rm -rf "/sys/fs/bpf/${P}-1" "/sys/fs/bpf/${P}-2" 2>/dev/null
  remove_netns "${P}"
}
trap on_exit EXIT

vctl() { local n="$1"; shift; timeout 10 "${VEBCTL_BIN}" --socket="${T}/n${n}.sock" "$@"; }
in_node() { local n="$1"; shift; ip netns exec "${P}-n${n}" "$@"; }
# start_node N: vebd inside node N's network namespace (nsenter keeps the
# mount namespace, so bpffs stays at /sys/fs/bpf); 0 once healthy.
start_node() {
  local n="$1"
  nsenter --net="/var/run/netns/${P}-n${n}" "${VEBD}" --listen="unix://${T}/n${n}.sock" \
    --state_file="${T}/n${n}.json" --workers=1 --metrics_address= \
    --bpf_pin_root="/sys/fs/bpf/${P}-${n}" >>"${T}/vebd${n}.log" 2>&1 &
  vebd_pid=$!
  if [[ "${n}" == 1 ]]; then pid1=${vebd_pid}; else pid2=${vebd_pid}; fi
  wait_healthy "${T}/n${n}.sock" 10
}
peer_entries() {  # peer_entries NODE: the all-zeros entries on vx0, one line each
  in_node "$1" bridge fdb show dev vx0 2>/dev/null | grep '^00:00:00:00:00:00' || true
}
pod_mac() { ip -n "$1" link show eth0 | awk '/link\/ether/ {print $2}'; }
ping_ok() { ip netns exec "$1" ping -c 2 -i 0.2 -W 2 "$2" >/dev/null 2>&1; }

# ---- two nodes, an underlay, two bridges --------------------------------------------
make_netns "${N1}" "${N2}" "${P}-a1" "${P}-b1" "${P}-a2"
ip link add u1 netns "${N1}" type veth peer name u2 netns "${N2}"
in_node 1 ip addr add 10.99.0.1/24 dev u1
in_node 2 ip addr add 10.99.0.2/24 dev u2
in_node 1 ip link set u1 up
in_node 2 ip link set u2 up
start_node 1 || { fail "vebd starts in node 1" "$(tail -5 "${T}/vebd1.log")"; finish; }
start_node 2 || { fail "vebd starts in node 2" "$(tail -5 "${T}/vebd2.log")"; finish; }
for n in 1 2; do check "node ${n}: create veb0 (engine ${ENGINE})" vctl "${n}" create veb0 engine "${ENGINE}"; done

check "node 1: vport vxlan vx0 vni ${VNI} local 10.99.0.1 dev u1" \
  vctl 1 veb0 vport vxlan vx0 vni "${VNI}" local 10.99.0.1 dev u1
check "node 2: vport vxlan vx0 with its peer" \
  vctl 2 veb0 vport vxlan vx0 vni "${VNI}" local 10.99.0.2 dev u2 peers 10.99.0.1
details="$(in_node 1 ip -d link show vx0 2>&1)"
if [[ "${details}" == *"vxlan id ${VNI}"* && "${details}" == *"local 10.99.0.1"* &&
  "${details}" == *"dev u1"* && "${details}" == *"dstport 4789"* && "${details}" == *"nolearning"* &&
  "${details}" == *",UP"* ]]; then
  pass "vx0 is a VXLAN device: id, local, dev, dstport 4789, nolearning, up"
else
  fail "vx0 is a VXLAN device with the given parameters" "${details}"
fi
want_backend=af_packet
[[ "${ENGINE}" == kernel ]] && want_backend=tc_bpf
out="$(vctl 1 veb0 ports 2>&1 | grep 'port vx0 ')"
if [[ "${out}" == *"backend ${want_backend}"* ]]; then
  pass "vx0 is a member port of veb0 (backend ${want_backend})"
else
  fail "vx0 is a member port of veb0 (backend ${want_backend})" "${out}"
fi
check "node 1: peers vx0 set 10.99.0.2" vctl 1 veb0 peers vx0 set 10.99.0.2
out="$(vctl 1 veb0 peers vx0 2>&1)"
if [[ "${out}" == *"tunnel"*"vni ${VNI}"*"peers 10.99.0.2"* && "$(peer_entries 1)" == *"dst 10.99.0.2"* &&
  "$(peer_entries 1 | wc -l)" == 1 ]]; then
  pass "the peer is reported and is one all-zeros entry on vx0"
else
  fail "the peer is reported and installed" "${out} / $(peer_entries 1)"
fi

# Pods: a1 and b1 on node 1, a2 on node 2 (one on-link subnet, MTU for VXLAN).
vctl 1 veb0 vport pod "/var/run/netns/${P}-a1" eth0 mtu 1450 >/dev/null &&
  vctl 1 veb0 vport pod "/var/run/netns/${P}-b1" eth0 mtu 1450 >/dev/null &&
  vctl 2 veb0 vport pod "/var/run/netns/${P}-a2" eth0 mtu 1450 >/dev/null
check "three pod vports (two on node 1, one on node 2)" test $? -eq 0
ip -n "${P}-a1" addr add 10.98.0.11/24 dev eth0
ip -n "${P}-b1" addr add 10.98.0.12/24 dev eth0
ip -n "${P}-a2" addr add 10.98.0.21/24 dev eth0

# ---- traffic across the nodes ---------------------------------------------------------
check "pod a1 (node 1) pings pod a2 (node 2)" ping_ok "${P}-a1" 10.98.0.21
check "pod a2 (node 2) pings pod b1 (node 1)" ping_ok "${P}-a2" 10.98.0.12
check "pod a1 pings pod b1 (same node)" ping_ok "${P}-a1" 10.98.0.12
mac_a2="$(pod_mac "${P}-a2")"
out="$(vctl 1 veb0 addr vx0 2>&1)"
if [[ "${out}" == *"${mac_a2}"*"vx0"* ]]; then
  pass "node 1 learned pod a2's MAC behind vx0"
else
  fail "node 1 learned pod a2's MAC behind vx0" "${mac_a2}: ${out}"
fi

# TCP: 8 MiB from a1 to a2, sha256 compared.
ip netns exec "${P}-a2" timeout 30 "${PY}" -c '
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.98.0.21", 5001)); s.listen(1)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
open(sys.argv[1], "w").write("%d %s" % (n, h.hexdigest()))' "${T}/tcp.rx" &
srv=$!
sleep 0.5
ip netns exec "${P}-a1" timeout 30 "${PY}" -c '
import hashlib, os, socket, sys
data = os.urandom(8 << 20)
s = socket.create_connection(("10.98.0.21", 5001), timeout=20)
s.sendall(data); s.close()
open(sys.argv[1], "w").write("%d %s" % (len(data), hashlib.sha256(data).hexdigest()))' "${T}/tcp.tx"
wait "${srv}"
if [[ -s "${T}/tcp.tx" && "$(cat "${T}/tcp.tx")" == "$(cat "${T}/tcp.rx" 2>/dev/null)" ]]; then
  pass "TCP: 8 MiB from node 1 to node 2, byte for byte (sha256)"
else
  fail "TCP across the tunnel byte for byte" "tx $(cat "${T}/tcp.tx" 2>/dev/null) rx $(cat "${T}/tcp.rx" 2>/dev/null)"
fi

# ---- floods: exactly once, split horizon, peers ----------------------------------------
counts="$(bcast_count "${P}-a1" "veb-once-1" "${P}-a2" "${P}-b1")"
if [[ "${counts}" == "1 1" ]]; then
  pass "a broadcast from a1 arrives once at a2 (remote) and once at b1 (not reflected back)"
else
  fail "a broadcast arrives exactly once (a2 b1)" "${counts}"
fi
counts="$(bcast_count "${P}-a2" "veb-once-2" "${P}-a1" "${P}-b1")"
if [[ "${counts}" == "1 1" ]]; then
  pass "a broadcast from a2 arrives once at each pod of node 1"
else
  fail "a broadcast from a2 arrives once at a1 and b1" "${counts}"
fi
check "node 1: peers vx0 del 10.99.0.2" vctl 1 veb0 peers vx0 del 10.99.0.2
counts="$(bcast_count "${P}-a1" "veb-nopeer" "${P}-a2" "${P}-b1")"
if [[ "${counts}" == "0 1" && -z "$(peer_entries 1)" ]]; then
  pass "peer removed: its entry is gone and floods no longer reach node 2 (b1 still gets them)"
else
  fail "peer removed: floods stop reaching node 2" "${counts} / $(peer_entries 1)"
fi
check "node 1: peers vx0 add 10.99.0.2" vctl 1 veb0 peers vx0 add 10.99.0.2
counts="$(bcast_count "${P}-a1" "veb-again" "${P}-a2")"
if [[ "${counts}" == "1" ]]; then pass "peer re-added: floods reach node 2 again"; else fail "peer re-added: floods reach node 2" "${counts}"; fi
check "pod a1 pings pod a2 after the peer is back" ping_ok "${P}-a1" 10.98.0.21

# ---- bad input: refused, nothing made, nothing changed -----------------------------------
links_before="$(in_node 1 ip -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' ')"
bad() {  # bad NAME EXPECTED_TEXT CODE VEBCTL_ARGS...
  local name="$1" want="$2" code="$3" out rc links
  shift 3
  out="$(vctl 1 "$@" 2>&1)"
  rc=$?
  links="$(in_node 1 ip -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' ')"
  if [[ ${rc} -ne 0 && "${out}" == *"${want}"*"(code ${code})"* && "${links}" == "${links_before}" ]]; then
    pass "refused: ${name}"
  else
    fail "refused: ${name}" "${out}; links ${links}"
  fi
}
bad "vni 0" 'vni 0: out of range 1..16777215' 3 veb0 vport vxlan vx1 vni 0
bad "vni 16777216" 'vni 16777216: out of range 1..16777215' 3 veb0 vport vxlan vx1 vni 16777216
bad "a missing underlay device" 'underlay "nosuchdev"' 5 veb0 vport vxlan vx1 vni 7 dev nosuchdev
bad "a VNI used twice on one node" "vni ${VNI} is already used by tunnel vport \"vx0\"" 6 \
  veb0 vport vxlan vx1 vni "${VNI}"
bad "a malformed local address" 'local "10.99.0": not an IPv4 or IPv6 address' 3 \
  veb0 vport vxlan vx1 vni 7 local 10.99.0
bad "a malformed peer" 'peer "10.99.0.x": not an IPv4 or IPv6 address' 3 veb0 peers vx0 add 10.99.0.x
bad "a multicast peer" 'peer "239.1.1.1": must be a unicast address' 3 veb0 peers vx0 set 239.1.1.1
bad "a peer given twice" 'peer "10.99.0.7": given twice' 3 veb0 peers vx0 set 10.99.0.7,10.99.0.7
bad "peers of a pod vport" 'not a tunnel vport' 9 veb0 peers "$(vctl 1 veb0 vports | awk -F: '/pod/ {print $1; exit}')" set 10.99.0.2
bad "peers of a missing vport" 'vport "nosuch": peers: not found' 5 veb0 peers nosuch set 10.99.0.2
out="$(vctl 1 veb0 peers vx0 2>&1)"
if [[ "${out}" == *"peers 10.99.0.2" && "$(peer_entries 1 | wc -l)" == 1 ]]; then
  pass "the refused peer changes left the peer set as it was"
else
  fail "the refused peer changes left the peer set as it was" "${out} / $(peer_entries 1)"
fi

# ---- kill -9 and restart node 1 -------------------------------------------------------
kill -9 "${pid1}"
wait "${pid1}" 2>/dev/null
pid1=""
start_node 1 || fail "vebd restarts in node 1" "$(tail -5 "${T}/vebd1.log")"
out="$(vctl 1 veb0 vports 2>&1)"
if [[ "${out}" == *"vx0: tunnel"*"vni ${VNI} local 10.99.0.1 dev u1 dstport 4789 peers 10.99.0.2"* &&
  "$(grep -c ': pod' <<<"${out}")" == 2 && "${out}" != *pending* ]]; then
  pass "after kill -9: the tunnel (with its peer) and both pods are restored"
else
  fail "after kill -9: tunnel, peer and pods restored" "${out}"
fi
if [[ "$(peer_entries 1 | wc -l)" == 1 ]]; then pass "after kill -9: still one peer entry"; else fail "one peer entry after restart" "$(peer_entries 1)"; fi
check "after kill -9: pod a1 pings pod a2" ping_ok "${P}-a1" 10.98.0.21
counts="$(bcast_count "${P}-a2" "veb-restart" "${P}-a1" "${P}-b1")"
if [[ "${counts}" == "1 1" ]]; then pass "after kill -9: a broadcast from a2 arrives once at a1 and b1"; else fail "broadcast once after restart" "${counts}"; fi

# ---- restore while the underlay is missing: pending, then made ----------------------
kill -9 "${pid2}"
wait "${pid2}" 2>/dev/null
pid2=""
in_node 2 ip link del vx0
in_node 2 ip link set u2 down
in_node 2 ip link set u2 name u2x
start_node 2 || fail "vebd restarts in node 2" "$(tail -5 "${T}/vebd2.log")"
out="$(vctl 2 veb0 vports 2>&1 | grep '^vx0')"
if [[ "${out}" == *"pending ("*'underlay "u2"'* ]] && ! in_node 2 ip link show vx0 >/dev/null 2>&1; then
  pass "underlay missing at restart: vx0 is pending, naming the underlay"
else
  fail "underlay missing at restart: vx0 pending" "${out}"
fi
in_node 2 ip link set u2x name u2
in_node 2 ip link set u2 up
for ((i = 0; i < 50; i++)); do
  out="$(vctl 2 veb0 vports 2>&1 | grep '^vx0')"
  [[ -n "${out}" && "${out}" != *pending* ]] && break
  sleep 0.1
done
if [[ "${out}" == *"vx0: tunnel"*"peers 10.99.0.1"* && "${out}" != *pending* &&
  "$(peer_entries 2)" == *"dst 10.99.0.1"* ]]; then
  pass "the underlay back: vx0 is made again with its peer and attached"
else
  fail "the underlay back: vx0 made again" "${out} / $(peer_entries 2)"
fi
check "after the underlay came back: pod a1 pings pod a2" ping_ok "${P}-a1" 10.98.0.21

# ---- delete -----------------------------------------------------------------------------
check "node 2: delvport vx0" vctl 2 veb0 delvport vx0
if ! in_node 2 ip link show vx0 >/dev/null 2>&1; then pass "deleting the vport deleted its device"; else fail "the device is gone"; fi
if ! ping_ok "${P}-a1" 10.98.0.21; then pass "no tunnel on node 2: no traffic across"; else fail "no traffic across without the tunnel"; fi

check_cleanup "namespaces, devices, pins"
finish "${T}/vebd1.log"
