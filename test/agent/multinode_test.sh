#!/usr/bin/env bash
# Three nodes joined by tunnel vports whose peers come from DNS (docs/design.md
# section 14), the way the chart runs veb on many nodes:
#   - an underlay namespace holds a Linux bridge with a veth to each node
#     namespace (10.97.0.1..3/24) and a real DNS server, dnsmasq (10.97.0.254),
#     answering the headless-Service name with the three node addresses from
#     an addn-hosts file (changed + SIGHUP); each node gets
#     /etc/netns/<node>/resolv.conf naming it, bind-mounted over
#     /etc/resolv.conf for its vebd as `ip netns exec` would (without its
#     /sys remount, so bpffs pins stay shared);
#   - each node runs its own vebd (socket, state file, bpffs pin root, metrics
#     inside the node) with --config making veb0 and the tunnel vport vx0 (VNI,
#     local, underlay, MTU 1450) and --tunnel_peers=vx0=dns:NAME refreshed
#     every 2 s;
#   - two pods per node through cnitool and the real plugin (host-local IPAM,
#     one on-link 10.244.0.0/16, each node its own range and gateway);
# and checks: each node's peers are the two others (not itself); all 30 pod
# pairs ping; TCP carries 8 MiB across nodes byte for byte; a broadcast from a
# pod reaches every other pod exactly once; remote pods' MACs are learned
# behind vx0; a node removed from DNS is dropped as a peer within a refresh
# period (floods stop reaching it) and comes back when re-added; kill -9 and
# restart of one vebd brings back tunnel, peers and pods (same pod interfaces)
# and traffic; a hand-added peer survives refreshes; a DNS outage keeps the
# peers; bad --tunnel_peers values stop vebd at start with a clear message.
# Cleanup leaves no namespace, resolv.conf, pin, CNI cache file behind.
# VEB_ENGINE=kernel runs it on kernel-engine bridges. Root only.
# Prints "PASS: ..." / "FAIL: ..." per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." && source test/lib.sh
require_root
CNITOOL="${TOOLS}/cnitool"
DNSMASQ=/usr/sbin/dnsmasq
require_executables "bazel build //server:vebd //cli:vebctl //cni-plugin:veb; scripts/setup.sh" \
  "${VEBD}" "${VEBCTL_BIN}" "${PLUGIN}" "${CNITOOL}" "${DNSMASQ}" /usr/bin/curl

ENGINE="${VEB_ENGINE:-userspace}"
ENGINE_ENUM=ENGINE_USERSPACE
[[ "${ENGINE}" == kernel ]] && ENGINE_ENUM=ENGINE_KERNEL
P="vpr$$"
T="$(mktemp -d /tmp/veb-multinode.XXXXXX)"
SOCK="${T}/n1.sock"
U="${P}-u"  # the underlay namespace
NAME=veb-peers.kube-system.svc.cluster.local
DNS_IP=10.97.0.254
VNI=4343
PERIOD=2  # --tunnel_peers_refresh, seconds
declare -A pid=()  # node -> vebd pid
dns_pid=""

