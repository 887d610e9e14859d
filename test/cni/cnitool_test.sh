#!/usr/bin/env bash
# The veb CNI plugin through the real cnitool and reference plugins, against a
# real vebd and network namespaces this script creates (root):
#   add/check/del/del again/gc/status with the result checked against the
#   spec's fields; pods ping each other and the gateway; pod ports hardened by
#   default (locked with the MAC static, ifmaxaddr 4, the ARP guard rule pair;
#   CHECK re-applies them; a pod's forged ARP for the gateway is dropped as
#   rules_in and poisons no cache, while with pinMac/arpGuard/maxAddresses
#   off nothing is set and the same forgery succeeds); a chained conflist
#   veb -> portmap -> tuning with host-local (a host port reaches the pod; DEL
#   leaves no rule, interface or allocation); 50 sequential and 10 parallel
#   pods; the agent killed and restarted between ADD and DEL; ADD failing
#   midway (IPAM exhausted, agent down) leaves nothing; bad input gets the
#   right CNI error code. After each part a leak check lists leftover veths,
#   ports and host-local allocations: there must be none.
# Prints "PASS: ..." / "FAIL: ..." per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
CNITOOL="${TOOLS}/cnitool"
T="$(mktemp -d /tmp/veb-cni.XXXXXX)"
SOCK="${T}/vebd.sock"
P="vct$$"  # netns prefix
pod_pid=""
CHECK_ONE_LINE=0  # a failed check shows its output as it was, line breaks kept

cleanup() {
  [[ -n "${pod_pid}" ]] && kill "${pod_pid}" 2>/dev/null
  stop_vebd
  for ns in $(ip netns list | awk '{print $1}' | grep "^${P}-"); do ip netns del "${ns}"; done
  for l in vcn0 vcn1 vcn2; do ip link show "${l}" >/dev/null 2>&1 && ip link del "${l}"; done
  # Rules portmap would leave behind if a DEL failed.
  iptables-save -t nat 2>/dev/null | grep -q "${P}" && echo "cleanup: portmap rules left" >&2
  rm -rf "${T}" "/var/lib/cni/results/"*"-${P}"* 2>/dev/null
}
trap cleanup EXIT
trap "exit 130" INT TERM

# ---- setup --------------------------------------------------------------------------
mkdir -p "${T}/bin" "${T}/conf" "${T}/ipam"
cp "${PLUGIN}" "${T}/bin/veb"
for p in host-local portmap tuning loopback; do cp "${TOOLS}/cni/${p}" "${T}/bin/"; done
export CNI_PATH="${T}/bin" NETCONFPATH="${T}/conf"

netconf() {  # netconf NAME BRIDGE SUBNET [extra veb keys] [extra plugins] [range]
  cat >"${T}/conf/$1.conflist" <<EOF
{"cniVersion": "1.1.0", "name": "$1", "plugins": [
  {"type": "veb", "bridge": "$2", "socket": "${SOCK}", "isGateway": true $4,
   "ipam": {"type": "host-local", "dataDir": "${T}/ipam",
            "ranges": [[{"subnet": "$3.0/24", "gateway": "$3.1" ${6:-}}]]}}
  $5
]}
EOF
}
netconf vebnet vcn0 10.66.0 "" ""
netconf chain vcn1 10.66.1 "" ', {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.log_martians": "1"}}'
netconf tiny vcn2 10.66.2 "" "" ', "rangeStart": "10.66.2.10", "rangeEnd": "10.66.2.10"'

if start_vebd --metrics_address=; then pass "vebd starts"; else fail "vebd starts" "$(tail -5 "${T}/vebd.log")"; exit 1; fi
for b in vcn0 vcn1 vcn2; do vebctl create "${b}" >/dev/null || fail "create ${b}"; done

