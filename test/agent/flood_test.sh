#!/usr/bin/env bash
# A pod flooding random source MACs and forging ARP cannot spy on or disturb
# its neighbours (docs/design.md S6, S7 and section 7; root, network
# namespaces this script makes, a vebd of its own with one worker).
#
# Three pods attached through cnitool with the plugin's defaults and the real
# conflist shape (isGateway, host-local), on a bridge whose table could hold
# 100,000 addresses. While pod 1 pings pod 2 every 10 ms:
#   A. pod 3 sends 1,000,000 frames with random unicast source and destination
#      MACs from a packet socket (at most 30 s) and forges ARP for pod 1's
#      address; a capture in pod 3 (tcpdump) runs throughout;
#   B. pod 3's port is unlocked and learns (as with "pinMac": false), and pod 3
#      sends 200,000 more: its own address limit (4) holds the table;
#   C. pod 3's limit is lifted too and it sends 1,000,000 more: the table fills
#      to the bridge's cap (100,000) and stops learning (table_full), keeping
#      its older entries, while pod 1 pings pod 2 every 10 ms.
# Checked: the table never holds more than the pods' entries and pod 3's limit
# (sampled during the flood), the capture holds none of pod 1 <-> pod 2's ICMP
# (and does hold pod 1's pings to pod 3, so it works), pod 1's pings lose
# nothing, the flood is refused (dropped as `locked`; then `port_full`), the
# forged ARP is dropped as rules_in and pod 2's cache keeps pod 1's MAC, and
# vebd's peak RSS stays under 128 MiB. The figures (table size, RSS, ping loss
# and RTT, vebctl latency during the flood) are printed as a Markdown table.
# VEB_ENGINE=kernel runs it all on a kernel-engine bridge (the BPF program
# enforces the pods' locks and limits; vebd only reads the table).
# Prints "PASS: ..." / "FAIL: ..." per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
CNITOOL="${TOOLS}/cnitool"
T="$(mktemp -d /tmp/veb-flood.XXXXXX)"
SOCK="${T}/vebd.sock"
P="vfl$$"  # netns prefix
BR="vfl0"
ENGINE="${VEB_ENGINE:-userspace}"
FLOOD=1000000
FLOOD_B=200000
FLOOD_C=1000000  # part C: the bridge's cap holds (CAP addresses)
CAP=100000
POD_LIMIT=4  # the plugin's default maxAddresses
bg_pids=()

cleanup() {  # idempotent; non-zero (what, in LEFT) when something of ours is left
  local p
  for p in "${bg_pids[@]}"; do kill "${p}" 2>/dev/null; wait "${p}" 2>/dev/null; done
  bg_pids=()
  stop_vebd
  rm -f /var/lib/cni/results/*"-${P}-"* 2>/dev/null
  rm -rf "/sys/fs/bpf/${P}" 2>/dev/null
  remove_netns "${P}" "${BR}"
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

require_root
require_executables "bazel build //server:vebd //cli:vebctl //cni-plugin:veb; scripts/setup.sh" \
  "${VEBD}" "${VEBCTL_BIN}" "${PLUGIN}" "${CNITOOL}" /usr/bin/tcpdump /usr/bin/ping
"${PY}" -c 'import scapy.all' 2>/dev/null || { echo "flood_test.sh: python3-scapy missing" >&2; exit 1; }

pyj() {  # pyj EXPR: JSON on stdin, a Python expression over `j`
  "${PY}" -c '
import json, sys
j = json.load(sys.stdin)
r = eval(sys.argv[1])
print(r if isinstance(r, str) else json.dumps(r))' "$1"
}
ns() { echo "${P}-$1"; }
nspath() { echo "/var/run/netns/$(ns "$1")"; }
pod_ip() { ip -n "$(ns "$1")" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1; }
pod_mac() { ip -n "$(ns "$1")" -o link show dev eth0 | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/'; }
port_of() {  # the pod's port: the host end of its veth pair
  local peer
  peer="$(ip -n "$(ns "$1")" -o link show eth0 | sed -n 's/.*@if\([0-9]*\).*/\1/p')"
  ip -o link show | awk -F': ' -v i="${peer}" '$1 == i {print $2}' | cut -d@ -f1
}
table_size() { vebctl -o json "${BR}" show | pyj 'j["bridge"]["address_count"]'; }
port_drops() {  # port_drops PORT REASON: the port's receive drops for REASON
  vebctl -o json "${BR}" counters "$1" |
    pyj "sum(int(d.get('packets', 0)) for d in j['counters']['receive_drops'] if d['reason'] == 'DROP_REASON_$2')"
}
refused() {  # refused REASON: the bridge's learn refusals for REASON
  vebctl -o json "${BR}" counters |
    pyj "sum(int(d.get('packets', 0)) for b in j['bridges'] for d in b['learn_refused'] if d['reason'] == 'LEARN_REFUSED_REASON_$1')"
}
port_rx() { vebctl -o json "${BR}" counters "$1" | pyj 'int(j["counters"].get("receive_packets", 0))'; }
rss_kib() { awk "/^$1:/ {print \$2}" "/proc/${vebd_pid}/status"; }
# Frames the kernel dropped because a CPU's input backlog was full (all CPUs):
# where a flood costs other traffic before any switch sees it.
backlog_drops() { awk '{s += strtonum("0x" $2)} END {print s}' /proc/net/softnet_stat; }

