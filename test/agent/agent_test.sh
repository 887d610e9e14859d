#!/usr/bin/env bash
# The agent as an operator sees it (root; network namespaces this script makes):
#   A. a real Prometheus server (Debian's) scrapes vebd's /metrics every second;
#      after pod-to-pod traffic its veb_addresses, veb_ports and
#      veb_port_receive_packets_total agree with what the API reports (received
#      packets never ahead of the API, equal once traffic stopped and a fresh
#      scrape happened); `promtool check metrics` passes on /metrics.
#   A2. 64-byte UDP at full speed (iperf3, 2 s) from pod 1: every datagram the
#      sender counted is either received by the switch or counted as a backend
#      overflow loss (nothing lost uncounted), and /metrics reports the same
#      loss as the API (veb_port_backend_drops_total).
#   B. vebd killed with SIGKILL while a pod pings another, then restarted with the
#      same state file and socket: configuration back (vports, locked flag,
#      static address, timeout), the ping resumes within 1 s of the restart (ping
#      -D timestamps), no pod interface recreated (same ifindex in the pod netns
#      and on the host), addresses relearned.
#   C. AF_XDP through the API: a pod vport and a member port with backend
#      af_xdp run on XDP sockets (backend_detail names the mode) and carry a
#      ping; on an interface AF_XDP cannot take (MTU 9000) the port falls back
#      to AF_PACKET, says why, still forwards, and the state file keeps the
#      AF_XDP request; removing the port leaves no XDP program.
#   D. SIGTERM: vebd exits 0 within its drain time, the pod veths stay, and no
#      XDP program is left on the AF_XDP vport's interface (the kernel detaches
#      the port's BPF link with the process).
#   E. --worker_priority: the worker runs under SCHED_FIFO and still forwards.
# Addresses only inside this script's namespaces (10.77.0.0/24); IPv6 is off in
# the pods so that no background traffic moves the counters being compared.
# Every wait is bounded; the EXIT trap kills what was started and removes every
# namespace (vat$$-*) and interface (vat$$p1, vat$$p2) this run made. The vports
# are named explicitly (vport pod ... name vat$$pN) so that they are told apart
# from other runs' and tests' vp<hash> interfaces.
# Prints "PASS: ..." / "FAIL: ..." per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
PROMETHEUS="${PROMETHEUS:-/usr/bin/prometheus}"
PROMTOOL="${PROMTOOL:-/usr/bin/promtool}"
T="$(mktemp -d /tmp/veb-agent.XXXXXX)"
SOCK="${T}/vebd.sock"
P="vat$$"            # prefix of every namespace and interface this run makes
NS1="${P}-1" NS2="${P}-2"
V1="${P}p1" V2="${P}p2"  # host ends (vport names), at most 15 characters
NS3="${P}-3" NS4="${P}-4" V3="${P}p3" X4="${P}x4"  # section C
IP1=10.77.0.1 IP2=10.77.0.2
prom_pid=""
ping_pid=""

