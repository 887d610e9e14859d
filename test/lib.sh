# Shared by the bash tests and benchmarks under test/; sourced, never run:
#   cd "$(dirname "${BASH_SOURCE[0]}")/../.." && source test/lib.sh
# They all counted checks, printed "PASS: ..." / "FAIL: ..." lines and the
# final "N passed, M failed" that scripts/test.sh counts, and started, polled
# and stopped vebd the same way; this file holds that one copy:
#   - tool paths: VEBD, VEBCTL_BIN, PLUGIN (built by Bazel), TOOLS
#     ($VEB_TOOLS_BIN), PY;
#   - pass/fail/check, the passed/failed counters, finish (the summary line
#     and the exit status);
#   - vebd: vebctl (bound to ${SOCK}), start_vebd, wait_healthy, stop_vebd;
#   - processes and time: alive, wait_gone, stop, now, elapsed_ms;
#   - require_root, require_executables;
#   - bcast_count: one broadcast frame counted in other namespaces;
#   - for scripts that make network namespaces and define cleanup (which sets
#     LEFT): make_netns, remove_netns, check_cleanup and on_exit (EXIT trap).
# A script sets T (its temp dir) and SOCK (vebd's socket) itself.

VEBD="${VEBD:-bazel-bin/server/vebd}"
VEBCTL_BIN="${VEBCTL:-bazel-bin/cli/vebctl}"
PLUGIN="${VEB_PLUGIN:-bazel-bin/cni-plugin/veb}"
TOOLS="${VEB_TOOLS_BIN:-/opt/veb/tools/bin}"
PY=/usr/bin/python3
passed=0
failed=0
vebd_pid=""
LEFT=""           # what cleanup could not remove
CHECK_ONE_LINE=1  # 0: check's FAIL detail keeps the output's line breaks

pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1${2:+ ($2)}"; failed=$((failed + 1)); }
check() {  # check NAME COMMAND...: FAIL shows the last 400 bytes of its output
  local name="$1"; shift
  local out
  if out="$("$@" 2>&1)"; then
    pass "${name}"
  elif [[ "${CHECK_ONE_LINE}" == 1 ]]; then
    fail "${name}" "$(tail -c 400 <<<"${out}" | tr '\n' ' ')"
  else
    fail "${name}" "$(tail -c 400 <<<"${out}")"
  fi
}
finish() {  # finish [VEBD_LOG]: "N passed, M failed" (after VEBD_LOG's tail when
            # something failed); exits 0 when nothing failed, else 1
  if [[ ${failed} -ne 0 && -n "${1:-}" ]]; then
    echo "--- vebd log (last 20 lines)"; tail -20 "$1"
  fi
  echo "${passed} passed, ${failed} failed"
  if [[ ${failed} -eq 0 ]]; then exit 0; fi
  exit 1
}

vebctl() { timeout 10 "${VEBCTL_BIN}" --socket="${SOCK}" "$@"; }
now() { date +%s.%N; }
elapsed_ms() { "${PY}" -c 'import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' "$1" "$2"; }

alive() {  # alive PID: running and not a zombie
  local st
  st="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ -n "${st}" && "${st}" != Z* ]]
}
wait_gone() {  # wait_gone PID SECONDS -> 0 when it exited in time
  local i
  for ((i = 0; i < $2 * 20; i++)); do alive "$1" || return 0; sleep 0.05; done
  ! alive "$1"
}
stop() {  # stop PID [SECONDS]: TERM, then KILL after SECONDS (10); reaps it
  [[ -n "$1" ]] || return 0
  kill -TERM "$1" 2>/dev/null
  wait_gone "$1" "${2:-10}" || kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  return 0
}

# wait_healthy SOCKET SECONDS [INTERVAL]: polls `vebctl health` on SOCKET every
# INTERVAL (0.05) s; 0 once it answers, 1 when vebd_pid is gone or after SECONDS.
wait_healthy() {
  local end=$((SECONDS + $2))
  while ((SECONDS < end)); do
    timeout 5 "${VEBCTL_BIN}" --socket="$1" health >/dev/null 2>&1 && return 0
    alive "${vebd_pid}" || return 1
    sleep "${3:-0.05}"
  done
  return 1
}
# start_vebd [FLAG...]: vebd (one worker) on ${SOCK} with state ${T}/state.json,
# log appended to ${T}/vebd.log; 0 once healthy (within 10 s).
start_vebd() {
  "${VEBD}" --listen="unix://${SOCK}" --state_file="${T}/state.json" --workers=1 "$@" \
    >>"${T}/vebd.log" 2>&1 &
  vebd_pid=$!
  wait_healthy "${SOCK}" 10
}
stop_vebd() { stop "${vebd_pid}"; vebd_pid=""; }

