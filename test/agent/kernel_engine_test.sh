#!/usr/bin/env bash
# The kernel engine through vebd (docs/design.md section 13; root, network
# namespaces and interfaces this script makes, bpffs pins under
# /sys/fs/bpf/<prefix>):
#   - `vebctl create veb0 engine kernel`; what only the userspace engine can
#     hold (TAP pod vports, the af_packet/af_xdp/tap backends) is refused
#     with FAILED_PRECONDITION naming why, and leaves nothing behind;
#   - a host vport (a veth pair, the address on <name>-h) and two pod vports
#     (veth): pods ping each other and the host; the table, counters and
#     /metrics are the kernel program's;
#   - traffic survives the agent: pod A pings pod B every 10 ms while vebd is
#     killed with -9 and restarted, then stopped with SIGTERM and restarted:
#     zero lost pings; the restarted vebd adopts the pinned program (one
#     filter per port, not two), restores its vports and resumes aging;
#   - deleting a vport removes its filter; destroying the bridge leaves no
#     filter, clsact qdisc or pin behind.
# Prints "PASS: ..." / "FAIL: ..." per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." && source test/lib.sh
require_root
require_executables "bazel build //server:vebd //cli:vebctl" "${VEBD}" "${VEBCTL_BIN}"

P="vke$$"
T="$(mktemp -d /tmp/veb-kernel.XXXXXX)"
SOCK="${T}/vebd.sock"
PINS="/sys/fs/bpf/${P}"
GW="${P}gw"
bg_pids=()
cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill "${p}" 2>/dev/null; wait "${p}" 2>/dev/null; done
  bg_pids=()
  [[ -n "${vebd_pid}" ]] && kill -9 "${vebd_pid}" 2>/dev/null
  wait 2>/dev/null
  vebd_pid=""
  rm -rf "${PINS}" 2>/dev/null
  remove_netns "${P}" "${GW}" "${P}v1" "${P}v2" "${P}x"
}
trap on_exit EXIT

METRICS="127.0.0.1:$((20000 + $$ % 20000))"
start() { start_vebd --metrics_address="${METRICS}" --bpf_pin_root="${PINS}" "$@"; }
filters() { tc filter show dev "$1" ingress 2>/dev/null | grep -c " handle " || true; }
send_from() {  # send_from NS SRC_MAC: one broadcast frame with that source from NS's eth0
  ip netns exec "$1" "${PY}" -c '
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
s.send(b"\xff" * 6 + bytes.fromhex(sys.argv[1].replace(":", "")) + b"\x88\xb5" + bytes(46))' "$2"
}

make_netns "${P}-a" "${P}-b" "${P}-t"
start || { fail "vebd starts" "$(tail -5 "${T}/vebd.log")"; finish; }
check "create veb0 with the kernel engine" vebctl create veb0 engine kernel
out="$(vebctl veb0 show 2>&1)"
if [[ "${out}" == *"engine kernel"* ]]; then pass "veb0 shows engine kernel"; else fail "veb0 shows engine kernel" "${out}"; fi

# ---- what the kernel engine cannot hold -----------------------------------------------
out="$(vebctl veb0 vport pod "/var/run/netns/${P}-t" eth0 type tap 2>&1)"
if [[ $? -ne 0 && "${out}" == *"TAP pod vport needs the userspace engine"*"(code 9)"* ]] &&
  ! ip -n "${P}-t" link show eth0 >/dev/null 2>&1; then
  pass "a TAP pod vport is refused (FAILED_PRECONDITION, why) and nothing is made"
else
  fail "a TAP pod vport is refused" "${out}"
fi
ip link add "${P}x" type veth peer name "${P}xp"
for b in af_packet af_xdp tap; do
  out="$(vebctl veb0 add "${P}x" backend "${b}" 2>&1)"
  if [[ $? -ne 0 && "${out}" == *"backend ${b} needs the userspace engine"* && "$(filters "${P}x")" == 0 ]]; then
    pass "backend ${b} is refused on a kernel bridge, no filter attached"
  else
    fail "backend ${b} is refused on a kernel bridge" "${out}"
  fi