ns() { echo "${P}-$1"; }
nspath() { echo "/var/run/netns/$(ns "$1")"; }
add() { "${CNITOOL}" add "$1" "$(nspath "$2")"; }
del() { "${CNITOOL}" del "$1" "$(nspath "$2")"; }
pod_ip() { ip -n "$(ns "$1")" -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}' | cut -d/ -f1; }
pod_vports() {  # pod vports on BRIDGE
  vebctl -o json "$1" vports | python3 -c '
import json, sys
print(sum(1 for v in json.load(sys.stdin).get("vports", []) if v.get("kind") == "VPORT_KIND_POD"))'
}
allocations() { find "${T}/ipam" -type f ! -name lock ! -name 'last_reserved_ip*' | wc -l; }
# Leak check: no pod vport, no host veth end of ours, no host-local allocation.
leak_check() {
  local what="$1" v=0 b
  for b in vcn0 vcn1 vcn2; do v=$((v + $(pod_vports "${b}"))); done
  local veths
  veths=$(ip -o link show type veth | grep -c ': vp[0-9a-f]\{8\}@' || true)
  local allocs
  allocs=$(allocations)
  if [[ "${v}" == 0 && "${veths}" == 0 && "${allocs}" == 0 ]]; then
    pass "no leftovers after ${what}"
  else
    fail "no leftovers after ${what}" "pod vports ${v}, veths ${veths}, allocations ${allocs}"
  fi
}

# plugin_call COMMAND CONFIG POD [ENV...]: runs the plugin as a runtime does;
# prints "rc code msg" (code "none" when stdout is not a CNI error).
plugin_call() {
  local cmd="$1" conf="$2" pod="$3"; shift 3
  local out rc
  out="$(env -i PATH="${PATH}" CNI_COMMAND="${cmd}" CNI_CONTAINERID="direct-${pod}" \
    CNI_NETNS="$(nspath "${pod}")" CNI_IFNAME=eth0 CNI_PATH="${CNI_PATH}" "$@" \
    "${T}/bin/veb" <<<"${conf}" 2>/dev/null)"
  rc=$?
  python3 -c '
import json, sys
try:
    j = json.loads(sys.argv[2])
    print(sys.argv[1], j.get("code", "none"), j.get("msg"))
except Exception:
    print(sys.argv[1], "none", sys.argv[2][:200].replace("\n", " "))' "${rc}" "${out}"
}

# ---- add / check / del / gc / status ---------------------------------------------------
for i in 1 2; do ip netns add "$(ns "$i")"; done
for i in 1 2; do
  if add vebnet "${i}" >"${T}/add${i}.json" 2>"${T}/err"; then pass "ADD pod ${i}"; else fail "ADD pod ${i}" "$(cat "${T}/err")"; fi
done
check "ADD result has the spec's fields" python3 - "${T}/add1.json" "$(nspath 1)" <<'EOF'
import ipaddress, json, re, sys
r = json.load(open(sys.argv[1]))
assert r["cniVersion"] == "1.1.0", r
host, pod = r["interfaces"]
assert re.fullmatch(r"vp[0-9a-f]{8}", host["name"]) and "sandbox" not in host, host
assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", host["mac"]), host
assert pod["name"] == "eth0" and pod["sandbox"] == sys.argv[2], pod
assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", pod["mac"]), pod
(ip,) = r["ips"]
assert ip["interface"] == 1, ip
assert ipaddress.ip_interface(ip["address"]) in ipaddress.ip_network("10.66.0.0/24") or \
    ipaddress.ip_interface(ip["address"]).network == ipaddress.ip_network("10.66.0.0/24"), ip