require_root() {
  if [[ "$(id -u)" -ne 0 ]]; then echo "${0##*/}: needs root (network namespaces)" >&2; exit 1; fi
}
require_executables() {  # require_executables HINT FILE...: exits 1 at the first one missing
  local hint="$1" b; shift
  for b in "$@"; do
    [[ -x "${b}" ]] || { echo "${0##*/}: ${b} missing (${hint})" >&2; exit 1; }
  done
}

# bcast_count FROM_NS TAG NS...: sends one broadcast frame (ethertype 0x88b5,
# payload TAG, source = FROM_NS's eth0 MAC, so a locked pod port takes it)
# from FROM_NS's eth0 and prints, per NS, how many copies arrived at its eth0
# within 1.5 s ("x": the count could not be read). Uses ${T}.
bcast_count() {
  local from="$1" tag="$2" ns out="" pids=() i=0 p
  shift 2
  for ns in "$@"; do
    ip netns exec "${ns}" timeout 5 "${PY}" -c '
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind(("eth0", 0))
s.settimeout(0.1)
open(sys.argv[2], "w").close()
n, end = 0, time.time() + 1.5
while time.time() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if sys.argv[1].encode() in f:
        n += 1
open(sys.argv[2], "w").write(str(n))' "${tag}" "${T}/count.${i}" &
    pids+=($!)
    i=$((i + 1))
  done
  sleep 0.3
  ip netns exec "${from}" "${PY}" -c '
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
mac = s.getsockname()[4]
s.send(b"\xff" * 6 + mac + b"\x88\xb5" + sys.argv[1].encode().ljust(46, b"\0"))' "${tag}"
  for p in "${pids[@]}"; do wait "${p}"; done
  for ((i = 0; i < $#; i++)); do out+="$(cat "${T}/count.${i}" 2>/dev/null || echo x) "; done
  echo "${out% }"
}
make_netns() {  # make_netns NAME...: namespaces with lo up and IPv6 off (no background traffic)
  local ns
  for ns in "$@"; do
    ip netns add "${ns}"
    ip netns exec "${ns}" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "${ns}" link set lo up
  done
}
links_present() {  # links_present IFNAME...: 0 when any of them exists
  local l
  for l in "$@"; do ip link show dev "${l}" >/dev/null 2>&1 && return 0; done
  return 1
}
# remove_netns PREFIX IFNAME...: deletes the namespaces PREFIX-* and then what
# is left of IFNAME...; LEFT says what is still there (then non-zero).
remove_netns() {
  local prefix="$1" ns l i left=""
  shift
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${prefix}-" || true); do ip netns del "${ns}" 2>/dev/null; done
  # A pair goes with its pod end's namespace; the kernel may take a moment.
  for ((i = 0; i < 40; i++)); do links_present "$@" || break; sleep 0.05; done
  for l in "$@"; do ip link show dev "${l}" >/dev/null 2>&1 && ip link del "${l}" 2>/dev/null; done
  ip netns list 2>/dev/null | awk '{print $1}' | grep -q "^${prefix}-" && left+=" netns: $(ip netns list | awk '{print $1}' | grep "^${prefix}-" | tr '\n' ' ')"
  for l in "$@"; do ip link show dev "${l}" >/dev/null 2>&1 && left+=" link: ${l}"; done
  LEFT="${left}"
  [[ -z "${left}" ]]
}
check_cleanup() {  # check_cleanup WHAT: the script's cleanup, as the check "cleanup: WHAT"
  if cleanup; then pass "cleanup: $1"; else fail "cleanup: $1" "${LEFT}"; fi
}
on_exit() {  # trap on_exit EXIT: cleanup, remove ${T}, exit 1 if something is left
  local rc=$?
  if ! cleanup; then echo "cleanup: left behind:${LEFT}" >&2; rc=1; fi
  rm -rf "${T}"
  exit "${rc}"
}