# sample_while PID OUT: until PID exits, every ~50 ms: the table size and the
# latency (ms) of the `vebctl -o json BRIDGE show` call that read it (a whole
# vebctl run: process start, connect, RPC), one "size latency" line each.
sample_while() {
  local pid="$1" out="$2" t0 t1 json
  : >"${out}"
  while alive "${pid}"; do
    t0="$(now)"
    json="$(vebctl -o json "${BR}" show)"
    t1="$(now)"
    echo "$(pyj 'j["bridge"]["address_count"]' <<<"${json}") $(elapsed_ms "${t0}" "${t1}")" >>"${out}"
    sleep 0.05
  done
}
# flood POD COUNT SECONDS: COUNT frames with random unicast source and
# destination MACs (IPv4 ethertype) from POD's eth0, for at most SECONDS;
# prints "sent seconds".
flood() {
  ip netns exec "$(ns "$1")" "${PY}" - "$2" "$3" <<'EOF'
import os, socket, sys, time
count, limit = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
rnd = os.urandom(12 * 65536)
tail = b"\x08\x00" + bytes(46)
t0 = time.monotonic()
sent = 0
while sent < count and time.monotonic() - t0 < limit:
    rnd = os.urandom(12 * 65536)
    for i in range(min(65536, count - sent)):
        b = bytearray(rnd[12 * i:12 * i + 12])
        b[0] = (b[0] & 0xfc) | 0x02  # unicast, locally administered
        b[6] = (b[6] & 0xfc) | 0x02
        try:
            s.send(bytes(b) + tail)
            sent += 1
        except OSError:
            time.sleep(0.0005)
print(sent, round(time.monotonic() - t0, 2))
EOF
}

# ---- setup: a vebd, a bridge, three pods through cnitool --------------------------------
mkdir -p "${T}/bin" "${T}/conf" "${T}/ipam"
cp "${PLUGIN}" "${T}/bin/veb"
cp "${TOOLS}/cni/host-local" "${T}/bin/"
export CNI_PATH="${T}/bin" NETCONFPATH="${T}/conf"
cat >"${T}/conf/flood.conflist" <<EOF
{"cniVersion": "1.1.0", "name": "flood", "plugins": [
  {"type": "veb", "bridge": "${BR}", "engine": "${ENGINE}", "socket": "${SOCK}", "isGateway": true, "portType": "veth",
   "ipam": {"type": "host-local", "dataDir": "${T}/ipam",
            "ranges": [[{"subnet": "10.67.0.0/24", "gateway": "10.67.0.1"}]]}}
]}
EOF
if start_vebd --metrics_address= --bpf_pin_root="/sys/fs/bpf/${P}"; then pass "vebd starts"; else fail "vebd starts" "$(tail -5 "${T}/vebd.log")"; exit 1; fi
check "bridge ${BR} (${ENGINE} engine) with room for 100,000 addresses" vebctl create "${BR}" engine "${ENGINE}" maxaddr 100000
make_netns "$(ns 1)" "$(ns 2)" "$(ns 3)"
for i in 1 2 3; do
  check "ADD pod ${i} (plugin defaults)" "${CNITOOL}" add flood "$(nspath "${i}")"
