#!/usr/bin/env bash
# The kubelet path (root): containerd (Debian's) with its CRI plugin, driven by
# the real crictl, runs pod sandboxes on a CNI conflist whose plugin is veb
# (host-local IPAM, isGateway) in front of a real vebd:
#   two `crictl runp` pods get addresses on the bridge, the agent records both
#   pod vports with the sandbox IDs as container IDs, the pods ping each other
#   and the gateway through the switch; `crictl stopp` + `rmp` leave no pod
#   vport, no host-local allocation, no veth and no pod netns behind.
# The pause image is a static C program built here with gcc, packaged with
# buildah (its own storage in the temp dir) and imported with ctr: no registry.
# vebd and containerd run in a network namespace of their own, entered with
# nsenter (`ip netns exec` remounts /sys, and runc then fails), so the
# bridge's host vport (veb0) and the pods' veths never meet another test's.
# Everything else lives in one temp dir (containerd root/state/config, runc
# root, CNI bin and conf dirs, IPAM data, vebd socket and state). Every wait is
# bounded; the EXIT trap stops the pods and kills containerd, its shims and
# vebd, unmounts what is left under the temp dir, deletes the namespaces and
# removes the temp dir.
# Prints "PASS: ..." / "FAIL: ..." per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
CRICTL="${TOOLS}/crictl"
CONTAINERD="${CONTAINERD:-/usr/bin/containerd}"
CTR="${CTR:-/usr/bin/ctr}"
T="$(mktemp -d /tmp/veb-cri.XXXXXX)"
SOCK="${T}/vebd.sock"
CSOCK="${T}/containerd.sock"
NS="vcri$$"                      # the namespace vebd and containerd run in
NSPATH="/var/run/netns/${NS}"
BR=veb0
NET=vebnet
SUBNET=10.88.7 GW=10.88.7.1
IMAGE=localhost/veb-pause:test
containerd_pid=""
pods=()        # sandbox IDs crictl returned
pod_netns=()   # their network namespaces (paths)
run_containerd_dir=0  # 1 when /run/containerd did not exist before (the shims' sockets go there)
[[ -e /run/containerd ]] || run_containerd_dir=1
CHECK_ONE_LINE=0  # a failed check shows its output as it was, line breaks kept

crictl() {
  timeout 60 "${CRICTL}" --config "${T}/crictl.yaml" --runtime-endpoint "unix://${CSOCK}" \
    --image-endpoint "unix://${CSOCK}" --timeout=30s "$@"
}
ctr() { timeout 60 "${CTR}" --address "${CSOCK}" --namespace k8s.io "$@"; }
# Processes started for this run that outlive containerd: the runc shims (their
# command line names this run's containerd socket) and their children (pause).
our_shims() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"${p}/cmdline" | grep -qF -- "-address ${CSOCK}" && echo "${p#/proc/}"
  done
}

