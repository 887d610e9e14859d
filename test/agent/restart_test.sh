#!/usr/bin/env bash
# kill -9 and an immediate restart, 100 times (issue 15): one vebd per state
# and socket, nothing forgotten, pods keep their network.
#
# A bridge with a host vport (a TAP the agent holds: the fragile case, as the
# dying agent's TAP fd may still be open when the new one reopens it) and a
# pod vport (veth) in namespace <p>-pod. Each round: kill -9 the agent and
# start a new one at once (no wait for the old one to be reaped); it must
# come up healthy with both vports, the state file must still hold them, and
# the gap (kill to healthy) is recorded. Also: a second vebd started while one
# runs exits at once naming the holder's PID and leaves its socket alone.
# Then the pod pings the host vport's address, and a member port whose
# interface goes while the agent is down is pending after the restart and
# attached, with its rule, when the interface is back. Prints PASS/FAIL lines and
# "N passed, M failed"; root; only its own namespace and interfaces.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." && source test/lib.sh
require_root
require_executables "bazel build //server:vebd //cli:vebctl" "${VEBD}" "${VEBCTL_BIN}"

ROUNDS="${VEB_RESTART_ROUNDS:-100}"
P="vrs$$"
NS="${P}-pod"
T="$(mktemp -d /tmp/veb-restart.XXXXXX)"
SOCK="${T}/vebd.sock"
cleanup() {
  [[ -n "${vebd_pid}" ]] && kill -9 "${vebd_pid}" 2>/dev/null
  wait 2>/dev/null
  remove_netns "${P}" "${P}gw" "${P}v1" "${P}m"
}
trap on_exit EXIT

make_netns "${NS}"
start_vebd --metrics_address= || { fail "vebd starts" "$(tail -5 "${T}/vebd.log")"; finish; }
check "create bridge veb0" vebctl create veb0
check "host vport ${P}gw 10.93.0.1/24" vebctl veb0 vport host "${P}gw" ip 10.93.0.1/24
check "pod vport ${P}v1" vebctl veb0 vport pod "/var/run/netns/${NS}" eth0 name "${P}v1"
ip -n "${NS}" addr add 10.93.0.2/24 dev eth0
check "the pod pings the host vport" ip netns exec "${NS}" ping -q -c 2 -i 0.1 -W 1 10.93.0.1

# A second agent on the same socket and state: refused at once, the first
# one untouched.
second="$("${VEBD}" --listen="unix://${SOCK}" --state_file="${T}/state.json" --workers=1 \
  --metrics_address= 2>&1)"
rc=$?
if [[ ${rc} -eq 1 && "${second}" == *"in use by another vebd (pid ${vebd_pid})"* ]] &&
  vebctl health >/dev/null; then
  pass "a second vebd exits (1) naming the holder (pid ${vebd_pid}); the first still serves"
else
  fail "a second vebd exits naming the holder" "rc=${rc}: ${second}"
fi

vports_ok() {
  local v
  v="$(vebctl veb0 vports 2>/dev/null)" || return 1
  [[ "${v}" == *"${P}gw"* && "${v}" == *"${P}v1"* ]]
}
state_ok() { grep -q "\"${P}gw\"" "${T}/state.json" && grep -q "\"${P}v1\"" "${T}/state.json"; }

gaps=()
bad=""
for ((i = 1; i <= ROUNDS; i++)); do
  t0="$(now)"
  kill -9 "${vebd_pid}"
  old="${vebd_pid}"
  if ! start_vebd --metrics_address=; then
    bad+=" round ${i}: not healthy ($(tail -2 "${T}/vebd.log" | tr '\n' ' '))"
    break
  fi
  gaps+=("$(elapsed_ms "${t0}" "$(now)")")
  { wait "${old}"; } 2>/dev/null
  if ! vports_ok || ! state_ok; then
    bad+=" round ${i}: vports $(vebctl veb0 vports 2>&1 | tr '\n' ' ')"
    break
  fi
done
if [[ -z "${bad}" ]]; then
  pass "${ROUNDS} of ${ROUNDS} kill -9 + immediate restarts: healthy, both vports restored and kept in the state file"
else
  fail "kill -9 + immediate restarts" "${bad}"
fi
read -r p50 p99 max < <(printf '%s\n' "${gaps[@]}" | sort -n | "${PY}" -c '
import sys
v = [int(x) for x in sys.stdin.read().split()]
pct = lambda p: v[min(len(v) - 1, round(p / 100 * (len(v) - 1)))]
print(pct(50), pct(99), v[-1])')
echo "restart gap (kill -9 to healthy) over ${#gaps[@]} rounds: p50 ${p50} ms, p99 ${p99} ms, max ${max} ms"
check "the pod still pings the host vport after ${ROUNDS} restarts" \
  ip netns exec "${NS}" ping -q -c 2 -i 0.1 -W 1 10.93.0.1

if grep -q "restore:" "${T}/vebd.log"; then
  fail "no restore problems logged in the restarts" "$(grep "restore:" "${T}/vebd.log" | sort | uniq -c | head -3)"
else
  pass "no restore problems logged in the restarts"
fi

# A member port whose interface is gone while the agent is down is pending,
# not forgotten, and attached (with its rule) when the interface is back.
ip link add "${P}m" type veth peer name "${P}mp"
ip link set "${P}m" up
check "member port ${P}m with a rule" sh -c "
  '${VEBCTL_BIN}' --socket='${SOCK}' veb0 add '${P}m' &&
  '${VEBCTL_BIN}' --socket='${SOCK}' veb0 rule block in on '${P}m' src 02:00:00:00:00:99"
kill -9 "${vebd_pid}"
{ wait "${vebd_pid}"; } 2>/dev/null
ip link del "${P}m"
start_vebd --metrics_address= || fail "vebd restarts" "$(tail -3 "${T}/vebd.log")"
if vebctl veb0 ports | grep -q "port ${P}m pending .*(port \"${P}m\": add: interface \"${P}m\": no such interface)"; then
  pass "the port whose interface went is listed pending, with the reason"
else
  fail "the port whose interface went is listed pending" "$(vebctl veb0 ports)"
fi
check "the state file still holds the pending port and its rule" sh -c \
  "grep -q '\"${P}m\"' '${T}/state.json' && grep -q '02:00:00:00:00:99' '${T}/state.json'"
ip link add "${P}m" type veth peer name "${P}mp"
ip link set "${P}m" up
# Attached: listed running or down (its peer is down), no longer pending.
attached() { vebctl veb0 ports | grep -Eq "port ${P}m (running|down) "; }
for _ in $(seq 60); do attached && break; sleep 0.05; done
if attached &&
  [[ "$(vebctl veb0 rules "${P}m")" == *"src 02:00:00:00:00:99"* ]]; then
  pass "the interface is back: the port is attached with its rule"
else
  fail "the interface is back: the port is attached with its rule" "$(vebctl veb0 ports; vebctl veb0 rules "${P}m")"
fi
check_cleanup "namespace and interfaces removed"
finish "${T}/vebd.log"