done
ip1="$(pod_ip 1)"; ip2="$(pod_ip 2)"; ip3="$(pod_ip 3)"
mac1="$(pod_mac 1)"; mac3="$(pod_mac 3)"
port3="$(port_of 3)"
check "pod 1 pings pod 2 and the gateway" ip netns exec "$(ns 1)" sh -c "ping -c 2 -i 0.2 -W 1 ${ip2} && ping -c 1 -W 1 10.67.0.1"
check "pod 3's port is locked with ifmaxaddr ${POD_LIMIT}" bash -c \
  "timeout 10 '${VEBCTL_BIN}' --socket='${SOCK}' '${BR}' ports | grep -E '^\s+port ${port3} .*flags=<locked>.* ifmaxaddr ${POD_LIMIT}$'"
base="$(table_size)"
# The pods' static entries and the gateway's learned one; pod 3 may add its limit.
bound=$((base + POD_LIMIT))
echo "table before the flood: ${base} entries (bound ${bound})"
rss_before="$(rss_kib VmRSS)"
# The same vebctl call as sampled during the floods, idle, for comparison.
sleep 1 & sample_while $! "${T}/idle"
idle_p50="$(awk '{print $2}' "${T}/idle" | sort -n | sed -n "$((($(wc -l <"${T}/idle") + 1) / 2))p")"

# ---- A: 1,000,000 random source MACs and forged ARP from a pinned pod -----------------------
ip netns exec "$(ns 3)" tcpdump -i eth0 -Q in -n -U -w "${T}/pod3.pcap" icmp >"${T}/tcpdump.log" 2>&1 &
bg_pids+=($!)
sleep 1  # tcpdump attached
ip netns exec "$(ns 1)" ping -i 0.01 -c 1500 -W 1 "${ip2}" >"${T}/ping.log" 2>&1 &
ping_pid=$!
bg_pids+=("${ping_pid}")
sleep 2
locked_before="$(port_drops "${port3}" LOCKED)"
rules_before="$(port_drops "${port3}" RULES_IN)"
backlog_a0="$(backlog_drops)"
flood 3 "${FLOOD}" 30 >"${T}/flood.out" 2>&1 &
flood_pid=$!
sample_while "${flood_pid}" "${T}/samples"
wait "${flood_pid}"
read -r sent flood_s <"${T}/flood.out"
backlog_a=$(($(backlog_drops) - backlog_a0))
echo "flood: ${sent} frames in ${flood_s} s"
# ARP from pod 3 claiming pod 1's address: to pod 2 directly, and broadcast.
ip netns exec "$(ns 3)" "${PY}" - "${mac3}" "$(pod_mac 2)" "${ip1}" "${ip2}" <<'EOF' >"${T}/arp.log" 2>&1
import sys
from scapy.all import ARP, Ether, sendp
me, mac2, ip1, ip2 = sys.argv[1:]
sendp(Ether(src=me, dst=mac2) / ARP(op=1, hwsrc=me, psrc=ip1, pdst=ip2), iface="eth0", count=5, inter=0.02, verbose=False)
sendp(Ether(src=me, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=me, psrc=ip1, hwdst="ff:ff:ff:ff:ff:ff", pdst=ip1),
      iface="eth0", count=5, inter=0.02, verbose=False)
EOF
sleep 0.3
# A control that the capture works: pod 1's pings to pod 3 are in it.
ip netns exec "$(ns 1)" ping -c 2 -i 0.2 -W 1 "${ip3}" >/dev/null 2>&1
wait "${ping_pid}"
rss_after_a="$(rss_kib VmRSS)"
locked_drops=$(($(port_drops "${port3}" LOCKED) - locked_before))
rules_drops=$(($(port_drops "${port3}" RULES_IN) - rules_before))

[[ "${sent}" -ge ${FLOOD} ]] && pass "pod 3 sent ${FLOOD} frames with random source MACs" || fail "pod 3 sent ${FLOOD} frames with random source MACs" "$(cat "${T}/flood.out")"
max_a="$(awk 'BEGIN {m = 0} $1 > m {m = $1} END {print m}' "${T}/samples")"
samples_a="$(wc -l <"${T}/samples")"
after_a="$(table_size)"
if [[ "${samples_a}" -ge 3 && "${max_a}" -le "${bound}" && "${after_a}" -le "${bound}" ]]; then
  pass "the table never exceeded ${bound} entries (max ${max_a} over ${samples_a} samples, ${after_a} after)"
else
  fail "the table never exceeded ${bound} entries" "max ${max_a} over ${samples_a} samples, ${after_a} after"
