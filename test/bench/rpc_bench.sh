#!/usr/bin/env bash
# API latency at scale and restore time of vebd, with in-memory ports
# (vebd --fake_interfaces; no root needed, nothing touches the kernel).
#   A. REPS times: a fresh vebd (state file on, as in production: every
#      mutation is persisted before the RPC returns), then rpc_load
#      --mode=latency: AddPort of PORTS ports (each timed), ADDRS static
#      addresses, ITER x ListAddresses (first page, default page size) and
#      ITER x ListPorts; the bridge is deleted with force.
#   B. Restore: a vebd persists a bridge with PORTS ports (and, second row, also
#      ADDRS static addresses) to its state file and is stopped (SIGTERM); then
#      REPS times a vebd is started on that state file and the wall time from
#      exec until `vebctl health` answers SERVING and `vebctl lat0 ports` lists
#      PORTS ports is measured (vebd restores before it listens, so SERVING
#      already means restored; the poll loop adds up to one vebctl round trip).
#      Baseline row: the same start with an empty state file.
# Prints one markdown table: per repetition and the median.
# Knobs: PORTS (1000), ADDRS (1000), ITER (200), REPS (3).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
RPC_LOAD="${RPC_LOAD:-bazel-bin/test/load/rpc_load}"
PORTS="${PORTS:-1000}"
ADDRS="${ADDRS:-1000}"
ITER="${ITER:-200}"
REPS="${REPS:-3}"
T="$(mktemp -d /tmp/veb-rpcbench.XXXXXX)"

require_executables "bazel build //server:vebd //cli:vebctl //test/load:rpc_load" \
  "${VEBD}" "${VEBCTL_BIN}" "${RPC_LOAD}" "${PY}"
cleanup() { stop_vebd; }
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

FAKE="$("${PY}" -c 'import sys; print(",".join("fk%d" % i for i in range(int(sys.argv[1]))))' "${PORTS}")"
launch_vebd() {  # launch_vebd DIR: vebd on DIR/vebd.sock, state DIR/state.json (no wait)
  "${VEBD}" --listen="unix://$1/vebd.sock" --state_file="$1/state.json" --metrics_address= \
    --workers=1 --fake_interfaces="${FAKE}" >>"$1/vebd.log" 2>&1 &
  vebd_pid=$!
}
# wait_serving DIR SECONDS -> 0 once health answers SERVING (polled every 10 ms:
# the restore times below are measured with it)
wait_serving() { wait_healthy "$1/vebd.sock" "$2" 0.01; }
ports_listed() { timeout 30 "${VEBCTL_BIN}" --socket="$1/vebd.sock" lat0 ports 2>/dev/null | grep -c '^[[:space:]]*port '; }
# field FILE RPC KEY -> the value of KEY (p50_ms, p99_ms) on RPC's latency line
field() { awk -v r="$2" -v k="$3" '$1 == "latency" && $2 == r {for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2)}' "$1"; }

declare -A R  # R[metric,rep]
failed=0

# ---- A. latency at PORTS ports -----------------------------------------------------------
for ((r = 1; r <= REPS; r++)); do
  d="${T}/lat${r}"
  mkdir -p "${d}"
  launch_vebd "${d}"
  if ! wait_serving "${d}" 30; then echo "rep ${r}: vebd did not start: $(tail -3 "${d}/vebd.log")" >&2; failed=1; stop_vebd; continue; fi
  t0="$(now)"
  timeout 1200 "${RPC_LOAD}" --socket="${d}/vebd.sock" --mode=latency --bridge=lat0 --ports="${PORTS}" \
    --port_prefix=fk --addresses="${ADDRS}" --iterations="${ITER}" >"${d}/out.txt" 2>&1
  rc=$?
  R[run_s,${r}]="$(( $(elapsed_ms "${t0}" "$(now)") / 1000 ))"
  stop_vebd
  if [[ ${rc} -ne 0 ]]; then echo "rep ${r}: rpc_load failed (exit ${rc}): $(grep -E 'error|mismatch' "${d}/out.txt" | head -5)" >&2; failed=1; fi
  for rpc in AddPort AddStaticAddress ListAddresses ListPorts; do
    for k in p50_ms p99_ms; do R[${rpc}_${k},${r}]="$(field "${d}/out.txt" "${rpc}" "${k}")"; done
  done
  echo "rep ${r}: $(grep -E '^latency:' "${d}/out.txt" | head -1)" >&2
done