# jq-like: JSON on stdin, a Python expression over `j`; strings print bare.
pyj() {
  "${PY}" -c '
import json, sys
j = json.load(sys.stdin)
r = eval(sys.argv[1])
print(r if isinstance(r, str) else json.dumps(r))' "$1"
}
free_port() {
  "${PY}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ifindex() {  # ifindex [NETNS] IFNAME -> "IFINDEX PEER_IFINDEX" ("-" when missing)
  local out
  if [[ $# -eq 2 ]]; then out="$(ip -n "$1" -o link show dev "$2" 2>/dev/null)"; else out="$(ip -o link show dev "$1" 2>/dev/null)"; fi
  [[ -n "${out}" ]] || { echo "-"; return; }
  sed -E 's/^([0-9]+): [^@:]+(@if([0-9]+))?:.*/\1 \3/' <<<"${out}"
}
pod_mac() { ip -n "$1" -o link show dev eth0 | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/'; }

cleanup() {  # idempotent; non-zero (what, in LEFT) when something of ours is left
  [[ -n "${ping_pid}" ]] && { kill "${ping_pid}" 2>/dev/null; wait "${ping_pid}" 2>/dev/null; ping_pid=""; }
  stop "${prom_pid}"; prom_pid=""
  stop_vebd
  remove_netns "${P}" "${V1}" "${V2}" "${V3}" "${X4}"
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

require_root
require_executables "bazel build //server:vebd //cli:vebctl; scripts/setup.sh" \
  "${VEBD}" "${VEBCTL_BIN}" "${PROMETHEUS}" "${PROMTOOL}" /usr/bin/curl /usr/bin/ping

METRICS_PORT="$(free_port)"
PROM_PORT="$(free_port)"
while [[ "${PROM_PORT}" == "${METRICS_PORT}" ]]; do PROM_PORT="$(free_port)"; done
PROM="http://127.0.0.1:${PROM_PORT}"

# ---- A. a real Prometheus server scraping vebd ---------------------------------------
make_netns "${NS1}" "${NS2}"

if start_vebd --metrics_address="127.0.0.1:${METRICS_PORT}"; then pass "vebd starts (metrics on 127.0.0.1:${METRICS_PORT})"; else fail "vebd starts" "$(tail -5 "${T}/vebd.log")"; exit 1; fi

mkdir -p "${T}/prom"
cat >"${T}/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: vebd
    static_configs:
      - targets: ['127.0.0.1:${METRICS_PORT}']
EOF
check "promtool check config" "${PROMTOOL}" check config "${T}/prometheus.yml"
prom_start="$(now)"
"${PROMETHEUS}" --config.file="${T}/prometheus.yml" --storage.tsdb.path="${T}/prom" \
  --web.listen-address="127.0.0.1:${PROM_PORT}" --log.level=warn >"${T}/prometheus.log" 2>&1 &
prom_pid=$!

check "create bridge veb0" vebctl create veb0
v1_json="$(vebctl -o json veb0 vport pod "/var/run/netns/${NS1}" eth0 name "${V1}" 2>&1)"
v2_json="$(vebctl -o json veb0 vport pod "/var/run/netns/${NS2}" eth0 name "${V2}" 2>&1)"
if [[ "$(pyj 'j["vport"]["name"]' <<<"${v1_json}" 2>/dev/null)" == "${V1}" &&
      "$(pyj 'j["vport"]["name"]' <<<"${v2_json}" 2>/dev/null)" == "${V2}" ]]; then
  pass "two pod vports (${V1}, ${V2})"
else
  fail "two pod vports" "${v1_json} ${v2_json}"; exit 1
fi
ip -n "${NS1}" addr add "${IP1}/24" dev eth0
ip -n "${NS2}" addr add "${IP2}/24" dev eth0
M1="$(pod_mac "${NS1}")" M2="$(pod_mac "${NS2}")"
if [[ "$(pyj 'j["vport"]["mac"]' <<<"${v1_json}")" == "${M1}" ]]; then pass "the API reports pod 1's MAC (${M1})"; else fail "the API reports pod 1's MAC" "${v1_json}"; fi
check "20 pings pod 1 -> pod 2, none lost" ip netns exec "${NS1}" ping -q -c 20 -i 0.05 -W 1 "${IP2}"
curl -sf --max-time 3 -o "${T}/metrics.txt" "http://127.0.0.1:${METRICS_PORT}/metrics"
check "promtool check metrics on vebd's /metrics" sh -c \
  "grep -q '^veb_port_receive_packets_total{' '${T}/metrics.txt' && '${PROMTOOL}' check metrics <'${T}/metrics.txt'"

# Traffic keeps flowing while Prometheus catches up (bounded: -w).
ip netns exec "${NS1}" ping -q -i 0.05 -W 1 -w 60 "${IP2}" >/dev/null 2>&1 &
ping_pid=$!

promq() {  # promq QUERY -> the API's JSON
  curl -sf --max-time 3 --get --data-urlencode "query=$1" "${PROM}/api/v1/query"
}
# prom_series QUERY LABEL -> "LABELVALUE VALUE" lines, sorted
prom_series() {
  promq "$1" | "${PY}" -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
for s in sorted(r, key=lambda s: s["metric"].get(sys.argv[1], "")):
    v = float(s["value"][1])
    print(s["metric"].get(sys.argv[1], "-"), int(v) if v == int(v) else v)' "$2" 2>/dev/null
}
api_rx() {  # "PORT RECEIVE_PACKETS" lines, sorted
  vebctl -o json veb0 counters | "${PY}" -c '
import json, sys
for p in sorted(json.load(sys.stdin)["bridges"][0]["ports"], key=lambda p: p["port"]):
    print(p["port"], int(p.get("receive_packets", 0)))'
}

first=""
for ((i = 0; i < 300; i++)); do  # 30 s
  out="$(prom_series 'veb_addresses{bridge="veb0"}' bridge)"
  if [[ -n "${out}" ]]; then first="$(now)"; break; fi
  alive "${prom_pid}" || break
  sleep 0.1
done
if [[ -n "${first}" ]]; then
  first_ms="$(elapsed_ms "${prom_start}" "${first}")"
  pass "Prometheus has a veb_addresses sample $((first_ms / 100 / 10)).$((first_ms / 100 % 10)) s after it started"
else
  fail "Prometheus has a veb_addresses sample within 30 s" "$(tail -c 400 "${T}/prometheus.log")"
fi
check "Prometheus's target is up" sh -c "curl -sf --max-time 3 --get --data-urlencode 'query=up{job=\"vebd\"}' '${PROM}/api/v1/query' | grep -q '\"value\":\[[0-9.]*,\"1\"\]'"

# Labels: exactly bridge (+ the job/instance Prometheus adds); port for ports.
labels="$(promq 'veb_addresses' | pyj 'sorted(sorted(s["metric"]) for s in j["data"]["result"])')"
if [[ "${labels}" == '[["__name__", "bridge", "instance", "job"]]' ]]; then
  pass "veb_addresses has one series labelled {bridge} only"
else
  fail "veb_addresses has one series labelled {bridge} only" "${labels}"
fi
labels="$(promq 'veb_port_receive_packets_total' | pyj 'sorted(set(",".join(sorted(s["metric"])) for s in j["data"]["result"]))')"
if [[ "${labels}" == '["__name__,bridge,instance,job,port"]' ]]; then
  pass "veb_port_receive_packets_total labelled {bridge,port}"
else
  fail "veb_port_receive_packets_total labelled {bridge,port}" "${labels}"
fi

# Address count and port count: Prometheus == show == addr (stable: no learning now).
ok=""
for ((i = 0; i < 100; i++)); do  # 10 s
  p_addr="$(prom_series 'veb_addresses{bridge="veb0"}' bridge | awk '{print $2}')"
  p_ports="$(prom_series 'veb_ports{bridge="veb0"}' bridge | awk '{print $2}')"
  a_show="$(vebctl -o json veb0 show | pyj 'j["bridge"].get("address_count", 0)')"
  a_ports="$(vebctl -o json veb0 show | pyj 'j["bridge"].get("port_count", 0)')"
  a_addr="$(vebctl -o json veb0 addr | pyj 'len(j.get("addresses", []))')"
  if [[ -n "${p_addr}" && "${p_addr}" == "${a_show}" && "${p_addr}" == "${a_addr}" && "${p_ports}" == "${a_ports}" ]]; then ok=1; break; fi
  sleep 0.1
done
if [[ -n "${ok}" && "${a_addr}" == 2 ]]; then
  pass "veb_addresses = show = addr = 2, veb_ports = ${p_ports}"
else
  fail "veb_addresses = show = addr = 2, veb_ports = show" "prometheus ${p_addr:-none}/${p_ports:-none}, show ${a_show}/${a_ports}, addr ${a_addr}"
fi

# Received packets while traffic flows: 0 < Prometheus <= the API's current value.
p_rx="$(prom_series 'veb_port_receive_packets_total{bridge="veb0"}' port)"
a_rx="$(api_rx)"
ok=1
[[ "$(awk '{print $1}' <<<"${p_rx}" | tr '\n' ' ')" == "${V1} ${V2} " ]] || ok=""
while read -r port v; do
  a="$(awk -v p="${port}" '$1 == p {print $2}' <<<"${a_rx}")"
  [[ -n "${a}" && "${v}" -gt 0 && "${v}" -le "${a}" ]] || ok=""
done <<<"${p_rx}"
if [[ -n "${ok}" ]]; then
  pass "during traffic: 0 < receive packets in Prometheus <= API, per port ($(tr '\n' ' ' <<<"${p_rx}")<= $(tr '\n' ' ' <<<"${a_rx}"))"
else
  fail "during traffic: 0 < receive packets in Prometheus <= API, per port" "prometheus: $(tr '\n' ' ' <<<"${p_rx}") api: $(tr '\n' ' ' <<<"${a_rx}")"
fi

# Traffic stops; once a scrape newer than that happened, the two agree exactly.
kill "${ping_pid}" 2>/dev/null; wait "${ping_pid}" 2>/dev/null; ping_pid=""
sleep 0.2  # replies in flight
t_stop="$(date +%s.%N)"
ok=""
for ((i = 0; i < 150; i++)); do  # 15 s
  newest="$(promq 'min(timestamp(veb_port_receive_packets_total{bridge="veb0"}))' | pyj 'j["data"]["result"][0]["value"][1] if j["data"]["result"] else "0"')"
  p_rx="$(prom_series 'veb_port_receive_packets_total{bridge="veb0"}' port)"
  a_rx="$(api_rx)"
  if "${PY}" -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "${newest:-0}" "${t_stop}" &&
      [[ -n "${p_rx}" && "${p_rx}" == "${a_rx}" ]]; then
    ok=1; break
  fi
  sleep 0.1
done
if [[ -n "${ok}" ]]; then
  pass "after traffic stopped and a fresh scrape: receive packets in Prometheus = API ($(tr '\n' ' ' <<<"${a_rx}"))"
else
  fail "after traffic stopped and a fresh scrape: receive packets in Prometheus = API" "prometheus: $(tr '\n' ' ' <<<"${p_rx}") api: $(tr '\n' ' ' <<<"${a_rx}") newest scrape ${newest:-?} stop ${t_stop}"
fi

# ---- A2. a full socket buffer is counted ----------------------------------------------
port_rx() {  # port_rx PORT -> "RECEIVED OVERFLOW"
  vebctl -o json veb0 counters "$1" | pyj '"%d %d" % (int(j["counters"].get("receive_packets", 0)), int(j["counters"].get("backend_receive_drops", {}).get("overflow", 0)))'
}
read -r rx0 ov0 <<<"$(port_rx "${V1}")"
ip netns exec "${NS2}" timeout 20 iperf3 -s -1 -B "${IP2}" >/dev/null 2>&1 &
iperf_srv=$!
sleep 0.5
sent="$(ip netns exec "${NS1}" timeout 20 iperf3 -c "${IP2}" -u -l 18 -b 0 -t 2 -J 2>/dev/null | pyj 'j["end"]["sum"]["packets"]')"
wait "${iperf_srv}" 2>/dev/null
sleep 0.5
read -r rx1 ov1 <<<"$(port_rx "${V1}")"
seen=$(( (rx1 - rx0) + (ov1 - ov0) ))
# The control connection and ARP add a few hundred frames at most.
if [[ "${sent}" =~ ^[0-9]+$ ]] && (( sent > 0 && seen >= sent && seen <= sent + 500 )); then
  pass "every datagram received or counted: sent ${sent}, switch received $((rx1 - rx0)), overflow $((ov1 - ov0))"
else
  fail "every datagram received or counted" "sent ${sent}, received $((rx1 - rx0)), overflow $((ov1 - ov0))"
fi
metric_ov="$(curl -sf --max-time 3 "http://127.0.0.1:${METRICS_PORT}/metrics" | grep "^veb_port_backend_drops_total{" | grep "port=\"${V1}\"" | grep 'reason="overflow"' | awk '{print $2}')"
read -r rx2 ov2 <<<"$(port_rx "${V1}")"
if [[ -n "${metric_ov}" ]] && "${PY}" -c 'import sys; sys.exit(0 if float(sys.argv[1]) == float(sys.argv[2]) else 1)' "${metric_ov}" "${ov2}"; then
  pass "/metrics veb_port_backend_drops_total{reason=\"overflow\"} = the API's ${ov2}"
else
  fail "/metrics veb_port_backend_drops_total{reason=\"overflow\"} = the API's" "metric '${metric_ov}', API ${ov2}"
fi

# ---- B. SIGKILL and restart with traffic flowing -------------------------------------
check "lock ${V1} (learning, discover off)" vebctl veb0 locked "${V1}"
check "static ${M1} on ${V1}" vebctl veb0 static "${M1}" "${V1}"
check "address timeout 120" vebctl veb0 timeout 120
check "pod 1 still reaches pod 2 through its locked port" ip netns exec "${NS1}" ping -q -c 3 -i 0.05 -W 1 "${IP2}"
show_summary() {  # one line: timeout, then per port: name learning discover locked ifindex
  vebctl -o json veb0 show | "${PY}" -c '
import json, sys
j = json.load(sys.stdin)
out = ["timeout=%s" % j["bridge"].get("address_timeout_seconds")]
for p in sorted(j["ports"]["ports"], key=lambda p: p["name"]):
    out.append("%s:learning=%s,discover=%s,locked=%s,ifindex=%s" % (
        p["name"], p.get("learning", False), p.get("discover", False), p.get("locked", False), p.get("ifindex")))
print(" ".join(out))'
}
before_show="$(show_summary)"
before_idx="pod1=$(ifindex "${NS1}" eth0) pod2=$(ifindex "${NS2}" eth0) host1=$(ifindex "${V1}") host2=$(ifindex "${V2}")"

ip netns exec "${NS1}" ping -D -O -i 0.05 -W 1 -w 60 "${IP2}" >"${T}/ping.out" 2>&1 &
ping_pid=$!
for ((i = 0; i < 100; i++)); do [[ "$(grep -c 'bytes from' "${T}/ping.out")" -ge 10 ]] && break; sleep 0.05; done
if [[ "$(grep -c 'bytes from' "${T}/ping.out")" -ge 10 ]]; then pass "ping flows before the kill"; else fail "ping flows before the kill" "$(tail -3 "${T}/ping.out")"; fi

kill -KILL "${vebd_pid}"
wait "${vebd_pid}" 2>/dev/null
vebd_pid=""
t_kill="$(now)"
sleep 0.5  # an outage the ping sees
t_restart="$(now)"
if start_vebd --metrics_address="127.0.0.1:${METRICS_PORT}"; then
  pass "vebd restarts with the same state file and socket ($(elapsed_ms "${t_restart}" "$(now)") ms to healthy)"
else
  fail "vebd restarts with the same state file and socket" "$(tail -5 "${T}/vebd.log")"
fi
# First reply received after the restart (ping -D: [epoch] at the start of the line).
first_reply() {
  awk -v t="$1" -F'[][]' '/bytes from/ && $2 + 0 > t + 0 {print $2; exit}' "${T}/ping.out"
}
fr=""
for ((i = 0; i < 60; i++)); do fr="$(first_reply "${t_restart}")"; [[ -n "${fr}" ]] && break; sleep 0.05; done
last_before="$(awk -v t="${t_kill}" -F'[][]' '/bytes from/ && $2 + 0 < t + 0 {x = $2} END {print x}' "${T}/ping.out")"
lost="$(awk -v a="${t_kill}" -v b="${fr:-9e99}" -F'[][]' '/no answer yet/ && $2 + 0 > a + 0 && $2 + 0 < b + 0 {n++} END {print n + 0}' "${T}/ping.out")"
if [[ "${lost}" -gt 0 ]]; then pass "the ping saw the outage (${lost} unanswered)"; else fail "the ping saw the outage" "$(grep -v 'bytes from' "${T}/ping.out" | head -3)"; fi
if [[ -n "${fr}" ]]; then
  gap="$(elapsed_ms "${t_restart}" "${fr}")"
  outage="$(elapsed_ms "${last_before}" "${fr}")"
  if [[ "${gap}" -le 1000 ]]; then
    pass "ping resumed ${gap} ms after the restart (no reply for ${outage} ms in all)"
  else
    fail "ping resumes within 1 s of the restart" "${gap} ms"
  fi
else
  fail "ping resumes within 1 s of the restart" "no reply within 3 s: $(tail -3 "${T}/ping.out" | tr '\n' ' ')"
fi

after_show="$(show_summary)"
if [[ "${after_show}" == "${before_show}" ]]; then
  pass "configuration restored: ${after_show}"
else
  fail "configuration restored" "before: ${before_show} after: ${after_show}"
fi
if grep -q "${V1}:learning=False,discover=False,locked=True" <<<"${after_show}" && grep -q "timeout=120" <<<"${after_show}"; then
  pass "locked flag and timeout are back"
else
  fail "locked flag and timeout are back" "${after_show}"
fi
vports="$(vebctl -o json veb0 vports | pyj 'sorted((v["name"], v["kind"], v["mac"]) for v in j["vports"])')"
if [[ "${vports}" == "$(pyj 'sorted(j)' <<<"[[\"${V1}\", \"VPORT_KIND_POD\", \"${M1}\"], [\"${V2}\", \"VPORT_KIND_POD\", \"${M2}\"]]")" ]]; then
  pass "both pod vports listed with the same names and MACs"
else
  fail "both pod vports listed with the same names and MACs" "${vports}"
fi
after_idx="pod1=$(ifindex "${NS1}" eth0) pod2=$(ifindex "${NS2}" eth0) host1=$(ifindex "${V1}") host2=$(ifindex "${V2}")"
if [[ "${after_idx}" == "${before_idx}" && "${after_idx}" != *-* ]]; then
  pass "no pod interface recreated (ifindex, peer: ${after_idx})"
else
  fail "no pod interface recreated" "before: ${before_idx} after: ${after_idx}"
fi
addr_line() { vebctl -o json veb0 addr | pyj 'sorted((a["mac"], a["port"], a["type"]) for a in j.get("addresses", []))'; }
want_addr="$(pyj 'sorted(j)' <<<"[[\"${M1}\", \"${V1}\", \"ADDRESS_TYPE_STATIC\"], [\"${M2}\", \"${V2}\", \"ADDRESS_TYPE_DYNAMIC\"]]")"
for ((i = 0; i < 40; i++)); do got_addr="$(addr_line)"; [[ "${got_addr}" == "${want_addr}" ]] && break; sleep 0.05; done
if [[ "${got_addr}" == "${want_addr}" ]]; then
  pass "addresses back: pod 1 static, pod 2 relearned"
else
  fail "addresses back: pod 1 static, pod 2 relearned" "${got_addr}"
fi
# The ping goes on: 20 more replies (1 s of traffic), none lost after the first.
replies_after() { awk -v t="$1" -F'[][]' '/bytes from/ && $2 + 0 > t + 0 {n++} END {print n + 0}' "${T}/ping.out"; }
for ((i = 0; i < 60; i++)); do [[ "$(replies_after "${t_restart}")" -ge 21 ]] && break; sleep 0.05; done
kill "${ping_pid}" 2>/dev/null; wait "${ping_pid}" 2>/dev/null; ping_pid=""
after="$(replies_after "${t_restart}")"
unanswered="$(awk -v t="${fr:-9e99}" -F'[][]' '/no answer yet/ && $2 + 0 > t + 0 {n++} END {print n + 0}' "${T}/ping.out")"
if [[ "${after}" -ge 21 && "${unanswered}" -eq 0 ]]; then
  pass "the ping keeps getting replies after the restart (${after} replies, none lost)"
else
  fail "the ping keeps getting replies after the restart" "${after} replies, ${unanswered} lost: $(tail -3 "${T}/ping.out" | tr '\n' ' ')"
fi

# ---- C. AF_XDP through the API ---------------------------------------------------------
xdp_attached() { ip -o link show dev "$1" 2>/dev/null | grep -q ' xdp'; }
make_netns "${NS3}" "${NS4}"
check "pod vport with backend af_xdp" vebctl veb0 vport pod "/var/run/netns/${NS3}" eth0 name "${V3}" backend af_xdp
ip -n "${NS3}" addr add 10.77.0.3/24 dev eth0
# A member port on a veth whose MTU AF_XDP cannot carry (the pod side too).
ip link add "${X4}" mtu 9000 type veth peer name eth0 netns "${NS4}"
ip link set "${X4}" up
ip -n "${NS4}" link set eth0 mtu 9000 up
ip -n "${NS4}" addr add 10.77.0.4/24 dev eth0
check "member port with backend af_xdp on an MTU 9000 veth" vebctl veb0 add "${X4}" backend af_xdp
ports_json="$(vebctl -o json veb0 ports)"
backend_of() { pyj "[(p[\"backend\"], p.get(\"backend_detail\", \"\")) for p in j[\"ports\"] if p[\"name\"] == \"$1\"]" <<<"${ports_json}"; }
b3="$(backend_of "${V3}")"
b4="$(backend_of "${X4}")"
if [[ "${b3}" == '[["BACKEND_AF_XDP", "native XDP, copy"]]' ]] && xdp_attached "${V3}"; then
  pass "the pod vport runs on AF_XDP (${b3})"
else
  fail "the pod vport runs on AF_XDP" "${b3}; $(ip -o link show dev "${V3}")"
fi
if [[ "${b4}" == *'"BACKEND_AF_PACKET", "AF_XDP unavailable: MTU 9000 above 3822'* ]] && ! xdp_attached "${X4}"; then
  pass "AF_XDP on MTU 9000 falls back to AF_PACKET and says why (${b4})"
else
  fail "AF_XDP on MTU 9000 falls back to AF_PACKET and says why" "${b4}"
fi
if vebctl veb0 ports | grep -q "port ${X4} running backend af_packet (AF_XDP unavailable: MTU 9000"; then
  pass "vebctl ports prints the fallback reason"
else
  fail "vebctl ports prints the fallback reason" "$(vebctl veb0 ports | grep "${X4}")"
fi
check "pod 1 (AF_PACKET) pings pod 3 (AF_XDP)" ip netns exec "${NS1}" ping -q -c 3 -i 0.1 -W 1 10.77.0.3
check "pod 3 (AF_XDP) pings pod 4 (fallen back to AF_PACKET)" ip netns exec "${NS3}" ping -q -c 3 -i 0.1 -W 1 10.77.0.4
check "the state file keeps the AF_XDP request of the fallen-back port" "${PY}" -c '
import json, sys
s = json.load(open(sys.argv[1]))
ports = [p for p in s.get("ports", []) if p["name"] == sys.argv[2]]
vports = [v for v in s.get("vports", []) if v["name"] == sys.argv[3]]
sys.exit(0 if ports and ports[0].get("backend") == "BACKEND_AF_XDP" and vports and vports[0].get("backend") == "BACKEND_AF_XDP" else 1)' "${T}/state.json" "${X4}" "${V3}"
# The link monitor carries MTU changes to the port (what the pipeline's
# too_big check uses): the interface is changed behind vebd's back.
ip link set dev "${X4}" mtu 4000
port_mtu() { vebctl -o json veb0 ports | pyj "[p.get(\"mtu\", 0) for p in j[\"ports\"] if p[\"name\"] == \"$1\"]"; }
for _ in $(seq 30); do [[ "$(port_mtu "${X4}")" == "[4000]" ]] && break; sleep 0.1; done
if [[ "$(port_mtu "${X4}")" == "[4000]" ]]; then
  pass "an interface MTU change (9000 -> 4000) reaches the port"
else
  fail "an interface MTU change (9000 -> 4000) reaches the port" "$(port_mtu "${X4}")"
fi
check "delete the fallen-back port" vebctl veb0 del "${X4}"
if ! xdp_attached "${X4}"; then
  pass "no XDP program on ${X4} after its removal"
else
  fail "no XDP program on ${X4} after its removal" "$(ip -o link show dev "${X4}")"
fi
ip link del "${X4}" 2>/dev/null

# ---- D. SIGTERM ------------------------------------------------------------------------
t_term="$(now)"
kill -TERM "${vebd_pid}"
if wait_gone "${vebd_pid}" 10; then
  wait "${vebd_pid}"; rc=$?
  if [[ "${rc}" -eq 0 ]]; then
    pass "SIGTERM: vebd exits 0 ($(elapsed_ms "${t_term}" "$(now)") ms)"
  else
    fail "SIGTERM: vebd exits 0" "exit ${rc}: $(tail -3 "${T}/vebd.log" | tr '\n' ' ')"
  fi
  vebd_pid=""
else
  fail "SIGTERM: vebd exits 0 within 10 s" "still running"
fi
if ip link show dev "${V3}" >/dev/null 2>&1 && ! xdp_attached "${V3}"; then
  pass "after SIGTERM the AF_XDP vport's interface stays, without an XDP program"
else
  fail "after SIGTERM the AF_XDP vport's interface stays, without an XDP program" "$(ip -o link show dev "${V3}" 2>&1)"
fi
term_idx="pod1=$(ifindex "${NS1}" eth0) pod2=$(ifindex "${NS2}" eth0) host1=$(ifindex "${V1}") host2=$(ifindex "${V2}")"
if [[ "${term_idx}" == "${before_idx}" ]]; then
  pass "after SIGTERM the pod veths stay (${term_idx})"
else
  fail "after SIGTERM the pod veths stay" "before: ${before_idx} after: ${term_idx}"
fi

# ---- E. real-time workers ----------------------------------------------------------------
# --worker_priority=10: the worker thread (--workers=1) runs under SCHED_FIFO 10,
# the restored pods still talk.
if start_vebd --worker_priority=10 --metrics_address=; then
  fifo="$(for t in /proc/"${vebd_pid}"/task/*; do chrt -p "${t##*/}" 2>/dev/null; done | grep -c "policy: SCHED_FIFO")"
  prio="$(for t in /proc/"${vebd_pid}"/task/*; do chrt -p "${t##*/}" 2>/dev/null; done | grep -A1 "policy: SCHED_FIFO" | grep -o "priority: [0-9]*" | sort -u)"
  if [[ "${fifo}" == 1 && "${prio}" == "priority: 10" ]]; then
    pass "--worker_priority=10: one SCHED_FIFO thread at priority 10 (the worker)"
  else
    fail "--worker_priority=10: one SCHED_FIFO thread at priority 10" "${fifo} FIFO threads, ${prio}"
  fi
  check "pods still ping through real-time workers" ip netns exec "${NS1}" ping -q -c 3 -i 0.1 -W 1 "${IP2}"
  stop_vebd
else
  fail "vebd starts with --worker_priority=10" "$(tail -3 "${T}/vebd.log")"
fi
# Without CAP_SYS_NICE the kernel refuses SCHED_FIFO: vebd says so and exits 1.
out="$(timeout 10 setpriv --bounding-set -sys_nice --inh-caps -sys_nice "${VEBD}" \
  --listen="unix://${T}/rt.sock" --state_file= --metrics_address= --workers=1 --worker_priority=10 2>&1)"
rc=$?
if [[ ${rc} -eq 1 && "${out}" == *"SCHED_FIFO priority 10: Operation not permitted (needs CAP_SYS_NICE)"* ]]; then
  pass "without CAP_SYS_NICE --worker_priority is refused with the reason (exit 1)"
else
  fail "without CAP_SYS_NICE --worker_priority is refused with the reason" "exit ${rc}: ${out}"
fi

# ---- cleanup -----------------------------------------------------------------------------
check_cleanup "no namespace ${P}-* and no ${V1}/${V2} left"
finish "${T}/vebd.log"