fi
[[ ${locked_drops} -ge $((sent / 2)) ]] && pass "the flood was refused: ${locked_drops} frames dropped as locked" || fail "the flood was refused: dropped as locked" "${locked_drops} of ${sent}"
received="$(sed -nE 's/.* ([0-9]+) received.*/\1/p' "${T}/ping.log")"
transmitted="$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' "${T}/ping.log")"
rtt="$(sed -nE 's/^rtt min\/avg\/max\/mdev = ([0-9.\/]+) ms/\1/p' "${T}/ping.log")"
IFS=/ read -r rtt_min rtt_avg rtt_max _ <<<"${rtt}"
if [[ -n "${received}" && "${transmitted}" == 1500 && "${received}" == "${transmitted}" ]]; then
  pass "pod 1 -> pod 2 every 10 ms through the flood: ${received}/${transmitted} replies, max RTT ${rtt_max} ms"
else
  fail "pod 1 -> pod 2 every 10 ms through the flood: no loss" "$(grep -E 'transmitted|rtt' "${T}/ping.log" | tr '\n' ' ')"
fi
kill -INT "${bg_pids[0]}" 2>/dev/null; wait "${bg_pids[0]}" 2>/dev/null
leaked="$(tcpdump -r "${T}/pod3.pcap" -n "icmp and host ${ip1} and host ${ip2}" 2>/dev/null | wc -l)"
control="$(tcpdump -r "${T}/pod3.pcap" -n "icmp and src ${ip1} and dst ${ip3}" 2>/dev/null | wc -l)"
if [[ "${leaked}" == 0 && "${control}" -ge 2 ]]; then
  pass "pod 3's capture holds none of pod 1 <-> pod 2's ICMP (and ${control} of pod 1's pings to pod 3)"
else
  fail "pod 3's capture holds none of pod 1 <-> pod 2's ICMP" "${leaked} leaked, ${control} control frames"
fi
[[ ${rules_drops} -ge 10 ]] && pass "pod 3's forged ARP for pod 1's address dropped as rules_in (${rules_drops})" || fail "pod 3's forged ARP dropped as rules_in" "${rules_drops}; $(tail -2 "${T}/arp.log")"
cached="$(ip -n "$(ns 2)" neigh show "${ip1}" | awk '{print $5}')"
[[ "${cached}" == "${mac1}" ]] && pass "pod 2's ARP cache still maps pod 1's address to pod 1" || fail "pod 2's ARP cache still maps pod 1's address to pod 1" "${ip1} at '${cached}', pod 1 is ${mac1}, pod 3 is ${mac3}"

# ---- B: the same pod unlocked and learning: its own address limit holds ----------------------
vebctl "${BR}" -locked "${port3}" >/dev/null && vebctl "${BR}" learning "${port3}" >/dev/null &&
  vebctl "${BR}" discover "${port3}" >/dev/null
full_before="$(refused PORT_FULL)"
flood 3 "${FLOOD_B}" 20 >"${T}/flood_b.out" 2>&1 &
flood_pid=$!
sample_while "${flood_pid}" "${T}/samples_b"
wait "${flood_pid}"
read -r sent_b _ <"${T}/flood_b.out"
port_full=$(($(refused PORT_FULL) - full_before))
max_b="$(awk 'BEGIN {m = 0} $1 > m {m = $1} END {print m}' "${T}/samples_b")"
after_b="$(table_size)"
on_port3="$(vebctl -o json "${BR}" ports | pyj "[p['address_count'] for p in j['ports'] if p['name'] == '${port3}'][0]")"
if [[ "${max_b}" -le "${bound}" && "${after_b}" -le "${bound}" && "${on_port3}" -le "${POD_LIMIT}" ]]; then
  pass "unlocked, pod 3 holds at most its ${POD_LIMIT} addresses (${on_port3}; table max ${max_b})"
else
  fail "unlocked, pod 3 holds at most its ${POD_LIMIT} addresses" "port ${on_port3}, table max ${max_b}, after ${after_b}"
fi
[[ ${port_full} -ge $((sent_b / 2)) ]] && pass "the unlocked flood's new addresses refused as port_full (${port_full} of ${sent_b})" || fail "the unlocked flood refused as port_full" "${port_full} of ${sent_b}"
check "pod 1 still pings pod 2" ip netns exec "$(ns 1)" ping -c 3 -i 0.2 -W 1 "${ip2}"