# ---- B. restore time ---------------------------------------------------------------------
restore_rows=()
# Baseline first: the same vebd with an empty state file (no bridge).
for variant in empty ports addrs; do
  d="${T}/restore-${variant}"
  mkdir -p "${d}"
  n_addr=0 want="${PORTS}"
  [[ "${variant}" == addrs ]] && n_addr="${ADDRS}"
  [[ "${variant}" == empty ]] && want=0
  if [[ "${variant}" != empty ]]; then
    launch_vebd "${d}"
    if ! wait_serving "${d}" 30; then echo "restore ${variant}: vebd did not start" >&2; failed=1; stop_vebd; continue; fi
    timeout 1200 "${RPC_LOAD}" --socket="${d}/vebd.sock" --mode=latency --bridge=lat0 --ports="${PORTS}" \
      --port_prefix=fk --addresses="${n_addr}" --iterations=1 --keep_bridge >"${d}/populate.txt" 2>&1 ||
      { echo "restore ${variant}: populating failed: $(tail -3 "${d}/populate.txt")" >&2; failed=1; }
    stop_vebd
    in_state="$("${PY}" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(len(j.get("ports", [])), len(j.get("staticAddresses", [])))' "${d}/state.json" 2>&1)"
    size_kb="$(( $(stat -c %s "${d}/state.json") / 1024 ))"
    echo "restore ${variant}: state file ${size_kb} KiB, ports/static addresses in it: ${in_state}" >&2
  fi
  key="restore_${variant}"
  restore_rows+=("${key}")
  for ((r = 1; r <= REPS; r++)); do
    [[ "${variant}" == empty ]] && rm -f "${d}/state.json"
    t0="$(now)"
    launch_vebd "${d}"
    if ! wait_serving "${d}" 120; then echo "restore ${variant} rep ${r}: not SERVING: $(tail -3 "${d}/vebd.log")" >&2; failed=1; stop_vebd; continue; fi
    t1="$(now)"
    R[${key}_health,${r}]="$(elapsed_ms "${t0}" "${t1}")"
    if [[ "${want}" -gt 0 ]]; then
      n=0
      for ((i = 0; i < 600; i++)); do n="$(ports_listed "${d}")"; [[ "${n}" -eq "${want}" ]] && break; sleep 0.01; done
      R[${key},${r}]="$(elapsed_ms "${t0}" "$(now)")"
      [[ "${n}" -eq "${want}" ]] || { echo "restore ${variant} rep ${r}: ${n} ports listed, expected ${want}" >&2; failed=1; R[${key},${r}]="-"; }
    fi
    grep -q 'restore:' "${d}/vebd.log" && { echo "restore ${variant} rep ${r}: $(grep 'restore:' "${d}/vebd.log" | head -3)" >&2; failed=1; }
    stop_vebd
  done
  if [[ "${variant}" == empty ]]; then
    R[${key}_desc]="baseline: empty state"
  else
    R[${key}_desc]="restore ${PORTS} ports$([[ ${n_addr} -gt 0 ]] && echo " + ${n_addr} static addresses") (${size_kb} KiB state)"
  fi
done

# ---- table -------------------------------------------------------------------------------
median() { "${PY}" -c '
import statistics, sys
v = [float(x) for x in sys.argv[1:] if x not in ("", "-")]
m = statistics.median(v) if v else None
ints = all(x.lstrip("-").isdigit() for x in sys.argv[1:] if x not in ("", "-"))
print("-" if m is None else "%.0f" % m if ints or m >= 100 else "%.2f" % m)' "$@"; }
row() {  # row LABEL KEY
  local vals=() r
  for ((r = 1; r <= REPS; r++)); do vals+=("${R[$2,${r}]:--}"); done
  printf '| %s |' "$1"
  for v in "${vals[@]}"; do printf ' %s |' "${v}"; done
  printf ' **%s** |\n' "$(median "${vals[@]}")"
}
echo
echo "vebd API at ${PORTS} ports ($(nproc) CPUs, --workers=1, state file on $(df --output=fstype "${T}" | tail -1 | tr -d ' '), ${REPS} repetitions)"
echo
printf '| metric |'; for ((r = 1; r <= REPS; r++)); do printf ' rep %d |' "${r}"; done; printf ' median |\n'
printf '|---|'; for ((r = 1; r <= REPS; r++)); do printf -- '---:|'; done; printf -- '---:|\n'
row "AddPort p50 (ms), ${PORTS} adds" AddPort_p50_ms
row "AddPort p99 (ms)" AddPort_p99_ms
row "ListAddresses p50 (ms), ${ADDRS} entries, default page" ListAddresses_p50_ms
row "ListAddresses p99 (ms)" ListAddresses_p99_ms
row "ListPorts p50 (ms), ${PORTS} ports" ListPorts_p50_ms
row "ListPorts p99 (ms)" ListPorts_p99_ms
row "AddStaticAddress p50 (ms)" AddStaticAddress_p50_ms
row "AddStaticAddress p99 (ms)" AddStaticAddress_p99_ms
row "latency run wall time (s)" run_s
for key in "${restore_rows[@]}"; do
  row "${R[${key}_desc]}: exec -> SERVING (ms)" "${key}_health"
  [[ "${key}" == restore_empty ]] || row "${R[${key}_desc]}: exec -> SERVING and ${PORTS} ports listed (ms)" "${key}"
done
exit "${failed}"