done
check "a plain veth port joins (program at TC ingress)" vebctl veb0 add "${P}x"
if [[ "$(filters "${P}x")" == 1 ]]; then pass "one BPF filter on ${P}x ingress"; else fail "one BPF filter on ${P}x" "$(tc filter show dev "${P}x" ingress)"; fi
out="$(vebctl veb0 ports 2>&1)"
if [[ "${out}" == *"${P}x"*"backend tc_bpf"* ]]; then pass "the port reports backend tc_bpf"; else fail "port backend tc_bpf" "${out}"; fi
check "delete the port" vebctl veb0 del "${P}x"
if [[ "$(filters "${P}x")" == 0 && "$(tc qdisc show dev "${P}x")" != *clsact* ]]; then
  pass "deleting a port removes its filter and clsact qdisc"
else
  fail "deleting a port removes its filter and qdisc" "$(tc qdisc show dev "${P}x"; tc filter show dev "${P}x" ingress)"
fi

# ---- vports and traffic --------------------------------------------------------------------
check "host vport ${GW} 10.91.0.1/24 (a veth pair)" vebctl veb0 vport host "${GW}" ip 10.91.0.1/24
if [[ "$(ip -o addr show dev "${GW}-h" 2>&1)" == *"10.91.0.1/24"* ]]; then pass "the host address is on ${GW}-h"; else fail "host address on ${GW}-h" "$(ip -o addr show dev "${GW}-h" 2>&1)"; fi
check "pod vport A" vebctl veb0 vport pod "/var/run/netns/${P}-a" eth0 name "${P}v1"
check "pod vport B" vebctl veb0 vport pod "/var/run/netns/${P}-b" eth0 name "${P}v2"
ip -n "${P}-a" addr add 10.91.0.2/24 dev eth0
ip -n "${P}-b" addr add 10.91.0.3/24 dev eth0
check "pod A pings pod B" ip netns exec "${P}-a" ping -q -c 3 -i 0.1 -W 1 10.91.0.3
check "pod B pings the host vport" ip netns exec "${P}-b" ping -q -c 3 -i 0.1 -W 1 10.91.0.1
mac_a="$(ip -n "${P}-a" -o link show eth0 | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/')"
out="$(vebctl veb0 addr 2>&1)"
if [[ "${out}" == *"${mac_a}"*"${P}v1"* ]]; then pass "the program learned pod A's MAC on ${P}v1"; else fail "pod A's MAC learned" "${out}"; fi
rx="$(vebctl -o json veb0 counters "${P}v1" | "${PY}" -c 'import json,sys; print(int(json.load(sys.stdin)["counters"].get("receive_packets", 0)))')"
if [[ "${rx}" -ge 3 ]]; then pass "per-port counters from the program (${P}v1 received ${rx})"; else fail "per-port counters" "rx=${rx}"; fi
metrics="$(curl -s --max-time 5 "http://${METRICS}/metrics")"
m_rx="$(grep -E "^veb_port_receive_packets_total\{.*port=\"${P}v1\"" <<<"${metrics}" | awk '{print int($2)}')"
m_addr="$(grep -E '^veb_addresses\{.*bridge="veb0"' <<<"${metrics}" | awk '{print int($2)}' | head -1)"
if [[ -n "${m_rx}" && "${m_rx}" -ge 3 && -n "${m_addr}" && "${m_addr}" -ge 3 ]]; then
  pass "/metrics: the same families from the program (${P}v1 received ${m_rx}; veb_addresses ${m_addr})"
else
  fail "/metrics from the kernel engine" "rx='${m_rx}' addresses='${m_addr}'"
fi