# ---- C: no port limit either: the bridge's own cap (maxaddr) holds, nothing is evicted ---------
vebctl "${BR}" ifmaxaddr "${port3}" 0 >/dev/null
full_before="$(refused TABLE_FULL)"
rx_before="$(port_rx "${port3}")"
ip netns exec "$(ns 1)" ping -i 0.01 -c 2000 -W 1 "${ip2}" >"${T}/ping_c.out" 2>&1 &
ping_c=$!
backlog_c0="$(backlog_drops)"
flood 3 "${FLOOD_C}" 30 >"${T}/flood_c.out" 2>&1
backlog_c=$(($(backlog_drops) - backlog_c0))
read -r sent_c flood_c_s <"${T}/flood_c.out"
kill -INT "${ping_c}" 2>/dev/null; wait "${ping_c}"
table_full=$(($(refused TABLE_FULL) - full_before))
rx_c=$(($(port_rx "${port3}") - rx_before))  # what the switch saw (a backend may drop some first)
after_c="$(table_size)"
owner1="$(vebctl "${BR}" addr "$(port_of 1)" | grep -c "${mac1}")"
if [[ "${after_c}" == "${CAP}" && ${table_full} -ge $((rx_c - CAP)) && "${owner1}" == 1 ]]; then
  pass "a ${sent_c}-source flood (${rx_c} reached the switch) fills the table to its cap (${after_c}/${CAP}), the rest refused as table_full (${table_full}), pod 1's entry kept"
else
  fail "the table stops at its cap" "size ${after_c}/${CAP}, table_full ${table_full} of ${rx_c} received (${sent_c} sent), pod 1's entry: ${owner1}"
fi
loss_c="$(grep -oE '[0-9.]+% packet loss' "${T}/ping_c.out")"
rtt_c="$(grep -oE 'rtt [^=]+= [0-9./]+' "${T}/ping_c.out" | awk '{print $4}')"
[[ "${loss_c}" == "0% packet loss" ]] && pass "pod 1 -> pod 2 every 10 ms during the table-filling flood: ${loss_c} (rtt ${rtt_c} ms)" ||
  fail "pings during the table-filling flood" "${loss_c}"
rss_peak="$(rss_kib VmHWM)"
rss_end="$(rss_kib VmRSS)"
[[ "${rss_peak}" -lt $((128 * 1024)) ]] && pass "vebd's peak RSS ${rss_peak} KiB < 128 MiB" || fail "vebd's peak RSS < 128 MiB" "${rss_peak} KiB"
alive "${vebd_pid}" && pass "vebd alive after the floods" || fail "vebd alive after the floods"

lat="$(cat "${T}/samples" "${T}/samples_b" | awk '{print $2}' | sort -n)"
lat_n="$(grep -c . <<<"${lat}")"
lat_p50="$(sed -n "$(((lat_n + 1) / 2))p" <<<"${lat}")"
lat_max="$(tail -1 <<<"${lat}")"
cat <<EOF

### MAC flood from one pod (test/agent/flood_test.sh)

| figure | value |
|---|---|
| flood A (pinned pod: locked, ARP guard, ifmaxaddr ${POD_LIMIT}) | ${sent} random source MACs in ${flood_s} s; ${locked_drops} dropped as locked |
| flood B (same pod unlocked, learning) | ${sent_b} random source MACs; ${port_full} refused as port_full |
| flood C (no port limit: the bridge's maxaddr ${CAP} holds) | ${sent_c} random source MACs in ${flood_c_s} s (${rx_c} reached the switch); table ${after_c}/${CAP}; ${table_full} refused as table_full; neighbours' pings ${loss_c}, rtt min/avg/max/mdev ${rtt_c} ms |
| table size (bridge maxaddr 100,000) | ${base} before; max ${max_a} during A, ${max_b} during B (bound ${bound}) |
| forged ARP for a neighbour's IP | ${rules_drops} dropped as rules_in; neighbour's cache unchanged |
| neighbours' ping every 10 ms | ${received}/${transmitted} replies; RTT min/avg/max ${rtt_min}/${rtt_avg}/${rtt_max} ms |
| frames the kernel dropped at a full CPU input backlog (before any switch) | ${backlog_a} during A, ${backlog_c} during C |
| neighbours' ICMP frames in the flooder's capture | ${leaked} |
| \`vebctl -o json BRIDGE show\` (a whole run) | idle: p50 ${idle_p50} ms; during the floods: p50 ${lat_p50} ms, max ${lat_max} ms (${lat_n} calls) |
| vebd RSS | ${rss_before} KiB before, ${rss_after_a} KiB after A, ${rss_end} KiB at the end, peak ${rss_peak} KiB |
EOF

check_cleanup "namespaces and interfaces removed"
finish "${T}/vebd.log"
