#!/usr/bin/env bash
# The benchmarks' veb switch: starts vebd with bridge veb0 holding the given
# interfaces as ports (from a startup config), in the current network
# namespace. Usage: run_veb.sh BACKEND[-rt] IFNAME...
#   BACKEND af_packet, af_xdp: a userspace-engine bridge, ports of that backend;
#           kernel: a kernel-engine bridge ("engine":"ENGINE_KERNEL"), ports
#           without a backend (BACKEND_TC_BPF is the only one it has).
# A "-rt" suffix runs the workers under SCHED_FIFO (--worker_priority=10).
# VEB_BENCH_EXTRA: optional JSON file merged into the config: "portSettings"
# (applied to every port), "rules" and "spanPorts" (AgentConfig fields, their
# backend filled in here), e.g. veth_bench.py --scenario rules.
set -euo pipefail
backend="$1"
shift
extra=""
if [[ "${backend}" == *-rt ]]; then
  backend="${backend%-rt}"
  extra="--worker_priority=10"
fi
# VEB_BENCH_DIR: a directory the caller made and removes (veth_bench.py does).
dir="${VEB_BENCH_DIR:-$(mktemp -d /tmp/veb-bench.XXXXXX)}"
engine="ENGINE_USERSPACE"
port_backend="\"backend\":\"BACKEND_${backend^^}\","
if [[ "${backend}" == kernel ]]; then
  engine="ENGINE_KERNEL"
  port_backend=""
  # `ip netns exec` gives us a private mount namespace with a fresh /sys:
  # the engine's BPF objects may want bpffs there (only this namespace sees it).
  if [[ -d /sys/fs/bpf ]] && ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
  fi
  # Pins of its own: never adopt (or disturb) another vebd's kernel bridge.
  extra="${extra} --bpf_pin_root=/sys/fs/bpf/veb-bench-$$"
fi
ports=""
for p in "$@"; do
  ports="${ports:+${ports},}{\"bridge\":\"veb0\",\"name\":\"${p}\",${port_backend}\"settings\":{}}"
done
echo "{\"bridges\":[{\"name\":\"veb0\",\"engine\":\"${engine}\",\"settings\":{\"maxAddresses\":1000}}],\"ports\":[${ports}]}" >"${dir}/config.json"
if [[ -n "${VEB_BENCH_EXTRA:-}" ]]; then
  python3 - "${dir}/config.json" "${VEB_BENCH_EXTRA}" "${port_backend}" <<'PY'
import json, sys
path, extra_path, port_backend = sys.argv[1:]
cfg, extra = json.load(open(path)), json.load(open(extra_path))
for p in cfg["ports"]:
    p["settings"] = extra.get("portSettings", {})
cfg["rules"] = extra.get("rules", [])
cfg["spanPorts"] = [dict(s, **({"backend": cfg["ports"][0]["backend"]} if port_backend else {}))
                    for s in extra.get("spanPorts", [])]
json.dump(cfg, open(path, "w"))
PY
fi
exec "$(dirname "${BASH_SOURCE[0]}")/../../bazel-bin/server/vebd" --listen="unix://${dir}/vebd.sock" \
  --config="${dir}/config.json" --state_file= --metrics_address= ${extra} ${VEB_BENCH_ARGS:-}
