#!/usr/bin/env bash
# Durable or refused (issue 15), probed as an operator would: vebd's state
# directory on a small tmpfs that is then filled up, and then made read-only.
#
# While the state cannot be written, every change is refused with the reason
# (40 creates in a row), nothing changes (the API and the file), health turns
# NOT_SERVING and veb_state_save_failures_total counts each refusal; once the
# disk has room again changes work and health is SERVING. On a read-only
# state directory vebd does not start, and says why. After a kill -9 the
# agent comes back with exactly what was acknowledged. Prints PASS/FAIL
# lines and "N passed, M failed"; root (mount); in-memory interfaces only.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." && source test/lib.sh
require_root
require_executables "bazel build //server:vebd //cli:vebctl" "${VEBD}" "${VEBCTL_BIN}"

T="$(mktemp -d /tmp/veb-durability.XXXXXX)"
SOCK="${T}/vebd.sock"
S="${T}/state"
cleanup() {
  [[ -n "${vebd_pid}" ]] && kill -9 "${vebd_pid}" 2>/dev/null
  { wait "${vebd_pid}"; } 2>/dev/null
  mountpoint -q "${S}" && umount "${S}"
  LEFT=""
  mountpoint -q "${S}" && LEFT=" mount ${S}"
  [[ -z "${LEFT}" ]]
}
trap on_exit EXIT
free_port() { "${PY}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "${S}"
mount -t tmpfs -o size=256k tmpfs "${S}"
METRICS="127.0.0.1:$(free_port)"
start() {
  "${VEBD}" --listen="unix://${SOCK}" --state_file="${S}/state.json" --workers=1 \
    --metrics_address="${METRICS}" --fake_interfaces=eth1,eth2 >>"${T}/vebd.log" 2>&1 &
  vebd_pid=$!
  wait_healthy "${SOCK}" 10
}
metric() { curl -sf --max-time 3 "http://${METRICS}/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
health() { vebctl health >/dev/null 2>&1 && echo SERVING || echo NOT_SERVING; }
wait_health() {  # wait_health WANT: the sweep updates health every 100 ms
  local i
  for ((i = 0; i < 40; i++)); do [[ "$(health)" == "$1" ]] && return 0; sleep 0.05; done
  return 1
}

start || { fail "vebd starts" "$(tail -5 "${T}/vebd.log")"; finish; }
check "create veb0, add eth1" sh -c "'${VEBCTL_BIN}' --socket='${SOCK}' create veb0 &&
  '${VEBCTL_BIN}' --socket='${SOCK}' veb0 add eth1"
cp "${S}/state.json" "${T}/before.json"

# The disk is full.
dd if=/dev/zero of="${S}/filler" bs=4k 2>/dev/null
refused=0
for i in $(seq 40); do
  out="$(vebctl create "full${i}" 2>&1)" && continue
  [[ "${out}" == *"bridge \"full${i}\": create: not saved ("*"No space left on device"*"); nothing changed"* ]] &&
    refused=$((refused + 1))
done
if [[ ${refused} -eq 40 ]]; then
  pass "disk full: 40 of 40 creates refused, naming the bridge and the reason"
else
  fail "disk full: 40 of 40 creates refused" "${refused} refused; last: ${out}"
fi
out="$(vebctl veb0 add eth2 2>&1)"
if [[ $? -ne 0 && "${out}" == *"not saved"* ]] && ! vebctl veb0 ports | grep -q "port eth2"; then
  pass "disk full: AddPort refused and the port is not there"
else
  fail "disk full: AddPort refused and the port is not there" "${out}"
fi
if [[ "$(vebctl list)" == *veb0* && "$(vebctl list)" != *full* ]] &&
  cmp -s "${S}/state.json" "${T}/before.json"; then
  pass "nothing changed: the API lists veb0 only, the state file is as before"
else
  fail "nothing changed" "$(vebctl list | head -3)"
fi
if wait_health NOT_SERVING; then pass "health NOT_SERVING while saves fail"; else fail "health NOT_SERVING while saves fail"; fi
n="$(metric veb_state_save_failures_total)"
if [[ -n "${n}" ]] && (( ${n%.*} >= 41 )); then
  pass "veb_state_save_failures_total counts the refusals (${n})"
else
  fail "veb_state_save_failures_total counts the refusals" "'${n}'"
fi

# Room again.
rm -f "${S}/filler"
check "room again: create veb1" vebctl create veb1
if wait_health SERVING; then pass "health SERVING again"; else fail "health SERVING again"; fi

# A read-only state directory (it cannot be remounted read-only under a
# running vebd, whose lock file is open there): vebd refuses to start and says
# why, rather than run with a configuration it cannot save.
kill -9 "${vebd_pid}"
{ wait "${vebd_pid}"; } 2>/dev/null
vebd_pid=""
mount -o remount,ro "${S}"
out="$("${VEBD}" --listen="unix://${SOCK}" --state_file="${S}/state.json" --workers=1 \
  --metrics_address= --fake_interfaces=eth1,eth2 2>&1)"
rc=$?
if [[ ${rc} -ne 0 && "${out}" == *"state.json.lock: cannot open: Read-only file system"* ]]; then
  pass "read-only state directory: vebd does not start, and says why (exit ${rc})"
else
  fail "read-only state directory: vebd does not start, and says why" "rc=${rc}: ${out}"
fi
mount -o remount,rw "${S}"
start || fail "vebd starts once the directory is writable" "$(tail -5 "${T}/vebd.log")"
check "writable again: create veb2" vebctl create veb2

# What was acknowledged survives kill -9, and nothing else.
kill -9 "${vebd_pid}"
{ wait "${vebd_pid}"; } 2>/dev/null
start || fail "vebd restarts" "$(tail -5 "${T}/vebd.log")"
bridges="$(vebctl -o json list | "${PY}" -c 'import json,sys; print(" ".join(sorted(b["name"] for b in json.load(sys.stdin).get("bridges", []))))')"
if [[ "${bridges}" == "veb0 veb1 veb2" ]] && vebctl veb0 ports | grep -q "port eth1"; then
  pass "after kill -9: exactly the acknowledged bridges and port (${bridges})"
else
  fail "after kill -9: exactly the acknowledged bridges and port" "${bridges}"
fi
check_cleanup "vebd stopped, tmpfs unmounted"
finish "${T}/vebd.log"
