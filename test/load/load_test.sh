#!/usr/bin/env bash
# vebd under API load with traffic flowing (root; network namespaces this script
# makes):
#   1. a real vebd with bridge veb0 and two pod vports; a UDP echo probe (one
#      datagram every 5 ms, each send and reply timestamped) runs from pod 1 to
#      pod 2 for the whole run;
#   2. rpc_load --mode=load: 8 concurrent clients x 1000 mixed RPCs against the
#      same vebd (reads, UpdatePort on the two vports, static addresses, rules,
#      scratch bridges, counters); every RPC succeeds and no configuration
#      write was dropped (rpc_load's own checks);
#   3. the dataplane never stalled: no probe sent during the load was lost, the
#      largest gap between consecutive replies and the largest RTT are <= 50 ms;
#   4. the state file parses as JSON, and after a SIGTERM and a restart with
#      the same state file the configuration (bridges, veb0's ports and flags,
#      static addresses, rules, vports) and the state file are as before; pod 1
#      still reaches pod 2.
# Addresses only inside this script's namespaces (10.78.0.0/24); IPv6 is off in
# the pods. Every wait is bounded; the EXIT trap kills what was started and
# removes every namespace (vld$$-*) and interface (vld$$p1, vld$$p2) this run
# made. Prints "PASS: ..." / "FAIL: ..." per check and "N passed, M failed".
# Knobs: CLIENTS (8), RPCS (1000), MAX_STALL_MS (50), PROBE_MS (5), PROBE_RT (1:
# probe and echo server under chrt -f 10 when possible; 0: normal priority).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
RPC_LOAD="${RPC_LOAD:-bazel-bin/test/load/rpc_load}"
CLIENTS="${CLIENTS:-8}"
RPCS="${RPCS:-1000}"
MAX_STALL_MS="${MAX_STALL_MS:-50}"
PROBE_MS="${PROBE_MS:-5}"
T="$(mktemp -d /tmp/veb-load.XXXXXX)"
SOCK="${T}/vebd.sock"
P="vld$$"            # prefix of every namespace and interface this run makes
NS1="${P}-1" NS2="${P}-2"
V1="${P}p1" V2="${P}p2"  # host ends (vport names), at most 15 characters
IP1=10.78.0.1 IP2=10.78.0.2
ECHO_PORT=7809
echo_pid=""
probe_pid=""

# Real-time priority for the probe and the echo server when possible, so that
# what they measure is the switch, not their own scheduling on a busy host.
RT=()
if [[ "${PROBE_RT:-1}" == 1 ]] && command -v chrt >/dev/null && chrt -f 10 true 2>/dev/null; then RT=(chrt -f 10); fi

cleanup() {  # idempotent; non-zero (what, in LEFT) when something of ours is left
  stop "${probe_pid}"; probe_pid=""
  stop "${echo_pid}"; echo_pid=""
  stop_vebd
  remove_netns "${P}" "${V1}" "${V2}"
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

require_root
require_executables "bazel build //server:vebd //cli:vebctl //test/load:rpc_load" \
  "${VEBD}" "${VEBCTL_BIN}" "${RPC_LOAD}" "${PY}" /usr/bin/ping

# The probe: `echo PORT MAXSEC` answers datagrams; `probe HOST PORT INTERVAL_MS
# OUT MAXSEC` sends one datagram every INTERVAL_MS (no catch-up bursts when it
# was late) until SIGTERM or MAXSEC, then waits 1 s for late replies. OUT gets
# "S seq wall" per send, "R seq wall_sent wall_received rtt_ms" per reply and
# "E seq wall errno" per failed send (wall: Unix time; RTT: CLOCK_MONOTONIC).
cat >"${T}/probe.py" <<'EOF'
import select, signal, socket, struct, sys, time

def echo(port, maxsec):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    s.settimeout(0.5)
    end = time.monotonic() + maxsec
    while time.monotonic() < end:
        try:
            data, addr = s.recvfrom(2048)
        except socket.timeout:
            continue
        s.sendto(data, addr)

def probe(host, port, interval_ms, out_path, maxsec):
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, port))
    s.setblocking(False)
    out = open(out_path, "w")
    interval = interval_ms / 1000.0
    seq = 0
    start = time.monotonic()
    nxt = start
    last_flush = start
    def drain():
        while True:
            try:
                data = s.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. ICMP port unreachable reported on the socket
            tr_mono, tr_wall = time.monotonic(), time.time()
            q, ts_mono, ts_wall = struct.unpack("!Qdd", data[:24])
            out.write("R %d %.6f %.6f %.3f\n" % (q, ts_wall, tr_wall, (tr_mono - ts_mono) * 1000))
    while not stop and time.monotonic() - start < maxsec:
        now = time.monotonic()
        if now >= nxt:
            seq += 1
            tw = time.time()
            try:
                s.send(struct.pack("!Qdd", seq, time.monotonic(), tw))
                out.write("S %d %.6f\n" % (seq, tw))
            except OSError as e:
                out.write("S %d %.6f\nE %d %.6f %d\n" % (seq, tw, seq, tw, e.errno))
            nxt += interval
            if nxt < now:
                nxt = now + interval
        try:
            select.select([s], [], [], max(0.0, nxt - time.monotonic()))
        except InterruptedError:
            pass
        drain()
        if time.monotonic() - last_flush > 0.1:
            out.flush()
            last_flush = time.monotonic()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        select.select([s], [], [], 0.05)
        drain()
    out.close()