# ---- traffic survives the agent ----------------------------------------------------------
survive() {  # survive SIGNAL: pod A pings B every 10 ms across a restart
  local sig="$1" log="${T}/ping-${1}.log" t0 gap
  ip netns exec "${P}-a" ping -i 0.01 -c 600 -W 1 10.91.0.3 >"${log}" 2>&1 &
  local ping_pid=$!
  bg_pids+=("${ping_pid}")
  sleep 1
  t0="$(now)"
  kill "-${sig}" "${vebd_pid}"
  wait "${vebd_pid}" 2>/dev/null
  if start; then gap="$(elapsed_ms "${t0}" "$(now)")"; else gap="never"; fi
  wait "${ping_pid}"
  bg_pids=()
  local loss
  loss="$(grep -oE '[0-9.]+% packet loss' "${log}")"
  if [[ "${loss}" == "0% packet loss" ]]; then
    pass "kill -${sig} + restart (agent back in ${gap} ms): 600 pings every 10 ms, ${loss}"
  else
    fail "kill -${sig} + restart: zero lost pings" "${loss} $(tail -2 "${log}" | tr '\n' ' ')"
  fi
  out="$(vebctl veb0 vports 2>&1)"
  if [[ "${out}" == *"${P}v1"* && "${out}" == *"${P}v2"* && "${out}" == *"${GW}"* ]]; then
    pass "after kill -${sig}: the vports are restored"
  else
    fail "after kill -${sig}: vports restored" "${out}"
  fi
  if [[ "$(filters "${P}v1")" == 1 && "$(filters "${GW}")" == 1 ]]; then
    pass "after kill -${sig}: the pinned program was adopted (one filter per port)"
  else
    fail "after kill -${sig}: one filter per port" "$(tc filter show dev "${P}v1" ingress)"
  fi
}
survive 9
survive TERM
check "after the restarts: pod B still pings the host" ip netns exec "${P}-b" ping -q -c 2 -i 0.1 -W 1 10.91.0.1
# Aging resumed: with a short timeout, an address nobody refreshes (a source
# only this one frame used; the pods' own MACs are kept fresh by ARP) goes.
check "address timeout 8 s" vebctl veb0 timeout 8
timeout 25 "${VEBCTL_BIN}" --socket="${SOCK}" watch veb0 >"${T}/watch.log" 2>&1 &
watch_pid=$!
bg_pids+=("${watch_pid}")
sleep 0.5
send_from "${P}-a" 02:00:00:91:77:01
out="$(vebctl veb0 addr 2>&1)"
if [[ "${out}" == *"02:00:00:91:77:01"*"${P}v1"* ]]; then pass "after the restarts the program learns (02:00:00:91:77:01 on ${P}v1)"; else fail "learning after restart" "${out}"; fi
sleep 11
out="$(vebctl veb0 addr 2>&1)"
if [[ "${out}" != *"02:00:00:91:77:01"* ]]; then pass "the restarted agent ages the program's table (the entry expired)"; else fail "aging after restart" "${out}"; fi
kill "${watch_pid}" 2>/dev/null; wait "${watch_pid}" 2>/dev/null; bg_pids=()
learned="$(grep -c '"EVENT_TYPE_ADDRESS_LEARNED".*"mac":"02:00:00:91:77:01"' "${T}/watch.log")"
expired="$(grep -c '"EVENT_TYPE_ADDRESS_EXPIRED".*"mac":"02:00:00:91:77:01"' "${T}/watch.log")"
if [[ "${learned}" == 1 && "${expired}" == 1 ]]; then
  pass "WatchEvents: the program's learn and the agent's expiry, once each"
else
  fail "WatchEvents: learned once, expired once" "learned=${learned} expired=${expired}: $(tail -c 300 "${T}/watch.log")"
fi

# ---- teardown leaves nothing -----------------------------------------------------------
check "delete pod vport A" vebctl veb0 delvport "${P}v1"
if ! ip link show "${P}v1" >/dev/null 2>&1; then pass "pod vport A's veth is gone"; else fail "pod vport A's veth is gone"; fi
check "destroy veb0" vebctl destroy veb0 force
left=""
for l in "${P}v2" "${GW}" "${P}x"; do
  ip link show "${l}" >/dev/null 2>&1 || continue
  [[ "$(filters "${l}")" == 0 ]] || left+=" filter on ${l}"
  [[ "$(tc qdisc show dev "${l}")" == *clsact* ]] && left+=" clsact on ${l}"
done
[[ -e "${PINS}/veb0" ]] && left+=" pins: $(ls "${PINS}/veb0" | tr '\n' ' ')"
if [[ -z "${left}" ]]; then pass "destroying the bridge leaves no filter, qdisc or pin"; else fail "destroy leaves nothing" "${left}"; fi

check_cleanup "namespaces, interfaces and pins"
finish "${T}/vebd.log"