assert ip["gateway"] == "10.66.0.1", ip
EOF
check "the pod's interface carries the result's MAC and address" python3 - "${T}/add1.json" "$(ns 1)" <<'EOF'
import json, subprocess, sys
r = json.load(open(sys.argv[1]))
link = json.loads(subprocess.check_output(["ip", "-n", sys.argv[2], "-j", "addr", "show", "dev", "eth0"]))[0]
assert link["address"] == r["interfaces"][1]["mac"], (link["address"], r)
addrs = [f'{a["local"]}/{a["prefixlen"]}' for a in link["addr_info"] if a["family"] == "inet"]
assert addrs == [r["ips"][0]["address"]], addrs
assert "UP" in link["flags"], link["flags"]
EOF
check "the agent records both pods with their container IDs" python3 - <<EOF
import json, subprocess
v = json.loads(subprocess.check_output(["${VEBCTL_BIN}", "--socket=${SOCK}", "-o", "json", "vcn0", "vports"]))["vports"]
pods = [x for x in v if x["kind"] == "VPORT_KIND_POD"]
assert len(pods) == 2, v
assert all(p["pod"]["attachment"]["container_id"].startswith("cnitool-") for p in pods), pods
assert sorted(p["pod"]["netns"] for p in pods) == sorted(["$(nspath 1)", "$(nspath 2)"]), pods
EOF
check "pod 1 pings pod 2 through the switch" ip netns exec "$(ns 1)" ping -c 3 -i 0.2 -W 1 "$(pod_ip 2)"
check "pod 2 pings the gateway (host vport)" ip netns exec "$(ns 2)" ping -c 2 -i 0.2 -W 1 10.66.0.1
check "CHECK passes" "${CNITOOL}" check vebnet "$(nspath 1)"