cleanup() {  # idempotent; non-zero (what, in LEFT) when something is left
  local n p
  for n in "${!pid[@]}"; do [[ -n "${pid[${n}]}" ]] && kill -9 "${pid[${n}]}" 2>/dev/null; done
  [[ -n "${dns_pid}" ]] && kill -9 "${dns_pid}" 2>/dev/null
  wait 2>/dev/null
  pid=()
  dns_pid=""
  vebd_pid=""
  for n in 1 2 3; do
    rm -rf "/sys/fs/bpf/${P}-${n}" "/etc/netns/${P}-n${n}" 2>/dev/null
  done
  rmdir /etc/netns 2>/dev/null
  rm -f /var/lib/cni/results/*"${P}"* 2>/dev/null
  remove_netns "${P}" || return 1
  for p in "/sys/fs/bpf/${P}-1" "/sys/fs/bpf/${P}-2" "/sys/fs/bpf/${P}-3" /etc/netns/"${P}"-*; do
    [[ -e "${p}" ]] && { LEFT+=" ${p}"; return 1; }
  done
  if compgen -G "/var/lib/cni/results/*${P}*" >/dev/null; then LEFT+=" CNI cache files"; return 1; fi
  return 0
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

vctl() { local n="$1"; shift; timeout 10 "${VEBCTL_BIN}" --socket="${T}/n${n}.sock" "$@"; }
node_ip() { echo "10.97.0.$1"; }
pods_of() { echo "${P}-p$1a ${P}-p$1b"; }
ALL_PODS="$(pods_of 1) $(pods_of 2) $(pods_of 3)"

# start_node N [FLAG...]: vebd in node N's network namespace with a private
# mount namespace whose /etc/resolv.conf is /etc/netns/<node>/resolv.conf;
# 0 once healthy. Extra flags replace nothing; they are appended.
start_node() {
  local n="$1" ns="${P}-n$1"
  shift
  nsenter --net="/var/run/netns/${ns}" unshare --mount --propagation private \
    sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh \
    "/etc/netns/${ns}/resolv.conf" "${VEBD}" --listen="unix://${T}/n${n}.sock" \
    --state_file="${T}/n${n}.json" --workers=1 --metrics_address=127.0.0.1:9464 \
    --bpf_pin_root="/sys/fs/bpf/${P}-${n}" --config="${T}/n${n}.config.json" \
    --tunnel_peers="vx0=dns:${NAME}" --tunnel_peers_refresh="${PERIOD}s" "$@" \
    >>"${T}/vebd${n}.log" 2>&1 &
  vebd_pid=$!
  pid[${n}]=${vebd_pid}
  wait_healthy "${T}/n${n}.sock" 10
}
# The addn-hosts file: the name -> the given nodes' addresses; dnsmasq rereads it on SIGHUP.
dns_nodes() {
  local n
  : >"${T}/hosts.new"
  for n in "$@"; do echo "$(node_ip "${n}") ${NAME}" >>"${T}/hosts.new"; done
  mv "${T}/hosts.new" "${T}/hosts"
  [[ -n "${dns_pid}" ]] && kill -HUP "${dns_pid}"
  return 0
}
start_dns() {
  : >"${T}/dnsmasq.log"
  ip netns exec "${U}" "${DNSMASQ}" --keep-in-foreground --conf-file=/dev/null --user=root \
    --no-resolv --no-hosts --addn-hosts="${T}/hosts" --local=/cluster.local/ \
    --listen-address="${DNS_IP}" --bind-interfaces --local-ttl=0 --pid-file= \
    --log-facility="${T}/dnsmasq.log" --log-queries &
  dns_pid=$!
  local i
  for ((i = 0; i < 50; i++)); do
    # Logged once its sockets are bound.
    grep -q "started" "${T}/dnsmasq.log" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
peers_of() {  # peers_of N: node N's vx0 peers, comma-separated, as vebctl shows them
  vctl "$1" veb0 peers vx0 2>/dev/null | sed -n 's/.*peers \([^ ]*\).*/\1/p'
}
# wait_peers N WANT SECONDS: polls node N's peers every 0.1 s until they are
# WANT; prints the milliseconds it took; 1 if not within SECONDS.
wait_peers() {
  local start end
  start="$(now)"
  end=$((SECONDS + $3))
  while ((SECONDS <= end)); do
    if [[ "$(peers_of "$1")" == "$2" ]]; then elapsed_ms "${start}" "$(now)"; return 0; fi
    sleep 0.1
  done
  return 1
}
peer_entries() {  # the all-zeros entries on node N's vx0, one line each
  ip netns exec "${P}-n$1" bridge fdb show dev vx0 2>/dev/null | grep '^00:00:00:00:00:00' || true
}
pod_ip() { ip -n "$1" -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}' | cut -d/ -f1; }
pod_mac() { ip -n "$1" link show eth0 2>/dev/null | awk '/link\/ether/ {print $2}'; }
pod_link() { ip -n "$1" -o link show eth0 2>/dev/null | awk '{print $1, $(NF-2)}'; }  # ifindex: and MAC
ping_ok() { ip netns exec "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1 || ip netns exec "$1" ping -c 2 -i 0.2 -W 2 "$2" >/dev/null 2>&1; }
metric() {  # metric N SERIES: the value node N's /metrics gives SERIES
  ip netns exec "${P}-n$1" timeout 5 curl -s http://127.0.0.1:9464/metrics | awk -v s="$2" '$1 == s {print $2}'
}
others() {  # others POD: every pod but POD
  local p
  for p in ${ALL_PODS}; do [[ "${p}" != "$1" ]] && echo -n "${p} "; done
}

# ---- the underlay, DNS, three nodes -------------------------------------------------
# shellcheck disable=SC2086
make_netns "${U}" "${P}-n1" "${P}-n2" "${P}-n3" ${ALL_PODS}
ip -n "${U}" link add br0 type bridge
ip -n "${U}" addr add "${DNS_IP}/24" dev br0
ip -n "${U}" link set br0 up
for n in 1 2 3; do
  ip link add u0 netns "${P}-n${n}" type veth peer name "n${n}" netns "${U}"
  ip -n "${U}" link set "n${n}" master br0 up
  ip -n "${P}-n${n}" addr add "$(node_ip "${n}")/24" dev u0
  ip -n "${P}-n${n}" link set u0 up
  mkdir -p "/etc/netns/${P}-n${n}"
  printf 'nameserver %s\noptions timeout:1 attempts:1\n' "${DNS_IP}" >"/etc/netns/${P}-n${n}/resolv.conf"
  cat >"${T}/n${n}.config.json" <<EOF
{"bridges": [{"name": "veb0", "engine": "${ENGINE_ENUM}"}],
 "vports": [{"bridge": "veb0", "kind": "VPORT_KIND_TUNNEL", "name": "vx0", "mtu": 1450,
             "tunnel": {"vni": ${VNI}, "local": "$(node_ip "${n}")", "underlay": "u0"}}]}
EOF
done
dns_nodes 1 2 3
start_dns || { fail "dnsmasq starts in the underlay namespace" "$(tail -3 "${T}/dnsmasq.log")"; finish; }
out="$(ip netns exec "${P}-n1" timeout 5 "${PY}" -c 'import socket, sys; print(sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[1], None)}))' "${NAME}" 2>&1)"
if [[ "${out}" == "['10.97.0.1', '10.97.0.2', '10.97.0.3']" ]]; then
  pass "dnsmasq answers ${NAME} with the three node addresses (from node 1, its resolv.conf)"
else
  fail "dnsmasq answers the Service name from the nodes" "${out}"
fi
for n in 1 2 3; do
  start_node "${n}" || { fail "vebd starts in node ${n}" "$(tail -5 "${T}/vebd${n}.log")"; finish; }
done
pass "three vebds started with --config (veb0 ${ENGINE}, vx0) and --tunnel_peers=vx0=dns:${NAME}"

# ---- peers from DNS ---------------------------------------------------------------------
for n in 1 2 3; do
  want=""
  for m in 1 2 3; do [[ "${m}" != "${n}" ]] && want+="$(node_ip "${m}"),"; done
  want="${want%,}"
  if ms="$(wait_peers "${n}" "${want}" 5)" && [[ "$(peer_entries "${n}" | wc -l)" == 2 ]]; then
    pass "node ${n}: peers from DNS are the two other nodes (${want}), not itself (${ms} ms after start)"
  else
    fail "node ${n}: peers from DNS are ${want}" "$(vctl "${n}" veb0 peers vx0 2>&1) / $(peer_entries "${n}")"
  fi
done
out="$(vctl 1 veb0 vports 2>&1 | grep '^vx0')"
if [[ "${out}" == *"vx0: tunnel"*"vni ${VNI} local 10.97.0.1 dev u0"* &&
  "$(ip -n "${P}-n1" -d link show vx0)" == *"mtu 1450"* ]]; then
  pass "node 1: vx0 from the startup file (VNI, local, underlay, MTU 1450)"
else
  fail "node 1: vx0 from the startup file" "${out}"
fi
if grep -q 'tunnel peers: vport "vx0": added 10.97.0.2,10.97.0.3 (dns:' "${T}/vebd1.log"; then
  pass "node 1 logged the peers it added"
else
  fail "node 1 logged the peers it added" "$(grep 'tunnel peers' "${T}/vebd1.log" | tail -3)"
fi
if [[ "$(metric 1 'veb_tunnel_peers{vport="vx0"}')" == 2 && "$(metric 1 'veb_tunnel_peer_refresh_failures_total{vport="vx0"}')" == 0 ]]; then
  pass "node 1 metrics: veb_tunnel_peers{vport=\"vx0\"} 2, no refresh failures"
else
  fail "node 1 metrics" "$(ip netns exec "${P}-n1" timeout 5 curl -s http://127.0.0.1:9464/metrics | grep tunnel_peer)"
fi

# ---- pods through cnitool ---------------------------------------------------------------
mkdir -p "${T}/bin"
cp "${PLUGIN}" "${T}/bin/veb"
cp "${TOOLS}/cni/host-local" "${T}/bin/"
cni() {  # cni N add|del POD: cnitool inside node N (the plugin's gateway sysctl stays there)
  local n="$1"
  CNI_PATH="${T}/bin" NETCONFPATH="${T}/n${n}.conf" \
    nsenter --net="/var/run/netns/${P}-n${n}" timeout 20 "${CNITOOL}" "$2" "${P}-n${n}" "/var/run/netns/$3"
}
for n in 1 2 3; do
  mkdir -p "${T}/n${n}.conf"
  cat >"${T}/n${n}.conf/veb.conflist" <<EOF
{"cniVersion": "1.1.0", "name": "${P}-n${n}", "plugins": [
  {"type": "veb", "bridge": "veb0", "socket": "${T}/n${n}.sock", "mtu": 1450, "isGateway": true,
   "ipam": {"type": "host-local", "dataDir": "${T}/n${n}.ipam",
            "ranges": [[{"subnet": "10.244.0.0/16", "rangeStart": "10.244.${n}.2",
                         "rangeEnd": "10.244.${n}.254", "gateway": "10.244.${n}.1"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}}
]}
EOF
  for pod in $(pods_of "${n}"); do
    check "node ${n}: cnitool add ${pod#"${P}-"}" cni "${n}" add "${pod}"
  done
done
declare -A IP=()
for pod in ${ALL_PODS}; do IP[${pod}]="$(pod_ip "${pod}")"; done
if [[ "${IP[${P}-p1a]}" == 10.244.1.2 && "${IP[${P}-p1b]}" == 10.244.1.3 && "${IP[${P}-p2a]}" == 10.244.2.2 &&
  "${IP[${P}-p3b]}" == 10.244.3.3 && "$(ip -n "${P}-p2a" route)" == *"default via 10.244.2.1"* &&
  "$(ip -n "${P}-p2a" -o link show eth0)" == *"mtu 1450"* ]]; then
  pass "pods got their node's range, gateway and MTU 1450 (10.244.N.2/.3, one /16)"
else
  fail "pods' addresses from host-local" "$(for p in ${ALL_PODS}; do echo -n "${p}=${IP[${p}]} "; done; ip -n "${P}-p2a" route; ip -n "${P}-p2a" -o link show eth0)"
fi

# ---- traffic ------------------------------------------------------------------------------
bad_pairs=""
npairs=0
for a in ${ALL_PODS}; do
  for b in $(others "${a}"); do
    npairs=$((npairs + 1))
    ping_ok "${a}" "${IP[${b}]}" || bad_pairs+=" ${a#"${P}-"}->${b#"${P}-"}"
  done
done
if [[ -z "${bad_pairs}" && "${npairs}" == 30 ]]; then
  pass "every pod pings every other pod (30 pairs, 24 across nodes)"
else
  fail "every pod pings every other pod (${npairs} pairs)" "failed:${bad_pairs}"
fi

# TCP: 8 MiB from p1a (node 1) to p3b (node 3), sha256 at both ends.
dst="${IP[${P}-p3b]}"
ip netns exec "${P}-p3b" timeout 30 "${PY}" -c '
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[2], 5001)); s.listen(1); s.settimeout(25)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
open(sys.argv[1], "w").write("%d %s" % (n, h.hexdigest()))' "${T}/tcp.rx" "${dst}" &
srv=$!
sleep 0.5
ip netns exec "${P}-p1a" timeout 30 "${PY}" -c '
import hashlib, os, socket, sys
data = os.urandom(8 << 20)
s = socket.create_connection((sys.argv[2], 5001), timeout=20)
s.sendall(data); s.close()
open(sys.argv[1], "w").write("%d %s" % (len(data), hashlib.sha256(data).hexdigest()))' "${T}/tcp.tx" "${dst}"
wait "${srv}"
if [[ -s "${T}/tcp.tx" && "$(cat "${T}/tcp.tx")" == "$(cat "${T}/tcp.rx" 2>/dev/null)" ]]; then
  pass "TCP: 8 MiB from node 1 to node 3, byte for byte (sha256)"
else
  fail "TCP across nodes byte for byte" "tx $(cat "${T}/tcp.tx" 2>/dev/null) rx $(cat "${T}/tcp.rx" 2>/dev/null)"
fi

# shellcheck disable=SC2046
counts="$(bcast_count "${P}-p1a" "vpr-once-1" $(others "${P}-p1a"))"
if [[ "${counts}" == "1 1 1 1 1" ]]; then
  pass "a broadcast from p1a reaches each other pod exactly once (p1b p2a p2b p3a p3b)"
else
  fail "a broadcast from p1a reaches each other pod once (p1b p2a p2b p3a p3b)" "${counts}"
fi
# shellcheck disable=SC2046
counts="$(bcast_count "${P}-p2b" "vpr-once-2" $(others "${P}-p2b"))"
if [[ "${counts}" == "1 1 1 1 1" ]]; then
  pass "a broadcast from p2b reaches each other pod exactly once (p1a p1b p2a p3a p3b)"
else
  fail "a broadcast from p2b reaches each other pod once" "${counts}"
fi
out="$(vctl 1 veb0 addr vx0 2>&1)"
missing=""
for pod in $(pods_of 2) $(pods_of 3); do
  mac="$(pod_mac "${pod}")"
  grep -q "${mac}.*vx0" <<<"${out}" || missing+=" ${pod#"${P}-"}(${mac})"
done
if [[ -z "${missing}" ]]; then
  pass "node 1: vebctl veb0 addr shows the four remote pods' MACs on vx0"
else
  fail "node 1: remote pods' MACs on vx0" "missing${missing}: ${out}"
fi

# ---- a node leaves DNS and comes back -------------------------------------------------
dns_nodes 1 2
ms1="$(wait_peers 1 10.97.0.2 $((2 * PERIOD + 1)))"
rc1=$?
ms2="$(wait_peers 2 10.97.0.1 $((2 * PERIOD + 1)))"
rc2=$?
if [[ ${rc1} == 0 && ${rc2} == 0 && "${ms1}" -le $((PERIOD * 1000 + 1000)) && "${ms2}" -le $((PERIOD * 1000 + 1000)) &&
  "$(peer_entries 1)" != *10.97.0.3* ]]; then
  pass "node 3 removed from DNS: nodes 1 and 2 dropped it within a refresh period (${ms1} ms, ${ms2} ms; period ${PERIOD} s)"
else
  fail "node 3 removed from DNS: dropped within a period" "node 1: $(peers_of 1) (${ms1:-}), node 2: $(peers_of 2) (${ms2:-})"
fi
if grep -q 'tunnel peers: vport "vx0": removed 10.97.0.3 (dns:' "${T}/vebd1.log"; then
  pass "node 1 logged the removal"
else
  fail "node 1 logged the removal" "$(grep 'tunnel peers' "${T}/vebd1.log" | tail -3)"
fi
counts="$(bcast_count "${P}-p1a" "vpr-gone" "${P}-p1b" "${P}-p2a" "${P}-p3a" "${P}-p3b")"
if [[ "${counts}" == "1 1 0 0" ]]; then
  pass "floods from node 1 no longer reach node 3 (p1b p2a get it, p3a p3b do not)"
else
  fail "floods from node 1 stop reaching node 3 (p1b p2a p3a p3b)" "${counts}"
fi
dns_nodes 1 2 3
if wait_peers 1 10.97.0.2,10.97.0.3 $((2 * PERIOD + 1)) >/dev/null &&
  wait_peers 2 10.97.0.1,10.97.0.3 $((2 * PERIOD + 1)) >/dev/null; then
  pass "node 3 back in DNS: it is a peer of nodes 1 and 2 again"
else
  fail "node 3 back in DNS: a peer again" "node 1: $(peers_of 1), node 2: $(peers_of 2)"
fi
counts="$(bcast_count "${P}-p1a" "vpr-back" "${P}-p3a" "${P}-p3b")"
if [[ "${counts}" == "1 1" ]] && ping_ok "${P}-p1a" "${IP[${P}-p3a]}"; then
  pass "node 3 back: floods reach it once per pod and p1a pings p3a"
else
  fail "node 3 back: traffic resumes" "${counts}"
fi

# ---- kill -9 and restart node 2 ---------------------------------------------------------
declare -A LINK=()
for pod in $(pods_of 2); do LINK[${pod}]="$(pod_link "${pod}")"; done
removed_before="$(grep -c 'vport "vx0": removed' "${T}/vebd2.log")"
kill -9 "${pid[2]}"
wait "${pid[2]}" 2>/dev/null
pid[2]=""
start_node 2 || fail "vebd restarts in node 2" "$(tail -5 "${T}/vebd2.log")"
out="$(vctl 2 veb0 vports 2>&1)"
if [[ "${out}" == *"vx0: tunnel"*"vni ${VNI} local 10.97.0.2 dev u0"*"peers 10.97.0.1,10.97.0.3"* &&
  "$(grep -c ': pod' <<<"${out}")" == 2 && "${out}" != *pending* && "$(peer_entries 2 | wc -l)" == 2 ]]; then
  pass "after kill -9: node 2's tunnel, its two peers (one entry each) and both pods are back"
else
  fail "after kill -9: tunnel, peers and pods restored" "${out} / $(peer_entries 2)"
fi
same=1
for pod in $(pods_of 2); do [[ "$(pod_link "${pod}")" == "${LINK[${pod}]}" && -n "${LINK[${pod}]}" ]] || same=0; done
if [[ ${same} == 1 ]]; then
  pass "after kill -9: no pod re-created (eth0 ifindex and MAC unchanged)"
else
  fail "after kill -9: pod interfaces unchanged" "before ${LINK[*]}, after $(for p in $(pods_of 2); do pod_link "${p}"; done)"
fi
if ping_ok "${P}-p2a" "${IP[${P}-p1a]}" && ping_ok "${P}-p3b" "${IP[${P}-p2b]}"; then
  pass "after kill -9: pings cross node 2 again (p2a -> p1a, p3b -> p2b)"
else
  fail "after kill -9: pings cross node 2 again"
fi
sleep "${PERIOD}"
if [[ "$(peers_of 2)" == 10.97.0.1,10.97.0.3 && "$(grep -c 'vport "vx0": removed' "${T}/vebd2.log")" == "${removed_before}" ]]; then
  pass "after kill -9: a refresh keeps the restored peers (nothing removed)"
else
  fail "after kill -9: refresh keeps the peers" "$(peers_of 2); $(grep 'tunnel peers' "${T}/vebd2.log" | tail -3)"
fi
# Node 3 leaves DNS while node 2's vebd is down: the restarted vebd knows from
# its state file that 10.97.0.3 came from the source, and drops it.
kill -9 "${pid[2]}"
wait "${pid[2]}" 2>/dev/null
pid[2]=""
dns_nodes 1 2
start_node 2 || fail "vebd restarts in node 2" "$(tail -5 "${T}/vebd2.log")"
if wait_peers 2 10.97.0.1 $((2 * PERIOD + 1)) >/dev/null && [[ "$(peer_entries 2)" != *10.97.0.3* ]]; then
  pass "node 3 left DNS while node 2's vebd was down: the restarted vebd dropped it (source_peers kept in its state)"
else
  fail "node 3 left DNS while node 2's vebd was down: dropped after the restart" "$(peers_of 2); $(grep 'tunnel peers' "${T}/vebd2.log" | tail -3)"
fi
dns_nodes 1 2 3
if wait_peers 2 10.97.0.1,10.97.0.3 $((2 * PERIOD + 1)) >/dev/null &&
  wait_peers 1 10.97.0.2,10.97.0.3 $((2 * PERIOD + 1)) >/dev/null &&
  wait_peers 3 10.97.0.1,10.97.0.2 $((2 * PERIOD + 1)) >/dev/null; then
  pass "node 3 back in DNS: every node has the two others again"
else
  fail "node 3 back in DNS after node 2's restart" "$(peers_of 1) / $(peers_of 2) / $(peers_of 3)"
fi

# ---- a hand-added peer; a DNS outage --------------------------------------------------------
check "node 1: peers vx0 add 10.97.0.77 (by hand)" vctl 1 veb0 peers vx0 add 10.97.0.77
sleep $((2 * PERIOD + 1))
if [[ "$(peers_of 1)" == 10.97.0.2,10.97.0.3,10.97.0.77 ]]; then
  pass "a peer added by hand survives two refreshes"
else
  fail "a peer added by hand survives refreshes" "$(peers_of 1)"
fi
kill -9 "${dns_pid}"
wait "${dns_pid}" 2>/dev/null
dns_pid=""
failures_before="$(metric 1 'veb_tunnel_peer_refresh_failures_total{vport="vx0"}')"
sleep $((2 * PERIOD + 1))
failures_after="$(metric 1 'veb_tunnel_peer_refresh_failures_total{vport="vx0"}')"
if [[ "$(peers_of 1)" == 10.97.0.2,10.97.0.3,10.97.0.77 && "$(peers_of 3)" == 10.97.0.1,10.97.0.2 ]] &&
  ping_ok "${P}-p1a" "${IP[${P}-p3a]}"; then
  pass "DNS down (dnsmasq killed): peers kept, pods still reach each other"
else
  fail "DNS down: peers kept" "node 1: $(peers_of 1), node 3: $(peers_of 3)"
fi
if [[ -n "${failures_after}" && "${failures_after}" -gt "${failures_before:-0}" ]] &&
  [[ "$(grep -c 'failing, peers kept as they are' "${T}/vebd1.log")" == 1 ]]; then
  pass "DNS down: refresh failures counted (${failures_before:-?} -> ${failures_after}), logged once"
else
  fail "DNS down: failures counted and logged once" "metric ${failures_before:-?} -> ${failures_after:-?}; $(grep -c 'failing, peers kept' "${T}/vebd1.log") log lines"
fi
start_dns || fail "dnsmasq restarts"
check "node 1: peers vx0 del 10.97.0.77" vctl 1 veb0 peers vx0 del 10.97.0.77
sleep $((PERIOD + 1))
if [[ "$(peers_of 1)" == 10.97.0.2,10.97.0.3 ]] && grep -q 'ok, 3 address(es) from the source' <(grep -A100 'failing, peers kept' "${T}/vebd1.log"); then
  pass "DNS back: node 1 logs ok again, peers unchanged"
else
  fail "DNS back: ok again" "$(peers_of 1); $(grep 'tunnel peers' "${T}/vebd1.log" | tail -3)"
fi

# ---- bad flag values -------------------------------------------------------------------
bad_flag() {  # bad_flag FLAG WANT
  local out rc
  out="$(timeout 10 "${VEBD}" --listen="unix://${T}/bad.sock" --state_file="${T}/bad.json" \
    --metrics_address= "$1" 2>&1)"
  rc=$?
  if [[ ${rc} == 2 && "${out}" == *"$2"* && ! -e "${T}/bad.json" && ! -e "${T}/bad.sock" ]]; then
    pass "refused at start (exit 2, nothing made): $1"
  else
    fail "refused at start: $1" "rc ${rc}: ${out}"
  fi
}
bad_flag --tunnel_peers=vx0=bogus:x '--tunnel_peers: "vx0=bogus:x": source kind "bogus": must be dns:, file: or static:'
bad_flag --tunnel_peers=vx0=static:10.97.0.2,10.97.0 '--tunnel_peers: "vx0=static:10.97.0.2,10.97.0": peer "10.97.0": not an IPv4 or IPv6 address'
bad_flag --tunnel_peers=vx0=dns: '--tunnel_peers: "vx0=dns:": dns name "": not a DNS name'
bad_flag --tunnel_peers=vx0=file:peers.txt 'file "peers.txt": must be an absolute path'
bad_flag --tunnel_peers_refresh=0s '--tunnel_peers_refresh 0: out of range 100ms..1h'

# ---- cleanup --------------------------------------------------------------------------
for n in 1 2 3; do
  for pod in $(pods_of "${n}"); do cni "${n}" del "${pod}" >/dev/null 2>&1 || fail "cnitool del ${pod}"; done
done
check_cleanup "namespaces, resolv.conf files, pins, CNI cache"
finish "${T}/vebd1.log"