# Stops everything this run started and undoes what it set up, except the temp
# dir. Idempotent: runs before the final checks and again from the EXIT trap.
teardown() {
  local id p c m
  if [[ -n "${containerd_pid}" ]] && kill -0 "${containerd_pid}" 2>/dev/null; then
    for id in $(crictl pods -q 2>/dev/null); do
      crictl stopp "${id}" >/dev/null 2>&1
      crictl rmp -f "${id}" >/dev/null 2>&1
    done
  fi
  stop "${containerd_pid}" 5
  containerd_pid=""
  for p in $(our_shims); do
    for c in $(pgrep -P "${p}"); do kill -KILL "${c}" 2>/dev/null; done
    kill -KILL "${p}" 2>/dev/null
  done
  # A killed shim leaves its socket in /run/containerd/s; its address is in the task's state dir.
  for p in "${T}"/containerd/state/io.containerd.runtime.v2.task/*/*/address; do
    [[ -f "${p}" ]] && m="$(cat "${p}")" && [[ "${m}" == unix:///run/containerd/s/* ]] && rm -f "${m#unix://}"
  done
  stop "${vebd_pid}" 5
  vebd_pid=""
  # Mounts left under the temp dir (rootfs, shm), deepest first.
  for m in $(awk -v t="${T}/" 'index($2, t) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount -l "${m}" 2>/dev/null
  done
  for p in "${pod_netns[@]}"; do
    [[ -e "${p}" ]] && ip netns del "$(basename "${p}")" 2>/dev/null
  done
  if [[ -e "${NSPATH}" ]]; then
    ip -n "${NS}" link show "${BR}" >/dev/null 2>&1 && ip -n "${NS}" link del "${BR}"
    ip netns del "${NS}"
  fi
  for id in "${pods[@]}"; do rm -f "/var/lib/cni/results/${NET}-${id}-"*; done
  if [[ ${run_containerd_dir} == 1 ]]; then
    rmdir /run/containerd/s /run/containerd 2>/dev/null
  fi
}
trap 'teardown; rm -rf "${T}"' EXIT
trap 'exit 1' INT TERM HUP
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\n' "${CSOCK}" "${CSOCK}" >"${T}/crictl.yaml"

fatal() { fail "$@"; finish; }

# ---- binaries ------------------------------------------------------------------------
if [[ ! -x "${VEBD}" || ! -x "${VEBCTL_BIN}" || ! -x "${PLUGIN}" ]]; then
  nice -n 10 bazel build //server:vebd //cni-plugin:veb //cli:vebctl >"${T}/build.log" 2>&1 ||
    fatal "bazel build of vebd, veb and vebctl" "$(tail -5 "${T}/build.log")"
fi
for b in "${CRICTL}" "${CONTAINERD}" "${CTR}" /usr/bin/containerd-shim-runc-v2 buildah gcc runc; do
  command -v "${b}" >/dev/null || fatal "tool present: ${b}" "not found (scripts/setup.sh installs it)"
done

# ---- the pause image: static C, buildah, no registry -----------------------------------------
mkdir -p "${T}/pause" "${T}/buildah/root" "${T}/buildah/run" "${T}/tmp"
build_image() {
  local b=(env TMPDIR="${T}/tmp" timeout 60 buildah --root "${T}/buildah/root"
    --runroot "${T}/buildah/run" --storage-driver vfs)
  local c
  timeout 60 gcc -static -Os -s -o "${T}/pause/pause" test/pause/pause.c &&
    c="$("${b[@]}" from scratch)" &&
    "${b[@]}" copy "${c}" "${T}/pause/pause" /pause &&
    "${b[@]}" config --entrypoint '["/pause"]' --cmd '' "${c}" &&
    "${b[@]}" commit -q "${c}" "${IMAGE}" &&
    "${b[@]}" rm "${c}" &&
    "${b[@]}" push -q "${IMAGE}" "docker-archive:${T}/pause.tar:${IMAGE}"
}
if build_image >"${T}/image.log" 2>&1; then
  pass "pause image built (gcc -static, buildah)"
else
  fatal "pause image built (gcc -static, buildah)" "$(tail -5 "${T}/image.log")"
fi

# ---- vebd in the test's namespace -------------------------------------------------------
ip netns add "${NS}" || fatal "netns ${NS} created"
ip -n "${NS}" link set lo up  # the CRI streaming server listens on 127.0.0.1
# nsenter execs the program: $! is vebd's (containerd's below) own pid.
nsenter --net="${NSPATH}" "${VEBD}" --listen="unix://${SOCK}" --state_file="${T}/state.json" \
  --metrics_address= --workers=1 >"${T}/vebd.log" 2>&1 &
vebd_pid=$!
wait_healthy "${SOCK}" 10 && pass "vebd starts" || fatal "vebd starts" "$(tail -5 "${T}/vebd.log")"
check "bridge ${BR} created" vebctl create "${BR}"

# ---- CNI: veb (+ host-local) as containerd will find it ------------------------------------
mkdir -p "${T}/cni/bin" "${T}/cni/conf" "${T}/ipam"
cp "${PLUGIN}" "${T}/cni/bin/veb"
for p in host-local loopback portmap tuning; do cp "${TOOLS}/cni/${p}" "${T}/cni/bin/"; done
conflist() {  # conflist CNI_VERSION: (re)writes the only conflist
  # containerd 1.6 reloads on write events (a truncated file is an error in its
  # log) and ignores files created or renamed into the dir: overwrite in place
  # without truncating (1.0.0 and 1.1.0 have the same length).
  cat >"${T}/conflist.tmp" <<EOF
{"cniVersion": "$1", "name": "${NET}", "plugins": [
  {"type": "veb", "bridge": "${BR}", "socket": "${SOCK}", "isGateway": true,
   "ipam": {"type": "host-local", "subnet": "${SUBNET}.0/24", "gateway": "${GW}",
            "dataDir": "${T}/ipam"}}
]}
EOF
  dd if="${T}/conflist.tmp" of="${T}/cni/conf/10-${NET}.conflist" conv=notrunc status=none
  truncate -s "$(stat -c %s "${T}/conflist.tmp")" "${T}/cni/conf/10-${NET}.conflist"
}
conflist 1.1.0

# ---- containerd ------------------------------------------------------------------------
# overlayfs when the temp dir's filesystem takes it, else native.
snapshotter=native
mkdir -p "${T}/ovl/l" "${T}/ovl/u" "${T}/ovl/w" "${T}/ovl/m"
if mount -t overlay overlay -o "lowerdir=${T}/ovl/l,upperdir=${T}/ovl/u,workdir=${T}/ovl/w" \
    "${T}/ovl/m" 2>/dev/null; then
  umount "${T}/ovl/m"
  snapshotter=overlayfs
fi
rm -rf "${T}/ovl"
mkdir -p "${T}/containerd/root" "${T}/containerd/state" "${T}/runc" "${T}/opt"
cat >"${T}/containerd/config.toml" <<EOF
version = 2
root = "${T}/containerd/root"
state = "${T}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${CSOCK}"
[ttrpc]
  address = "${CSOCK}.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${T}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "${snapshotter}"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "${T}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${T}/cni/bin"
    conf_dir = "${T}/cni/conf"
    max_conf_num = 1
EOF
nsenter --net="${NSPATH}" "${CONTAINERD}" --config "${T}/containerd/config.toml" >"${T}/containerd.log" 2>&1 &
containerd_pid=$!
ok=0
for _ in $(seq 1 150); do  # 30 s
  kill -0 "${containerd_pid}" 2>/dev/null || break
  crictl --timeout=2s info >"${T}/info.json" 2>/dev/null && { ok=1; break; }
  sleep 0.2
done
[[ ${ok} == 1 ]] && pass "containerd's CRI answers crictl info (snapshotter ${snapshotter})" ||
  fatal "containerd's CRI answers crictl info" "$(grep -i 'error\|fatal' "${T}/containerd.log" | tail -5)"
# The CRI plugin loads the CNI config asynchronously: NetworkReady, with our conflist's version.
cni_loaded() {  # cni_loaded CNI_VERSION
  crictl --timeout=2s info 2>/dev/null | "${PY}" -c '
import json, sys
j = json.load(sys.stdin)
c = {x["type"]: x["status"] for x in j["status"]["conditions"]}
v = [n["Config"]["CNIVersion"] for n in j["cniconfig"]["Networks"] if n["Config"]["Name"] == sys.argv[1]]
sys.exit(0 if c["NetworkReady"] and v == [sys.argv[2]] else 1)' "${NET}" "$1"
}
wait_cni() {  # wait_cni CNI_VERSION: up to 10 s
  for _ in $(seq 1 50); do cni_loaded "$1" && return 0; sleep 0.2; done
  return 1
}
if wait_cni 1.1.0; then
  pass "CRI reports NetworkReady with the veb conflist"
else
  fail "CRI reports NetworkReady with the veb conflist" "$(crictl info 2>&1 | grep -i -A3 'networkready\|lastCNILoadStatus' | head -8)"
fi

out="$(ctr images import --snapshotter "${snapshotter}" "${T}/pause.tar" 2>&1)"
if [[ $? == 0 ]]; then pass "pause image imported with ctr"; else fatal "pause image imported with ctr" "${out}"; fi
ok=0
for _ in $(seq 1 50); do  # the CRI's image store follows containerd's events
  crictl --timeout=2s inspecti "${IMAGE}" >/dev/null 2>&1 && { ok=1; break; }
  sleep 0.2
done
[[ ${ok} == 1 ]] && pass "crictl sees the pause image" || fatal "crictl sees the pause image" "$(crictl images 2>&1)"

# ---- what a pod leaves behind ---------------------------------------------------------------
vports_json() { vebctl -o json "${BR}" vports; }
count_pod_vports() {
  "${PY}" -c '
import json, sys
print(sum(1 for v in json.loads(sys.argv[1]).get("vports", []) if v.get("kind") == "VPORT_KIND_POD"))' \
    "$(vports_json)" 2>&1
}
cni_netns() { ip netns list | awk '$1 ~ /^cni-/ {print $1}' | sort; }
netns_before="$(cni_netns)"
leak_check() {  # leak_check WHAT [NETNS PATH...]
  local what="$1"; shift
  local left n allocs veths p ns=""
  left="$(crictl pods -q 2>&1)"
  [[ -z "${left}" ]] && pass "${what}: crictl lists no pod" || fail "${what}: crictl lists no pod" "${left}"
  n="$(count_pod_vports)"
  [[ "${n}" == 0 ]] && pass "${what}: no pod vport left" || fail "${what}: no pod vport left" "$(vebctl "${BR}" vports 2>&1)"
  allocs="$(find "${T}/ipam" -type f ! -name lock ! -name 'last_reserved_ip*' 2>&1)"
  [[ -z "${allocs}" ]] && pass "${what}: no host-local allocation left" || fail "${what}: no host-local allocation left" "${allocs}"
  veths="$(ip -n "${NS}" -br link | awk '$1 ~ /^vp/ {print $1}')"
  [[ -z "${veths}" ]] && pass "${what}: no veth left" || fail "${what}: no veth left" "${veths}"
  for p in "$@"; do [[ -e "${p}" ]] && ns+=" ${p}"; done
  ns+=" $(comm -13 <(echo "${netns_before}") <(cni_netns) | tr '\n' ' ')"
  [[ -z "${ns// /}" ]] && pass "${what}: no pod netns left" || fail "${what}: no pod netns left" "${ns}"
}
pod_json() {  # pod_json NAME: writes a PodSandboxConfig, prints its path
  cat >"${T}/$1.json" <<EOP
{"metadata": {"name": "$1", "namespace": "veb-cri-test", "uid": "veb-cri-$$-$1", "attempt": 0},
 "hostname": "$1", "log_directory": "${T}/logs/$1", "linux": {}}
EOP
  echo "${T}/$1.json"
}

# ---- cniVersion 1.1.0 as the runtime sees it -----------------------------------------------
# containerd releases whose libcni predates CNI 1.1.0 refuse the plugin's 1.1.0
# result ("unsupported CNI result version"); the failed sandbox must still leave
# nothing behind (containerd calls DEL). The pods below then use a 1.0.0 conflist.
cver="$("${CONTAINERD}" --version | awk '{print $3}')"
if id="$(crictl runp "$(pod_json veb-probe)" 2>"${T}/err")" && [[ -n "${id}" ]]; then
  pass "crictl runp with a cniVersion 1.1.0 conflist (containerd ${cver})"
  check "crictl stopp the 1.1.0 pod" crictl stopp "${id}"
  check "crictl rmp the 1.1.0 pod" crictl rmp "${id}"
  leak_check "1.1.0 pod removed"
elif grep -q 'unsupported CNI result version \\\?"1\.1\.0' "${T}/err"; then
  pass "cniVersion 1.1.0: containerd ${cver} cannot read 1.1.0 results, runp fails cleanly (pods below use 1.0.0)"
  leak_check "the refused 1.1.0 sandbox"
  conflist 1.0.0
  wait_cni 1.0.0 && pass "CRI reloads the conflist as cniVersion 1.0.0" ||
    fatal "CRI reloads the conflist as cniVersion 1.0.0" \
      "$(crictl info 2>&1 | grep -i 'lastCNILoad'; grep -i cni "${T}/containerd.log" | tail -3)"
else
  fail "crictl runp with a cniVersion 1.1.0 conflist (containerd ${cver})" "$(tail -c 600 "${T}/err")"
  conflist 1.0.0
  wait_cni 1.0.0
fi

# ---- two pods --------------------------------------------------------------------------
pod_ips=()
for i in 1 2; do
  if id="$(crictl runp "$(pod_json "veb-pod-${i}")" 2>"${T}/err")" && [[ -n "${id}" ]]; then
    pods+=("${id}")
    pass "crictl runp pod ${i}"
  else
    fatal "crictl runp pod ${i}" "$(tail -c 600 "${T}/err"; grep -i 'level=error' "${T}/containerd.log" | tail -3)"
  fi
  crictl inspectp "${id}" >"${T}/inspect${i}.json" 2>"${T}/err"
  read -r state ip netns < <("${PY}" -c '
import json, sys
j = json.load(open(sys.argv[1]))
ns = [n.get("path", "") for n in j["info"]["runtimeSpec"]["linux"]["namespaces"] if n["type"] == "network"]
print(j["status"]["state"], j["status"]["network"]["ip"] or "-", ns[0] if ns and ns[0] else "-")' \
    "${T}/inspect${i}.json" 2>>"${T}/err")
  pod_netns+=("${netns:--}")
  pod_ips+=("${ip:--}")
  if [[ "${state:-}" == SANDBOX_READY && "${ip:-}" == "${SUBNET}".* && -e "${netns:-/nonexistent}" ]]; then
    pass "pod ${i} is ready with ${ip} on ${BR} (netns ${netns})"
  else
    fail "pod ${i} is ready with an address on ${BR}" "state ${state:-?} ip ${ip:-?} netns ${netns:-?} $(cat "${T}/err")"
  fi
  got="$(nsenter --net="${netns}" ip -4 -o addr show dev eth0 2>&1 | awk '{print $4}')"
  if [[ "${got}" == "${ip}/24" ]]; then
    pass "pod ${i}'s eth0 carries ${ip}/24"
  else
    fail "pod ${i}'s eth0 carries ${ip}/24" "${got}"
  fi
done

check "the agent has two pod vports, one per sandbox (container ID, netns)" "${PY}" - \
  "$(vports_json)" "${pods[0]}" "${pods[1]}" "${pod_netns[0]}" "${pod_netns[1]}" <<'EOP'
import json, sys
v = json.loads(sys.argv[1]).get("vports", [])
att = lambda p: p["pod"]["attachment"]
pods = sorted((att(p).get("container_id", att(p).get("containerId")), p["pod"]["netns"])
              for p in v if p.get("kind") == "VPORT_KIND_POD")
want = sorted([(sys.argv[2], sys.argv[4]), (sys.argv[3], sys.argv[5])])
assert pods == want, (pods, want)
EOP
check "host vport ${BR} holds the gateway ${GW}" sh -c \
  "ip -n '${NS}' -4 -o addr show dev '${BR}' | grep -qF ' ${GW}/24 '"
check "pod 1 pings pod 2 (${pod_ips[1]}) through the switch" \
  nsenter --net="${pod_netns[0]}" ping -c 3 -i 0.2 -W 1 "${pod_ips[1]}"
check "pod 2 pings pod 1 (${pod_ips[0]}) through the switch" \
  nsenter --net="${pod_netns[1]}" ping -c 3 -i 0.2 -W 1 "${pod_ips[0]}"
for i in 1 2; do
  check "pod ${i} pings the gateway ${GW}" nsenter --net="${pod_netns[$((i - 1))]}" ping -c 2 -i 0.2 -W 1 "${GW}"
done

# ---- stop and remove: nothing left -----------------------------------------------------------
for i in 1 2; do
  check "crictl stopp pod ${i}" crictl stopp "${pods[$((i - 1))]}"
  check "crictl rmp pod ${i}" crictl rmp "${pods[$((i - 1))]}"
done
leak_check "both pods removed" "${pod_netns[@]}"
errs="$(grep 'level=error' "${T}/containerd.log" | grep -i 'cni\|network' | grep -v 'unsupported CNI result version' | head -3)"
[[ -z "${errs}" ]] && pass "containerd logged no other CNI error" || fail "containerd logged no other CNI error" "${errs}"

# ---- teardown leaves nothing --------------------------------------------------------------
teardown
procs=""
for p in /proc/[0-9]*; do
  tr '\0' ' ' 2>/dev/null <"${p}/cmdline" | grep -qF -- "${T}/" && procs+=" ${p#/proc/}"
done
[[ -z "${procs}" ]] && pass "teardown: no process of this run left (containerd, shims, vebd)" ||
  fail "teardown: no process of this run left (containerd, shims, vebd)" "$(ps -o pid=,args= -p "${procs// /,}" 2>&1 | cut -c1-120)"
m="$(awk -v t="${T}/" 'index($2, t) == 1 {print $2}' /proc/self/mounts)"
[[ -z "${m}" ]] && pass "teardown: nothing mounted under ${T}" || fail "teardown: nothing mounted under ${T}" "${m}"
left="$(ip netns list | awk -v ns="${NS}" '$1 == ns {print $1}'; comm -13 <(echo "${netns_before}") <(cni_netns))"
[[ -z "${left}" ]] && pass "teardown: no network namespace of this run left" || fail "teardown: no network namespace of this run left" "${left}"

finish