if sys.argv[1] == "echo":
    echo(int(sys.argv[2]), float(sys.argv[3]))
else:
    probe(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
EOF

# probe_stats FILE FROM TO: over probes sent in [FROM, TO] (Unix time):
# "sent lost max_gap_ms max_rtt_ms p99_rtt_ms p50_rtt_ms max_send_gap_ms"; the
# reply gap also spans the last reply before FROM and the first after TO.
probe_stats() {
  "${PY}" - "$@" <<'EOF'
import math, sys
path, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
sends, replies = {}, {}
for line in open(path):
    f = line.split()
    if f[0] == "S":
        sends[int(f[1])] = float(f[2])
    elif f[0] == "R":
        replies.setdefault(int(f[1]), (float(f[3]), float(f[4])))
window = sorted(q for q, t in sends.items() if t0 <= t <= t1)
lost = [q for q in window if q not in replies]
rtts = sorted(replies[q][1] for q in window if q in replies)
recv = sorted(r[0] for r in replies.values())
before = [t for t in recv if t < t0]
after = [t for t in recv if t > t1]
span = ([before[-1]] if before else []) + [t for t in recv if t0 <= t <= t1] + ([after[0]] if after else [])
gap = max((b - a for a, b in zip(span, span[1:])), default=float("inf")) * 1000
st = [sends[q] for q in window]
send_gap = max((b - a for a, b in zip(st, st[1:])), default=0) * 1000
def pct(v, q):
    return v[max(0, min(len(v), math.ceil(q * len(v))) - 1)] if v else float("inf")
print("%d %d %.1f %.1f %.1f %.2f %.1f" % (len(window), len(lost), gap, rtts[-1] if rtts else float("inf"),
      pct(rtts, 0.99), pct(rtts, 0.5), send_gap))
EOF
}

# snapshot: the configuration as the API reports it, without what changes by
# itself (dynamic addresses, counts of them, ages).
snapshot() {
  {
    echo "== bridges"
    vebctl -o json list | "${PY}" -c '
import json, sys
for b in json.load(sys.stdin)["bridges"]:
    b.pop("address_count", None)
    print(json.dumps(b, sort_keys=True))'
    echo "== veb0"
    vebctl -o json veb0 show | "${PY}" -c '
import json, sys
j = json.load(sys.stdin)
j["bridge"].pop("address_count", None)
for p in j["ports"].get("ports", []):
    p.pop("address_count", None)
print(json.dumps(j, sort_keys=True, indent=1))'
    echo "== static addresses"
    vebctl -o json veb0 addr | "${PY}" -c '
import json, sys
for a in sorted(json.load(sys.stdin).get("addresses", []), key=lambda a: (a["vid"], a["mac"])):
    if a.get("type") == "ADDRESS_TYPE_STATIC":
        print(a["vid"], a["mac"], a["port"])'
    for v in "${V1}" "${V2}"; do
      echo "== rules ${v}"
      vebctl -o json veb0 rules "${v}"
    done
    echo "== vports"
    vebctl -o json veb0 vports | "${PY}" -c '
import json, sys
for v in json.load(sys.stdin).get("vports", []):
    v.get("port", {}).pop("address_count", None)
    print(json.dumps(v, sort_keys=True))'
  } 2>&1
}

# ---- 1. vebd, two pods, the probe ------------------------------------------------------
make_netns "${NS1}" "${NS2}"
if start_vebd --metrics_address=; then pass "vebd starts"; else fail "vebd starts" "$(tail -5 "${T}/vebd.log")"; exit 1; fi
check "create bridge veb0 (maxaddr 1000)" vebctl create veb0 maxaddr 1000
check "pod vport ${V1}" vebctl veb0 vport pod "/var/run/netns/${NS1}" eth0 name "${V1}"
check "pod vport ${V2}" vebctl veb0 vport pod "/var/run/netns/${NS2}" eth0 name "${V2}"
ip -n "${NS1}" addr add "${IP1}/24" dev eth0
ip -n "${NS2}" addr add "${IP2}/24" dev eth0
check "pod 1 pings pod 2" ip netns exec "${NS1}" ping -q -c 3 -i 0.05 -W 1 "${IP2}"

ip netns exec "${NS2}" "${RT[@]}" "${PY}" "${T}/probe.py" echo "${ECHO_PORT}" 600 >"${T}/echo.log" 2>&1 &
echo_pid=$!
sleep 0.2
ip netns exec "${NS1}" "${RT[@]}" "${PY}" "${T}/probe.py" probe "${IP2}" "${ECHO_PORT}" "${PROBE_MS}" "${T}/probe.out" 600 >"${T}/probe.log" 2>&1 &
probe_pid=$!
replies() { awk '/^R/ {n++} END {print n + 0}' "${T}/probe.out" 2>/dev/null || echo 0; }
for ((i = 0; i < 100; i++)); do [[ "$(replies)" -ge 100 ]] && break; sleep 0.05; done
if [[ "$(replies)" -ge 100 ]]; then
  pass "UDP echo probe pod 1 -> pod 2 every ${PROBE_MS} ms flows (${RT[*]:-no real-time priority})"
else
  fail "UDP echo probe pod 1 -> pod 2 flows" "$(replies) replies; $(tail -3 "${T}/probe.log" "${T}/echo.log" | tr '\n' ' ')"
fi
sleep 0.5  # a quiet baseline before the load

# ---- 2. the load -----------------------------------------------------------------------
t_load0="$(now)"
timeout 600 "${RPC_LOAD}" --socket="${SOCK}" --mode=load --clients="${CLIENTS}" --rpcs="${RPCS}" \
  --bridge=veb0 --ports="${V1},${V2}" --scratch_prefix=ld >"${T}/load.out" 2>&1
load_rc=$?
t_load1="$(now)"
load_s="$(elapsed_ms "${t_load0}" "${t_load1}")"
sleep 0.3
stop "${probe_pid}"; probe_pid=""
summary="$(grep '^load: [0-9]* rpcs' "${T}/load.out")"
all="$(awk '$1 == "load" && $2 == "all" {print $4, $5, $6}' "${T}/load.out")"
if [[ "${load_rc}" -eq 0 && "${summary}" == *" 0 errors, 0 config mismatches" ]]; then
  pass "rpc_load ${CLIENTS} clients x ${RPCS} RPCs in $((load_s / 1000)).$((load_s % 1000 / 100)) s: ${summary#load: }; all RPCs ${all}"
else
  fail "rpc_load ${CLIENTS} clients x ${RPCS} RPCs: no error, no config mismatch" \
    "exit ${load_rc}: $(grep -E '^(error|mismatch|errors|load:)' "${T}/load.out" | head -20 | tr '\n' ' ')"
fi
echo "--- rpc_load latencies (ms)"
grep -E '^load ' "${T}/load.out"

# ---- 3. the dataplane during the load ---------------------------------------------------
read -r sent lost gap max_rtt p99_rtt p50_rtt send_gap < <(probe_stats "${T}/probe.out" "${t_load0}" "${t_load1}")
if [[ "${sent:-0}" -gt 0 && "${lost}" -eq 0 ]]; then
  pass "no probe lost during the load (${sent} sent)"
else
  fail "no probe lost during the load" "${sent:-0} sent, ${lost:-?} lost; $(grep -c '^E' "${T}/probe.out") send errors"
fi
if "${PY}" -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "${gap:-inf}" "${MAX_STALL_MS}"; then
  pass "largest gap between echo replies during the load ${gap} ms <= ${MAX_STALL_MS} ms (probe send jitter max ${send_gap} ms)"
else
  fail "largest gap between echo replies during the load <= ${MAX_STALL_MS} ms" "${gap} ms (the probe's own largest send gap: ${send_gap} ms)"
fi
if "${PY}" -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "${max_rtt:-inf}" "${MAX_STALL_MS}"; then
  pass "echo RTT during the load: p50 ${p50_rtt} ms, p99 ${p99_rtt} ms, max ${max_rtt} ms <= ${MAX_STALL_MS} ms"
else
  fail "echo RTT during the load: max <= ${MAX_STALL_MS} ms" "p50 ${p50_rtt} ms, p99 ${p99_rtt} ms, max ${max_rtt} ms"
fi

# ---- 4. persistence and restart -----------------------------------------------------------
if "${PY}" -c '
import json, sys
j = json.load(open(sys.argv[1]))
print("%d bridges, %d vports, %d rules, %d static addresses" % (len(j.get("bridges", [])),
      len(j.get("vports", [])), len(j.get("rules", [])), len(j.get("staticAddresses", []))))' "${T}/state.json" >"${T}/state.txt" 2>&1; then
  pass "the state file after the load parses: $(cat "${T}/state.txt")"
else
  fail "the state file after the load parses" "$(tail -c 300 "${T}/state.txt")"
fi
before="$(snapshot)"
cp "${T}/state.json" "${T}/state.before.json"
kill -TERM "${vebd_pid}"
if wait_gone "${vebd_pid}" 10; then
  wait "${vebd_pid}"; rc=$?
  vebd_pid=""
  if [[ "${rc}" -eq 0 ]]; then pass "SIGTERM: vebd exits 0"; else fail "SIGTERM: vebd exits 0" "exit ${rc}"; fi
else
  fail "SIGTERM: vebd exits within 10 s" "still running"
  stop_vebd
fi
if start_vebd --metrics_address=; then pass "vebd restarts with the same state file"; else fail "vebd restarts with the same state file" "$(tail -5 "${T}/vebd.log")"; fi
after="$(snapshot)"
if [[ -n "${before}" && "${after}" == "${before}" && "${before}" != *vebctl:* ]]; then
  pass "configuration after the restart equals before ($(grep -c . <<<"${before}") lines: bridges, veb0, static addresses, rules, vports)"
else
  fail "configuration after the restart equals before" "$(diff <(echo "${before}") <(echo "${after}") | head -20 | tr '\n' ' ')"
fi
if cmp -s "${T}/state.before.json" "${T}/state.json"; then
  pass "the state file vebd rewrites after the restore is identical"
else
  fail "the state file vebd rewrites after the restore is identical" "$(diff "${T}/state.before.json" "${T}/state.json" | head -10 | tr '\n' ' ')"
fi
if grep -q 'restore:' "${T}/vebd.log"; then
  fail "restore reported no problem" "$(grep 'restore:' "${T}/vebd.log" | head -5 | tr '\n' ' ')"
else
  pass "restore reported no problem"
fi
check "pod 1 still reaches pod 2 after the restart" ip netns exec "${NS1}" ping -q -c 5 -i 0.05 -W 1 "${IP2}"

# ---- cleanup -----------------------------------------------------------------------------
check_cleanup "no namespace ${P}-* and no ${V1}/${V2} left"
finish "${T}/vebd.log"