# ---- pods that cannot spy or spoof (the defaults) and the switches that turn them off ----
# port_of POD: the pod's port (host veth end) on the bridge.
port_of() {
  local peer
  peer="$(ip -n "$(ns "$1")" -o link show eth0 | sed -n 's/.*@if\([0-9]*\).*/\1/p')"
  ip -o link show | awk -F': ' -v i="${peer}" '$1 == i {print $2}' | cut -d@ -f1
}
pod_mac() { ip -n "$(ns "$1")" -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
# hardening BRIDGE PORT MAC IP LOCKED MAXADDR guard|none: the pod port's lock,
# limit, static entry for the pod's MAC (present iff LOCKED) and rules.
hardening() {
  python3 - "$@" <<EOF
import json, subprocess, sys
bridge, port, mac, ip, locked, maxaddr, rules = sys.argv[1:]
def ctl(*a):
    return json.loads(subprocess.check_output(["${VEBCTL_BIN}", "--socket=${SOCK}", "-o", "json", bridge, *a]))
p = [x for x in ctl("ports")["ports"] if x["name"] == port][0]
assert p.get("locked", False) == (locked == "1"), p
assert not (locked == "1" and (p.get("learning") or p.get("discover"))), p
assert int(p.get("max_addresses", 0)) == int(maxaddr), p
statics = [a for a in ctl("addr", port).get("addresses", []) if a.get("type") == "ADDRESS_TYPE_STATIC" and a["mac"] == mac]
assert len(statics) == (1 if locked == "1" else 0), ctl("addr", port)
got = [(r.get("action"), r.get("arp", {}).get("spa", "")) for r in ctl("rules", port).get("rules", [])]
want = [] if rules == "none" else [("RULE_ACTION_PASS", ip), ("RULE_ACTION_BLOCK", "")]
assert got == want, (got, want)
EOF
}
not_hardened() { ! hardening "$@" >/dev/null 2>&1; }
port1="$(port_of 1)"; mac1="$(pod_mac 1)"; ip1="$(pod_ip 1)"
check "ADD with the defaults: the pod's port is locked, its MAC static, ifmaxaddr 4, ARP guard rules" \
  hardening vcn0 "${port1}" "${mac1}" "${ip1}" 1 4 guard
check "pod 1 pings the gateway (locked port, ARP guard)" ip netns exec "$(ns 1)" ping -c 2 -i 0.2 -W 1 10.66.0.1
# CHECK puts back what was taken away.
vebctl vcn0 flushrule "${port1}" >/dev/null; vebctl vcn0 deladdr "${mac1}" >/dev/null
vebctl vcn0 -locked "${port1}" >/dev/null; vebctl vcn0 ifmaxaddr "${port1}" 0 >/dev/null
check "(the hardening removed by hand)" not_hardened vcn0 "${port1}" "${mac1}" "${ip1}" 1 4 guard
check "CHECK re-applies the lock, static entry, limit and ARP rules" "${CNITOOL}" check vebnet "$(nspath 1)"
check "after CHECK the hardening is back" hardening vcn0 "${port1}" "${mac1}" "${ip1}" 1 4 guard
check "pod 1 still pings pod 2 after the repair" ip netns exec "$(ns 1)" ping -c 2 -i 0.2 -W 1 "$(pod_ip 2)"
# forge POD VICTIM: POD sends 3 ARP requests to VICTIM claiming the gateway's
# address (its own MAC as source; unicast, so no other pod's cache is
# touched); prints VICTIM's MAC for the gateway afterwards.
forge() {
  ip netns exec "$(ns "$2")" ping -c 1 -W 1 10.66.0.1 >/dev/null
  sleep 1.2  # past the neighbour entry's locktime (1 s): a forged ARP could replace it
  ip netns exec "$(ns "$1")" "${PY}" - "$(pod_mac "$1")" "$(pod_mac "$2")" "$(pod_ip "$2")" <<'EOF' >/dev/null 2>&1
import sys
from scapy.all import ARP, Ether, sendp
me, victim_mac, victim_ip = sys.argv[1:]
sendp(Ether(src=me, dst=victim_mac) / ARP(op=1, hwsrc=me, psrc="10.66.0.1", hwdst="00:00:00:00:00:00", pdst=victim_ip),
      iface="eth0", count=3, inter=0.05, verbose=False)
EOF
  sleep 0.3
  ip -n "$(ns "$2")" neigh show 10.66.0.1 | awk '{print $5}'
}
rules_in() {  # rules_in BRIDGE PORT: the port's receive drops counted as rules_in
  "${VEBCTL_BIN}" --socket="${SOCK}" -o json "$1" counters "$2" | python3 -c '
import json, sys
def walk(x):
    if isinstance(x, dict):
        if x.get("reason") == "DROP_REASON_RULES_IN": yield int(x.get("packets", 0))
        for v in x.values(): yield from walk(v)
    elif isinstance(x, list):
        for v in x: yield from walk(v)
print(max(list(walk(json.load(sys.stdin))) + [0]))'
}
port2="$(port_of 2)"
before="$(rules_in vcn0 "${port2}")"
got="$(forge 2 1)"
after="$(rules_in vcn0 "${port2}")"
[[ -n "${got}" && "${got}" != "$(pod_mac 2)" ]] && pass "pod 2's forged ARP for the gateway does not poison pod 1's cache" || fail "pod 2's forged ARP for the gateway does not poison pod 1's cache" "gateway at '${got}', pod 2 is $(pod_mac 2)"
[[ $((after - before)) -ge 3 ]] && pass "the forged ARP is dropped as rules_in on pod 2's port" || fail "the forged ARP is dropped as rules_in on pod 2's port" "rules_in ${before} -> ${after}"
# The switches off: nothing is pinned, guarded or limited, and the same forgery works.
netconf open vcn0 10.66.0 ', "pinMac": false, "arpGuard": false, "maxAddresses": 0' ""
ip netns add "$(ns 6)"; ip netns add "$(ns 7)"
check "ADD with pinMac, arpGuard and maxAddresses off" add open 6
check "ADD a second pod with them off" add open 7
check "with the switches off: no lock, no static entry, no limit, no rules" \
  hardening vcn0 "$(port_of 6)" "$(pod_mac 6)" "$(pod_ip 6)" 0 0 none
check "CHECK with the switches off adds nothing" "${CNITOOL}" check open "$(nspath 6)"
check "still nothing after CHECK" hardening vcn0 "$(port_of 6)" "$(pod_mac 6)" "$(pod_ip 6)" 0 0 none
got="$(forge 7 6)"
[[ "${got}" == "$(pod_mac 7)" ]] && pass "control: without the ARP guard the forgery poisons the neighbour's cache" || fail "control: without the ARP guard the forgery poisons the neighbour's cache" "gateway at '${got}'"
check "DEL the first pod with the switches off" del open 6
check "DEL the second pod with the switches off" del open 7
ip -n "$(ns 1)" addr flush dev eth0
out="$("${CNITOOL}" check vebnet "$(nspath 1)" 2>&1)"
if [[ $? -ne 0 ]] && grep -q "${ip1}" <<<"${out}"; then
  pass "CHECK fails naming the missing address"
else
  fail "CHECK fails naming the missing address" "${out}"
fi
check "STATUS: ready" "${CNITOOL}" status vebnet "$(nspath 1)"
check "DEL pod 1" del vebnet 1
check "DEL pod 1 again (idempotent)" del vebnet 1
if [[ "$(pod_vports vcn0)" == 1 ]]; then pass "DEL removed pod 1's vport only"; else fail "DEL removed pod 1's vport only" "$(vebctl vcn0 vports)"; fi
# ADD right after DEL gets the same vport name; the late kernel report about
# the old interface must not remove the new one.
check "ADD pod 1 again right after DEL" add vebnet 1
sleep 1.5
if [[ "$(pod_vports vcn0)" == 2 ]]; then pass "the re-added pod's vport survives the old interface's removal report"; else fail "the re-added pod's vport survives the old interface's removal report" "$(vebctl vcn0 vports)"; fi
check "the re-added pod pings pod 2" ip netns exec "$(ns 1)" ping -c 2 -i 0.2 -W 1 "$(pod_ip 2)"
# GC: an attachment the runtime no longer knows (made behind its back) and
# pod 2 (cnitool's GC passes no valid attachments: everything goes).
ip netns add "$(ns 3)"
vebctl vcn0 vport pod "$(nspath 3)" eth0 container leaked-1 >/dev/null
check "GC" "${CNITOOL}" gc vebnet "$(nspath 2)"
if [[ "$(pod_vports vcn0)" == 0 ]]; then pass "GC released every attachment"; else fail "GC released every attachment" "$(vebctl vcn0 vports)"; fi
if ip -n "$(ns 3)" link show eth0 >/dev/null 2>&1; then fail "GC removed the leaked pod's interface"; else pass "GC removed the leaked pod's interface"; fi
leak_check "add/check/del/gc"

# ---- a TAP pod; a pod whose namespace disappears without DEL ----------------------------
netconf taps vcn0 10.66.0 ', "portType": "tap"' ""
ip netns add "$(ns 4)"; ip netns add "$(ns 5)"
check "ADD a TAP pod (portType tap)" add taps 4
check "ADD a veth pod" add vebnet 5
if [[ "$(ip -n "$(ns 4)" -d -o link show eth0 2>/dev/null)" == *"tun type tap"* ]]; then pass "the TAP pod's eth0 is a TAP device"; else fail "the TAP pod's eth0 is a TAP device" "$(ip -n "$(ns 4)" -d link show eth0 2>&1)"; fi
check "the TAP pod pings the veth pod" ip netns exec "$(ns 4)" ping -c 3 -i 0.2 -W 1 "$(pod_ip 5)"
check "DEL the TAP pod" del taps 4
if ip -n "$(ns 4)" link show eth0 >/dev/null 2>&1; then fail "the TAP pod's interface is gone after DEL"; else pass "the TAP pod's interface is gone after DEL"; fi
# The runtime loses the pod: its namespace goes without a DEL. The agent
# notices (the veth pair dies with the namespace) and drops the vport.
ip netns del "$(ns 5)"
gone=0
for _ in $(seq 1 50); do [[ "$(pod_vports vcn0)" == 0 ]] && { gone=1; break; }; sleep 0.1; done
[[ ${gone} == 1 ]] && pass "a pod vport whose namespace disappeared is cleaned up" || fail "a pod vport whose namespace disappeared is cleaned up" "$(vebctl vcn0 vports)"
check "DEL of the vanished pod still succeeds (IPAM released)" "${CNITOOL}" del vebnet "$(nspath 5)"
leak_check "TAP pod and vanished pod"

# ---- chained: veb -> portmap -> tuning --------------------------------------------------
ip netns add "$(ns 10)"
# The runtime passes the same capability arguments to ADD and DEL.
export CAP_ARGS='{"portMappings": [{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}]}'
out="$("${CNITOOL}" add chain "$(nspath 10)" 2>&1)"
if [[ $? -eq 0 ]]; then pass "chained ADD (veb, portmap, tuning)"; else fail "chained ADD (veb, portmap, tuning)" "${out}"; fi
if [[ "$(ip netns exec "$(ns 10)" sysctl -n net.ipv4.conf.eth0.log_martians 2>&1)" == 1 ]]; then
  pass "tuning ran after veb (sysctl set on the pod's eth0)"
else
  fail "tuning ran after veb (sysctl set on the pod's eth0)"
fi
ip netns exec "$(ns 10)" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(4); s.settimeout(20)
while True:
    c, _ = s.accept(); c.sendall(b"hello from the pod\n"); c.close()' >/dev/null 2>&1 &
pod_pid=$!
sleep 0.5
got="$(python3 -c '
import socket
s = socket.create_connection(("10.66.1.1", 18080), timeout=3)
print(s.recv(100).decode().strip())' 2>&1)"
if [[ "${got}" == "hello from the pod" ]]; then pass "host port 18080 reaches the pod through portmap and veb"; else fail "host port 18080 reaches the pod through portmap and veb" "${got}"; fi
kill "${pod_pid}" 2>/dev/null; wait "${pod_pid}" 2>/dev/null; pod_pid=""
cid="cnitool-$(python3 -c "import hashlib,sys;print(hashlib.sha512(sys.argv[1].encode()).hexdigest()[:20])" "$(nspath 10)")"
check "chained DEL" "${CNITOOL}" del chain "$(nspath 10)"
unset CAP_ARGS
if iptables-save -t nat | grep -q "${cid}"; then fail "portmap's rules are gone after DEL"; else pass "portmap's rules are gone after DEL"; fi
if ip -n "$(ns 10)" link show eth0 >/dev/null 2>&1; then fail "the pod's interface is gone after chained DEL"; else pass "the pod's interface is gone after chained DEL"; fi
leak_check "chained add/del"

# ---- 50 sequential, 10 parallel ------------------------------------------------------------
for i in $(seq 100 159); do ip netns add "$(ns "$i")"; done
seq_fail=0
for i in $(seq 100 149); do add vebnet "${i}" >/dev/null 2>"${T}/err" || { seq_fail=$((seq_fail + 1)); cat "${T}/err"; }; done
[[ ${seq_fail} == 0 ]] && pass "50 sequential ADDs" || fail "50 sequential ADDs" "${seq_fail} failed"
pids=()
for i in $(seq 150 159); do add vebnet "${i}" >/dev/null 2>"${T}/err${i}" & pids+=($!); done
wait_rc=0
for j in "${pids[@]}"; do wait "${j}" || wait_rc=1; done
[[ ${wait_rc} == 0 ]] && pass "10 parallel ADDs" || fail "10 parallel ADDs" "$(cat "${T}"/err15* | head -5)"
n="$(pod_vports vcn0)"
ips="$(for i in $(seq 100 159); do pod_ip "${i}"; done | sort -u | grep -c .)"
[[ "${n}" == 60 && "${ips}" == 60 ]] && pass "60 pods, 60 vports, 60 distinct addresses" || fail "60 pods, 60 vports, 60 distinct addresses" "vports ${n}, addresses ${ips}"
check "pod 100 pings pod 159" ip netns exec "$(ns 100)" ping -c 2 -i 0.2 -W 1 "$(pod_ip 159)"
pids=()
for i in $(seq 100 159); do del vebnet "${i}" & pids+=($!); done
for j in "${pids[@]}"; do wait "${j}"; done
leak_check "60 pods"

# ---- agent restarted between ADD and DEL ------------------------------------------------------
ip netns add "$(ns 20)"; ip netns add "$(ns 21)"
check "ADD before the agent restarts" add vebnet 20
check "ADD a TAP pod before the agent restarts" add taps 21
ifindex_before="$(ip -n "$(ns 20)" -o link show eth0 | cut -d: -f1)"
tap_before="$(ip -n "$(ns 21)" -o link show eth0 | cut -d: -f1)"
kill -KILL "${vebd_pid}" 2>/dev/null; wait "${vebd_pid}" 2>/dev/null; vebd_pid=""
if start_vebd --metrics_address=; then pass "vebd restarts after kill -9"; else fail "vebd restarts after kill -9"; fi
ifindex_after="$(ip -n "$(ns 20)" -o link show eth0 | cut -d: -f1)"
check "the pod's port is still locked, pinned, limited and guarded after the restart (state file)" \
  hardening vcn0 "$(port_of 20)" "$(pod_mac 20)" "$(pod_ip 20)" 1 4 guard
[[ -n "${ifindex_before}" && "${ifindex_before}" == "${ifindex_after}" ]] && pass "the pod kept its interface across the restart" || fail "the pod kept its interface across the restart" "${ifindex_before} vs ${ifindex_after}"
tap_after="$(ip -n "$(ns 21)" -o link show eth0 | cut -d: -f1)"
[[ -n "${tap_before}" && "${tap_before}" == "${tap_after}" ]] && pass "the TAP pod kept its TAP across the restart" || fail "the TAP pod kept its TAP across the restart" "${tap_before} vs ${tap_after}"
check "the TAP pod pings the veth pod after the restart (TAP reopened)" ip netns exec "$(ns 21)" ping -c 2 -i 0.2 -W 1 "$(pod_ip 20)"
check "DEL the TAP pod after the restart" del taps 21
check "CHECK after the restart" "${CNITOOL}" check vebnet "$(nspath 20)"
check "DEL after the restart" del vebnet 20
leak_check "restart between ADD and DEL"

# ---- ADD failing midway ---------------------------------------------------------------------
ip netns add "$(ns 30)"; ip netns add "$(ns 31)"
check "ADD takes the only address of the tiny range" add tiny 30
out="$(add tiny 31 2>&1)"; rc=$?
if [[ ${rc} -ne 0 ]] && grep -qi "no IP addresses available\|exhausted\|no free" <<<"${out}"; then pass "ADD with IPAM exhausted fails"; else fail "ADD with IPAM exhausted fails" "rc ${rc}: ${out}"; fi
if ip -n "$(ns 31)" link show eth0 >/dev/null 2>&1; then fail "nothing left in the pod after the IPAM failure"; else pass "nothing left in the pod after the IPAM failure"; fi
[[ "$(pod_vports vcn2)" == 1 ]] && pass "no vport left after the IPAM failure" || fail "no vport left after the IPAM failure" "$(vebctl vcn2 vports)"
check "DEL of the failed ADD is fine" del tiny 31
check "DEL tiny pod" del tiny 30
stop_vebd
ip netns add "$(ns 32)"
out="$(add vebnet 32 2>&1)"; rc=$?
[[ ${rc} -ne 0 ]] && grep -q "not reachable" <<<"${out}" && pass "ADD with the agent down fails: agent not reachable" || fail "ADD with the agent down fails: agent not reachable" "rc ${rc}: ${out}"
read -r rc code msg <<<"$(plugin_call ADD "$(cat "${T}/conf/vebnet.conflist" | python3 -c 'import json,sys; c=json.load(sys.stdin); p=c["plugins"][0]; p.update(cniVersion=c["cniVersion"], name=c["name"]); print(json.dumps(p))')" 32)"
[[ ${rc} != 0 && "${code}" == 11 ]] && pass "the plugin says code 11 (try again later) with the agent down" || fail "the plugin says code 11 (try again later) with the agent down" "${rc} ${code} ${msg}"
if ip -n "$(ns 32)" link show eth0 >/dev/null 2>&1; then fail "nothing left in the pod with the agent down"; else pass "nothing left in the pod with the agent down"; fi
[[ "$(allocations)" == 0 ]] && pass "no address allocated with the agent down" || fail "no address allocated with the agent down" "$(find "${T}/ipam" -type f)"
out="$("${CNITOOL}" status vebnet "$(nspath 32)" 2>&1)"; rc=$?
[[ ${rc} -ne 0 ]] && grep -q "not serving" <<<"${out}" && pass "STATUS: not ready with the agent down" || fail "STATUS: not ready with the agent down" "rc ${rc}: ${out}"
# DEL cannot know whether the agent holds an attachment: try again later
# (runtimes retry DEL), and it succeeds once the agent is back.
out="$(del vebnet 32 2>&1)"; rc=$?
[[ ${rc} -ne 0 ]] && grep -q "not reachable" <<<"${out}" && pass "DEL with the agent down asks to try again" || fail "DEL with the agent down asks to try again" "rc ${rc}: ${out}"
start_vebd --metrics_address= || fail "vebd starts again"
check "DEL once the agent is back" del vebnet 32
leak_check "failed ADDs"

# ---- bad input: the plugin as a runtime calls it -----------------------------------------------
ip netns add "$(ns 1)" 2>/dev/null
good='"cniVersion": "1.1.0", "name": "n", "type": "veb", "socket": "'"${SOCK}"'"'
expect_code() {  # NAME CODE PATTERN CONFIG [ENV...]
  local name="$1" code="$2" pattern="$3" conf="$4"; shift 4
  local got
  got="$(plugin_call ADD "${conf}" 1 "$@")"
  read -r rc c msg <<<"${got}"
  if [[ "${rc}" != 0 && "${c}" == "${code}" ]] && grep -qi -- "${pattern}" <<<"${msg}"; then
    pass "bad input: ${name} -> code ${code}"
  else
    fail "bad input: ${name} -> code ${code}" "${got}"
  fi
}
expect_code "invalid JSON" 6 "JSON" '{"cniVersion": '
expect_code "missing bridge" 7 "bridge" "{${good}}"
expect_code "unknown bridge" 7 'bridge "nope"' "{${good}, \"bridge\": \"nope\"}"
# The agent's message as it is: it names the vport and the operation itself,
# so the plugin adds no second prefix ("create pod vport: vport ...: create:").
expect_code "bad MAC (the agent's message, no doubled prefix)" 7 \
  '^vport[^:]*: create: mac "02:00:zz:00:00:01": invalid MAC address$' \
  "{${good}, \"bridge\": \"vcn0\", \"mac\": \"02:00:zz:00:00:01\"}"
expect_code "missing CNI_NETNS" 4 "CNI_NETNS" "{${good}, \"bridge\": \"vcn0\"}" CNI_NETNS=
expect_code "unsupported cniVersion" 1 "9.9.9" '{"cniVersion": "9.9.9", "name": "n", "type": "veb", "bridge": "vcn0"}'
if ip -n "$(ns 1)" link show eth0 >/dev/null 2>&1; then fail "bad input leaves nothing in the pod"; else pass "bad input leaves nothing in the pod"; fi
leak_check "bad input"

finish
