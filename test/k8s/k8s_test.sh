#!/usr/bin/env bash
# veb under a real kubelet, the user's path end to end (root), on the one-node
# cluster of test/k8s/cluster.sh (Kubernetes built from the release's sources,
# etcd, containerd, no registry):
#   - a bad value (malformed subnet, unknown engine) fails at `helm install`
#     with the schema's message and nothing reaches the cluster;
#   - `helm install veb charts/veb` (README "Install on Kubernetes") with the
#     node image imported into containerd: the DaemonSet turns Ready through its
#     probes, its init container installs the plugin and conflist, the node
#     turns Ready (the runtime reports the network ready);
#   - many nodes' plumbing, on this one node: its conflist's IPAM range and
#     gateway come from the Node's podCIDR (inside the chart's cluster subnet
#     10.244.0.0/16), a pod's MTU is the node interface's minus the VXLAN
#     overhead, the tunnel vport exists on the agent with that MTU and the
#     node IP as its source, and the headless Service lists the node IP (there
#     is no cluster DNS here: the tunnel simply has no peers);
#   - a Deployment of 3 pods: addresses from veb (kubectl, vebctl vports in the
#     agent pod, each pod's MAC in the agent's table), pod-to-pod pings, a
#     ClusterIP Service (kube-proxy, iptables) answering another pod, a hostPort
#     through the chained portmap plugin;
#   - a real Prometheus discovers the agent with kubernetes_sd_configs (role
#     pod) against this API server and scrapes veb_addresses = the agent's table;
#   - `kubectl rollout restart daemonset/veb` while two pods ping each other
#     every 10 ms: no application pod restarted or recreated, the longest ping
#     gap and the loss reported (and bounded: VEB_K8S_MAX_GAP_MS), the tunnel
#     device kept (not made again);
#   - deleting the Deployment leaves no vport, veth or IP allocation; `helm
#     uninstall` leaves the node's CNI directories as they were before install;
#   - `cluster.sh down` leaves the machine as it was.
# ENGINE=kernel|userspace selects the chart's forwarding engine (kernel is the
# chart's default and needs no --set); VEB_K8S_HELM_ARGS adds helm arguments. Every wait is bounded; the EXIT trap stops
# what the test started and takes the cluster down.
# Prints "PASS: ..." / "FAIL: ..." per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
ENGINE="${ENGINE:-kernel}"
IMAGE="${IMAGE:-localhost/veb:0.1.0}"
CL=test/k8s/cluster.sh
D="${VEB_K8S_DIR:-/var/lib/veb-k8s}"
export VEB_K8S_DIR="${D}"
T="$(mktemp -d /tmp/veb-k8s.XXXXXX)"
NS=kube-system
SOCKET=/run/veb/vebd.sock
BR=veb0
NODE_IP=10.250.0.1
HOSTPORT=18080
PROM_PORT=19090
# Debian's Prometheus has no Kubernetes discovery: scripts/install-go-tools.sh builds one
# (scripts/test.sh builds it in the background before this step; run alone, the
# test installs it here when missing.)
if [[ -z "${PROMETHEUS:-}" ]]; then
  bash scripts/install-go-tools.sh prometheus || { echo "FAIL: Prometheus built (scripts/install-go-tools.sh prometheus)"; exit 1; }
fi
PROMETHEUS="${PROMETHEUS:-${VEB_TOOLS_BIN:-/opt/veb/tools/bin}/prometheus}"
# The rollout restart: the goal is a ping gap < 1 s with the userspace engine
# and no loss with the kernel engine. With the userspace engine nothing forwards
# between the old agent's exit and the new one's start, which is the
# DaemonSet's pod replacement (the old pod must be gone before the new one is
# created): the check bounds that gap at VEB_K8S_MAX_GAP_MS (5 s) and reports
# it against the goal. With the kernel engine the check is the goal: no loss.
GOAL_GAP_MS=1000
MAX_GAP_MS="${VEB_K8S_MAX_GAP_MS:-5000}"
CHECK_ONE_LINE=1
prom_pid=""
pingers=()

kubectl() { bash "${CL}" kubectl "$@"; }
helm() { bash "${CL}" helm "$@"; }
innode() { bash "${CL}" node "$@"; }
agent() {  # agent CMD...: in the veb agent pod's vebd container
  kubectl -n "${NS}" exec ds/veb -c vebd -- "$@"
}
agent_vebctl() { agent /opt/veb/bin/vebctl --socket="${SOCKET}" "$@"; }
helm_args=()
[[ "${ENGINE}" == kernel ]] || helm_args+=(--set "bridge.engine=${ENGINE}")
# shellcheck disable=SC2206  # word splitting wanted
helm_args+=(${VEB_K8S_HELM_ARGS:-})
TUNNEL=vx0

cleanup() {
  local p
  for p in "${pingers[@]}"; do kill "${p}" 2>/dev/null; done
  [[ -n "${prom_pid}" ]] && kill "${prom_pid}" 2>/dev/null
  [[ -n "${prom_pid}" ]] && wait "${prom_pid}" 2>/dev/null
  prom_pid=""
  # The kernel engine's pins outlive the agent by design; this test's go.
  [[ "${bpf_veb_before}" == yes ]] || rm -rf /sys/fs/bpf/veb 2>/dev/null
  timeout 300 bash "${CL}" down >>"${T}/down.log" 2>&1
}
trap 'cleanup; rm -rf "${T}"' EXIT
trap 'exit 1' INT TERM HUP
fatal() { fail "$@"; finish; }
pyjson() {  # pyjson EXPR: evaluates EXPR with j = the JSON on stdin
  "${PY}" -c "import json, sys; j = json.load(sys.stdin); print($1)"
}
wait_until() {  # wait_until SECONDS CMD...: 0 once CMD succeeds (polled every second)
  local end=$((SECONDS + $1))
  shift
  while ((SECONDS < end)); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  "$@" >/dev/null 2>&1
}
snapshot_cni() {  # the node's CNI directories: names, modes and contents
  innode sh -c 'cd /etc/cni/net.d && find . -printf "conf %p %m\n" -type f -exec sha256sum {} +;
                cd /opt/cni/bin && find . -printf "bin %p %m\n" -type f -exec sha256sum {} +' | sort
}

# ---- the cluster -----------------------------------------------------------------------
require_root
# A cluster a killed run left behind.
[[ -e "${D}" || -e /run/netns/vk8s ]] && timeout 300 bash "${CL}" down >/dev/null 2>&1
sysctl_before="$(cat /proc/sys/vm/overcommit_memory /proc/sys/kernel/panic /proc/sys/kernel/panic_on_oops)"
bpf_before="$(ls -a /sys/fs/bpf 2>&1)"
bpf_veb_before="$([[ -e /sys/fs/bpf/veb ]] && echo yes || echo no)"
# The machine's own paths a node would use (the cluster's mount namespace covers them).
# (Not /var/lib/cni or /run/containerd: other tests use those.)
HOST_PATHS=(/etc/cni/net.d /opt/cni /run/veb /var/lib/veb /var/lib/kubelet /var/log/containers
  /usr/libexec/kubernetes /root/.kube)
host_paths() { ls -la --time-style=+ "${HOST_PATHS[@]}" 2>&1; }
host_before="$(host_paths)"
start=${SECONDS}
if timeout 3600 bash "${CL}" up >"${T}/up.log" 2>&1; then
  built="$(grep -o 'built in [0-9]* s' "${T}/up.log")"
  pass "cluster up: $(tail -1 "${T}/up.log" | sed 's/^cluster.sh: up: //') in $((SECONDS - start)) s (Kubernetes binaries ${built:-cached})"
else
  fatal "cluster up" "$(tail -5 "${T}/up.log")"
fi
ver="$(kubectl version -o json 2>/dev/null | pyjson 'j["serverVersion"]["gitVersion"]')"
node_json="$(kubectl get node vk8s-node -o json)"
check "the node registered (kubelet ${ver:-?}) with podCIDR 10.244.0.0/24" test \
  "$(pyjson 'j["spec"].get("podCIDR")' <<<"${node_json}")" == 10.244.0.0/24
ready_msg() { kubectl get node vk8s-node -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}'; }
msg="$(ready_msg)"
if [[ "${msg}" == False*network* ]]; then
  pass "before install: the node is not Ready, its runtime's network is not ready"
else
  fail "before install: the node is not Ready, its runtime's network is not ready" "${msg}"
fi
cni_before="$(snapshot_cni)"
if grep -q '^conf ./' <<<"${cni_before}"; then
  fail "before install: the node's CNI directory holds no conflist" "${cni_before}"
else
  pass "before install: the node's CNI directory holds no conflist"
fi

# ---- bad values fail at helm install, before anything reaches the node ------------------------
bad_value() {  # bad_value WHAT EXPECTED_MESSAGE_REGEX --set ...
  local what="$1" want="$2" out
  shift 2
  out="$(helm install veb charts/veb -n "${NS}" "$@" 2>&1)"
  if [[ $? != 0 ]] && grep -qE "${want}" <<<"${out}"; then
    pass "helm install with ${what} fails with the schema's message ($(grep -oE "${want}" <<<"${out}" | head -1))"
  else
    fail "helm install with ${what} fails with the schema's message" "${out}"
  fi
}
bad_value "a malformed subnet (10.244.0.0/33)" 'cni.ipam.subnet.*(does not match pattern|format)' \
  --set cni.ipam.subnet=10.244.0.0/33
bad_value "an unknown engine (turbo)" "engine.*(must be one of|value must be one of)" --set bridge.engine=turbo
check "after the refused installs: no release, no DaemonSet, no conflist" sh -c "
  [ -z \"\$(bash ${CL} helm list -n ${NS} -q)\" ] &&
  ! bash ${CL} kubectl -n ${NS} get ds veb >/dev/null 2>&1 &&
  [ \"\$(bash ${CL} node sh -c 'ls /etc/cni/net.d')\" = '' ]"

# ---- helm install ------------------------------------------------------------------------
if ! buildah inspect --type image "${IMAGE}" >/dev/null 2>&1; then
  bash image/build.sh "${IMAGE}" >"${T}/image-build.log" 2>&1 || fatal "node image built" "$(tail -5 "${T}/image-build.log")"
fi
if timeout 300 buildah push -q "${IMAGE}" "docker-archive:${T}/veb.tar:${IMAGE}" >"${T}/push.log" 2>&1 &&
    bash "${CL}" import "${T}/veb.tar" >>"${T}/push.log" 2>&1; then
  pass "node image ${IMAGE} imported into the node's containerd"
else
  fatal "node image ${IMAGE} imported into the node's containerd" "$(tail -3 "${T}/push.log")"
fi
rm -f "${T}/veb.tar"
start=${SECONDS}
if helm install veb charts/veb -n "${NS}" "${helm_args[@]}" >"${T}/helm.log" 2>&1; then
  pass "helm install veb charts/veb -n ${NS}${helm_args[*]:+ ${helm_args[*]}} ($((SECONDS - start)) s)"
else
  fail "helm install veb charts/veb -n ${NS}${helm_args[*]:+ ${helm_args[*]}}" "$(tail -3 "${T}/helm.log")"
  kubectl -n "${NS}" describe pods -l app.kubernetes.io/name=veb 2>&1 | tail -30
  finish
fi
# (helm's --wait would count a DaemonSet ready within its maxUnavailable, 1.)
check "kubectl rollout status daemonset/veb" kubectl -n "${NS}" rollout status daemonset/veb --timeout=180s
ds="$(kubectl -n "${NS}" get ds veb -o json)"
check "the DaemonSet is Ready on the node through its probes (1/1)" test \
  "$(pyjson '"%s/%s" % (j["status"].get("numberReady"), j["status"].get("desiredNumberScheduled"))' <<<"${ds}")" == 1/1
agent_pod="$(kubectl -n "${NS}" get pods -l app.kubernetes.io/name=veb -o jsonpath='{.items[0].metadata.name}')"
init="$(kubectl -n "${NS}" get pod "${agent_pod}" -o json | pyjson '[(s["name"], s["state"].get("terminated", {}).get("exitCode")) for s in j["status"]["initContainerStatuses"]]')"
if [[ "${ENGINE}" == kernel ]]; then
  check "the init containers (mount-bpffs, install-cni) ran and exited 0" test "${init}" == "[('mount-bpffs', 0), ('install-cni', 0)]"
  check "bpffs on the node's /sys/fs/bpf holds the bridge's pins" sh -c "bash ${CL} node ls /sys/fs/bpf/veb/${BR} | grep -q ."
else
  check "the init container install-cni ran and exited 0" test "${init}" == "[('install-cni', 0)]"
fi
check "install-cni put the plugin and the conflist in the node's CNI directories" innode sh -c \
  'test -x /opt/cni/bin/veb && test -f /etc/cni/net.d/10-veb.conflist'
if wait_until 60 sh -c "[ \"\$(bash ${CL} kubectl get node vk8s-node -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True ]"; then
  pass "the node turns Ready: the runtime reports the network ready"
else
  fail "the node turns Ready: the runtime reports the network ready" "$(ready_msg)"
fi

# ---- many nodes: the node's range, MTU, tunnel vport and peers Service -------------------------
node_conf="$(innode cat /etc/cni/net.d/10-veb.conflist 2>&1)"
got_range="$(pyjson 'j["plugins"][0]["ipam"]["ranges"]' <<<"${node_conf}" 2>&1)"
want_range="[[{'subnet': '10.244.0.0/16', 'rangeStart': '10.244.0.1', 'rangeEnd': '10.244.0.254', 'gateway': '10.244.0.1'}]]"
check "the node's conflist: range 10.244.0.1-10.244.0.254, gateway 10.244.0.1 (its Node's podCIDR 10.244.0.0/24) in the cluster subnet 10.244.0.0/16" \
  test "${got_range}" == "${want_range}"
# The node's interface holding its IP (status.hostIP) and its MTU.
underlay="$(innode ip -o -4 addr show | awk -v ip="${NODE_IP}" '$4 ~ "^"ip"/" {print $2; exit}')"
# (ip, not /sys: the node's mount namespace shows the machine's sysfs.)
link_field() {  # link_field DEV FIELD: "mtu" -> its MTU, "index" -> its ifindex (node's netns)
  innode ip -o link show "$1" 2>/dev/null |
    awk -v f="$2" '{ if (f == "index") { sub(":", "", $1); print $1 } else for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }'
}
underlay_mtu="$(link_field "${underlay:-none}" mtu)"
want_mtu=$((${underlay_mtu:-0} - 50))
check "the node's conflist: mtu ${want_mtu} (auto: ${underlay:-?} MTU ${underlay_mtu:-?} - 50)" \
  test "$(pyjson 'j["plugins"][0]["mtu"]' <<<"${node_conf}" 2>&1)" == "${want_mtu}"
tunnel_json="$(agent_vebctl -o json "${BR}" vports 2>&1 |
  pyjson 'json.dumps([v for v in j.get("vports", []) if v.get("kind") == "VPORT_KIND_TUNNEL"])' 2>&1)"
echo "tunnel vports: ${tunnel_json}"
check "vebctl ${BR} vports (kubectl exec into the agent pod): tunnel vport ${TUNNEL}, VNI 1, local ${NODE_IP}, underlay ${underlay:-?}, MTU ${want_mtu}" \
  "${PY}" - "${tunnel_json}" "${TUNNEL}" "${NODE_IP}" "${underlay}" "${want_mtu}" <<'EOP'
import json, sys
vs = json.loads(sys.argv[1])
assert len(vs) == 1, vs
v = vs[0]
assert v["name"] == sys.argv[2], v
t = v["tunnel"]
assert t["vni"] == 1 and t["local"] == sys.argv[3] and t["underlay"] == sys.argv[4], t
assert v["mtu"] == int(sys.argv[5]), v
EOP
check "the tunnel's VXLAN device ${TUNNEL} on the node: MTU ${want_mtu}, VNI 1, dstport 4789, local ${NODE_IP}" sh -c \
  "bash ${CL} node ip -d link show ${TUNNEL} | tr '\n' ' ' | grep -E 'mtu ${want_mtu} .*vxlan id 1 .*local ${NODE_IP} .*dstport 4789'"
tunnel_ifindex="$(link_field "${TUNNEL}" index)"
peers_ips() {
  kubectl -n "${NS}" get endpointslices -l kubernetes.io/service-name=veb-peers -o json |
    pyjson '" ".join(sorted(a for s in j["items"] for e in s.get("endpoints") or [] for a in e["addresses"]))'
}
if wait_until 30 sh -c "[ \"\$(bash ${CL} kubectl -n ${NS} get endpointslices -l kubernetes.io/service-name=veb-peers -o jsonpath='{.items[*].endpoints[*].addresses[*]}')\" = ${NODE_IP} ]"; then
  pass "the headless Service veb-peers (clusterIP None) lists the node IP ${NODE_IP} ($(kubectl -n "${NS}" get svc veb-peers -o jsonpath='{.spec.clusterIP} {.spec.ports[0].protocol}/{.spec.ports[0].port}'))"
else
  fail "the headless Service veb-peers lists the node IP ${NODE_IP}" "$(peers_ips 2>&1)"
fi

# vebd took the chart's --tunnel_peers (the Service's name): its peer source for
# the tunnel reports through metrics; with no cluster DNS here it resolves to
# nothing and the tunnel has no peers.
peer_metrics() { innode curl -s --max-time 3 "http://${NODE_IP}:9464/metrics" | grep -E "^veb_tunnel_peer(s|_refresh_failures_total)\{vport=\"${TUNNEL}\"\}"; }
peers_zero() { peer_metrics | grep -q "^veb_tunnel_peers{vport=\"${TUNNEL}\"} 0\$"; }
ds_args="$(kubectl -n "${NS}" get ds veb -o jsonpath='{.spec.template.spec.containers[0].args}')"
if [[ "${ds_args}" == *"--tunnel_peers=${TUNNEL}=dns:veb-peers.${NS}.svc.cluster.local"* ]] &&
    wait_until 30 peers_zero; then
  pass "vebd runs the peer source the chart gave it (--tunnel_peers=${TUNNEL}=dns:veb-peers.${NS}.svc.cluster.local): $(peer_metrics | tr '\n' ' ')"
else
  fail "vebd runs the peer source the chart gave it (--tunnel_peers=${TUNNEL}=dns:veb-peers...)" "${ds_args}; $(peer_metrics 2>&1 | tr '\n' ' ')"
fi

# ---- a Deployment of 3 pods --------------------------------------------------------------
cat >"${T}/web.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: localhost/vk8s/busybox:1
        imagePullPolicy: Never
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: ClusterIP
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostport, namespace: default, labels: {app: hostport}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: localhost/vk8s/busybox:1
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo hostport-pod > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080, hostPort: 18080}]
EOF
check "kubectl apply: Deployment web (3 replicas), Service web, pod hostport" kubectl apply -f "${T}/web.yaml"
check "Deployment web rolled out (3/3 ready)" kubectl rollout status deploy/web --timeout=180s
check "pod hostport is Ready" kubectl wait --for=condition=Ready pod/hostport --timeout=120s
pods_json="$(kubectl get pods -l app=web -o json)"
mapfile -t web_pods < <(pyjson '"\n".join(p["metadata"]["name"] for p in j["items"])' <<<"${pods_json}")
mapfile -t web_ips < <(pyjson '"\n".join(p["status"].get("podIP", "-") for p in j["items"])' <<<"${pods_json}")
wide="$(kubectl get pods -o wide)"
echo "${wide}"
if [[ ${#web_ips[@]} == 3 ]] && [[ "$(printf '%s\n' "${web_ips[@]}" | grep -c '^10\.244\.0\.[0-9]*$')" == 3 ]] &&
    [[ "$(printf '%s\n' "${web_ips[@]}" | sort -u | wc -l)" == 3 ]]; then
  pass "kubectl get pods -o wide: 3 pods, 3 distinct addresses in 10.244.0.0/24 (${web_ips[*]})"
else
  fail "kubectl get pods -o wide: 3 pods, 3 distinct addresses in 10.244.0.0/24" "${web_ips[*]}"
fi
hp_ip="$(kubectl get pod hostport -o jsonpath='{.status.podIP}')"
pod_mtu="$(kubectl exec "${web_pods[0]}" -- cat /sys/class/net/eth0/mtu 2>&1)"
check "pod ${web_pods[0]}'s eth0 MTU is ${want_mtu} (the node's ${underlay:-?} MTU ${underlay_mtu:-?} - 50; got ${pod_mtu})" test "${pod_mtu}" == "${want_mtu}"
pod_route="$(kubectl exec "${web_pods[0]}" -- ip route 2>&1 | tr '\n' ' ')"
check "pod ${web_pods[0]}: on-link 10.244.0.0/16, default via its node's gateway 10.244.0.1 (${pod_route})" sh -c \
  "echo '${pod_route}' | grep -q 'default via 10.244.0.1' && echo '${pod_route}' | grep -q '10.244.0.0/16 dev eth0'"
# The agent's view: one pod vport per sandbox, and each pod's MAC in the table.
vports="$(agent_vebctl -o json "${BR}" vports 2>&1)"
echo "${vports}" >"${T}/vports.json"
n_vports="$(pyjson 'sum(1 for v in j.get("vports", []) if v.get("kind") == "VPORT_KIND_POD")' <"${T}/vports.json" 2>&1)"
check "vebctl ${BR} vports (kubectl exec into the agent pod): 4 pod vports, one per pod" test "${n_vports}" == 4
agent_vebctl "${BR}" vports
addr="$(agent_vebctl -o json "${BR}" addr 2>&1)"
macs=()
for p in "${web_pods[@]}" hostport; do
  macs+=("$(kubectl exec "${p}" -- cat /sys/class/net/eth0/address 2>/dev/null)")
done
check "each pod's MAC (from its eth0) is in the agent's address table (${macs[*]})" "${PY}" - "${addr}" "${macs[@]}" <<'EOP'
import json, sys
table = json.loads(sys.argv[1])
text = json.dumps(table).lower()
missing = [m for m in sys.argv[2:] if not m or m.lower() not in text]
assert not missing, ("missing", missing)
EOP
for i in 0 1 2; do
  j=$(((i + 1) % 3))
  check "pod ${web_pods[i]} pings pod ${web_pods[j]} (${web_ips[j]})" \
    kubectl exec "${web_pods[i]}" -- ping -c 3 -W 2 "${web_ips[j]}"
done
svc_ip="$(kubectl get svc web -o jsonpath='{.spec.clusterIP}')"
answers=""
ok=1
for i in $(seq 1 12); do
  a="$(kubectl exec hostport -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 ${svc_ip} 80 | tail -1" 2>&1)"
  [[ "${a}" == web-* ]] || { ok=0; answers+=" [${a}]"; continue; }
  answers+=" ${a}"
done
backends="$(tr ' ' '\n' <<<"${answers}" | grep -c '^web-' | tr -d ' ')"
distinct="$(tr ' ' '\n' <<<"${answers}" | grep '^web-' | sort -u | wc -l)"
if [[ ${ok} == 1 && ${backends} == 12 ]]; then
  pass "ClusterIP Service web (${svc_ip}:80, kube-proxy iptables) answers pod hostport 12/12 times, from ${distinct} distinct backends"
else
  fail "ClusterIP Service web (${svc_ip}:80) answers pod hostport 12/12 times" "${answers}"
fi
check "kube-proxy's iptables rules for the Service are in the node's namespace" innode sh -c \
  "iptables-save -t nat | grep -q 'KUBE-SVC-.*default/web'"
got="$(innode curl -s --max-time 5 "http://${NODE_IP}:${HOSTPORT}/" 2>&1)"
if [[ "${got}" == hostport-pod ]]; then
  pass "hostPort ${HOSTPORT} on the node reaches pod hostport (${hp_ip}) through the chained portmap plugin"
else
  fail "hostPort ${HOSTPORT} on the node reaches pod hostport through the chained portmap plugin" "${got}"
fi
check "portmap's DNAT rule for the hostPort is in the node's namespace" innode sh -c \
  "iptables-save -t nat | grep -q 'CNI-DN.*--dport ${HOSTPORT}'"

# ---- Prometheus: Kubernetes service discovery against this API server ----------------------------
cat >"${T}/prom-rbac.yaml" <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: vk8s-prometheus}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: vk8s-prometheus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: vk8s-prometheus}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: vk8s-prometheus}
EOF
check "RBAC: Prometheus's user may list and watch pods" kubectl apply -f "${T}/prom-rbac.yaml"
cat >"${T}/prometheus.yml" <<EOF
global: {scrape_interval: 2s, scrape_timeout: 1s}
scrape_configs:
- job_name: kubernetes-pods
  kubernetes_sd_configs:
  - role: pod
    api_server: https://${NODE_IP}:6443
    tls_config: {ca_file: ${D}/pki/ca.crt, cert_file: ${D}/pki/prometheus.crt, key_file: ${D}/pki/prometheus.key}
  relabel_configs:
  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: "true"}
  - source_labels: [__meta_kubernetes_pod_ip, __meta_kubernetes_pod_annotation_prometheus_io_port]
    regex: (.+);(\\d+)
    replacement: \$1:\$2
    target_label: __address__
  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path], regex: (.+), target_label: __metrics_path__}
  - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
  - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
EOF
innode "${PROMETHEUS}" --config.file="${T}/prometheus.yml" --storage.tsdb.path="${T}/prom" \
  --web.listen-address="127.0.0.1:${PROM_PORT}" --log.level=warn >"${T}/prometheus.log" 2>&1 &
prom_pid=$!
prom_query() {  # prom_query QUERY: the first sample's value, or nothing
  innode curl -sf --max-time 3 --get --data-urlencode "query=$1" "http://127.0.0.1:${PROM_PORT}/api/v1/query" |
    pyjson '(j["data"]["result"][0]["value"][1] if j["data"]["result"] else "")' 2>/dev/null
}
prom_up() { [[ "$(prom_query "up{job=\"kubernetes-pods\",namespace=\"${NS}\",pod=\"${agent_pod}\"}")" == 1 ]]; }
if wait_until 60 prom_up; then
  pass "Prometheus discovers the agent pod ${agent_pod} through kubernetes_sd_configs and scrapes it (up = 1)"
else
  fail "Prometheus discovers and scrapes the agent pod ${agent_pod}" "$(innode curl -s --max-time 3 "http://127.0.0.1:${PROM_PORT}/api/v1/targets" | head -c 400; tail -c 300 "${T}/prometheus.log")"
fi
table_count() { agent_vebctl -o json "${BR}" addr | pyjson 'len(j.get("addresses", j.get("entries", [])))'; }
prom_addr_matches() {
  local p a
  p="$(prom_query "veb_addresses{bridge=\"${BR}\",pod=\"${agent_pod}\"}")"
  a="$(table_count)"
  echo "prometheus ${p:-none} table ${a:-none}"
  [[ -n "${p}" && "${p}" == "${a}" && "${a}" -ge 4 ]]
}
if wait_until 30 prom_addr_matches; then
  pass "Prometheus: veb_addresses{bridge=\"${BR}\"} = the agent's table ($(prom_addr_matches | tail -1)), the 4 pods' MACs counted"
else
  fail "Prometheus: veb_addresses = the agent's table, >= 4 (the pods' MACs)" "$(prom_addr_matches; echo "${addr}" | head -c 300)"
fi

# ---- rollout restart of the agent while pods ping every 10 ms -----------------------------------
pod_state() {  # name uid restarts containerIDs, one line per application pod
  kubectl get pods -o json | pyjson '"\n".join(" ".join([p["metadata"]["name"], p["metadata"]["uid"]] + [str(c.get("restartCount")) + ":" + c.get("containerID", "") for c in p["status"].get("containerStatuses", [])]) for p in sorted(j["items"], key=lambda p: p["metadata"]["name"]))'
}
state_before="$(pod_state)"
sandboxes_before="$(bash "${CL}" crictl pods -q --namespace default | sort)"
netns_of() {  # netns_of POD: the pod's network namespace path on the node
  local id
  id="$(bash "${CL}" crictl pods -q --name "^$1\$" --namespace default | head -1)"
  bash "${CL}" crictl inspectp "${id}" |
    pyjson '[n["path"] for n in j["info"]["runtimeSpec"]["linux"]["namespaces"] if n["type"] == "network"][0]'
}
# iputils ping in the pods' own network namespaces: -D time-stamps each reply.
PING_SECONDS=60
for i in 0 1; do
  j=$((i + 1))
  nsp="$(netns_of "${web_pods[i]}")"
  innode nsenter --net="${nsp}" ping -D -n -i 0.01 -W 1 -w "${PING_SECONDS}" "${web_ips[j]}" >"${T}/ping${i}.log" 2>&1 &
  pingers+=($!)
done
sleep 3
old_uid="$(kubectl -n "${NS}" get pod "${agent_pod}" -o jsonpath='{.metadata.uid}')"
r_start=${SECONDS}
check "kubectl rollout restart daemonset/veb" kubectl -n "${NS}" rollout restart daemonset/veb
check "the restarted DaemonSet rolls out (1/1 ready)" kubectl -n "${NS}" rollout status daemonset/veb --timeout=180s
r_secs=$((SECONDS - r_start))
new_pod="$(kubectl -n "${NS}" get pods -l app.kubernetes.io/name=veb -o jsonpath='{.items[0].metadata.name} {.items[0].metadata.uid}')"
check "a new agent pod replaced the old one (${agent_pod} -> ${new_pod% *})" test "${new_pod#* }" != "${old_uid}"
agent_pod="${new_pod% *}"
sleep 3
for p in "${pingers[@]}"; do kill -INT "${p}" 2>/dev/null; wait "${p}" 2>/dev/null; done
pingers=()
for i in 0 1; do
  read -r sent got lost gap < <("${PY}" - "${T}/ping${i}.log" <<'EOP'
import re, sys
times, seqs = [], []
for line in open(sys.argv[1]):
    m = re.match(r"\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)", line)
    if m:
        times.append(float(m.group(1))); seqs.append(int(m.group(2)))
m = re.search(r"(\d+) packets transmitted", open(sys.argv[1]).read())
sent = int(m.group(1)) if m else 0
# Lost: requests between the first and the last answered one that got no answer
# (the one in flight when ping is stopped is not a loss).
lost = (max(seqs) - min(seqs) + 1 - len(set(seqs))) if seqs else -1
gap = max((b - a for a, b in zip(times, times[1:])), default=-1)
print(sent, len(times), lost, round(gap * 1000))
EOP
)
  echo "ping ${web_pods[i]} -> ${web_pods[i + 1]}: ${sent} sent, ${got} received, ${lost} lost, longest gap ${gap} ms (rollout ${r_secs} s)"
  what="ping every 10 ms across the agent's rollout restart (${ENGINE} engine)"
  if [[ "${sent}" -lt 1000 || "${got}" -le 0 || "${gap}" -lt 0 ]]; then
    fail "${what}" "${sent} sent, ${got} received: no measurement"
  elif [[ "${ENGINE}" == kernel ]]; then
    if [[ "${lost}" == 0 ]]; then pass "${what}: no loss (longest gap ${gap} ms)"
    else fail "${what}: no loss" "${lost} of ${sent} lost, longest gap ${gap} ms"; fi
  elif [[ "${gap}" -le "${MAX_GAP_MS}" ]]; then
    goal="met"; [[ "${gap}" -lt "${GOAL_GAP_MS}" ]] || goal="NOT met"
    pass "${what}: longest gap ${gap} ms, ${lost} of ${sent} lost (bound ${MAX_GAP_MS} ms; goal < ${GOAL_GAP_MS} ms ${goal})"
  else
    fail "${what}: longest gap <= ${MAX_GAP_MS} ms" "${lost} of ${sent} lost, longest gap ${gap} ms"
  fi
done
state_after="$(pod_state)"
sandboxes_after="$(bash "${CL}" crictl pods -q --namespace default | sort)"
if [[ "${state_after}" == "${state_before}" && "${sandboxes_after}" == "${sandboxes_before}" ]]; then
  pass "no application pod restarted or was recreated (same UIDs, containers, restart counts, sandboxes)"
else
  fail "no application pod restarted or was recreated" "before: ${state_before} after: ${state_after}"
fi
n_vports="$(agent_vebctl -o json "${BR}" vports | pyjson 'sum(1 for v in j.get("vports", []) if v.get("kind") == "VPORT_KIND_POD")' 2>&1)"
check "after the restart the new agent has the 4 pod vports back" test "${n_vports}" == 4
check "after the restart the tunnel vport ${TUNNEL} is the same device (ifindex ${tunnel_ifindex}), kept rather than made again" \
  sh -c "[ -n '${tunnel_ifindex}' ] && [ \"\$(bash ${CL} node ip -o link show ${TUNNEL} | cut -d: -f1)\" = '${tunnel_ifindex}' ]"
check "after the restart pod ${web_pods[2]} pings pod ${web_pods[0]}" \
  kubectl exec "${web_pods[2]}" -- ping -c 3 -W 2 "${web_ips[0]}"

# ---- delete the workloads: nothing left behind --------------------------------------------------
check "kubectl delete the Deployment, the Service and pod hostport" \
  kubectl delete -f "${T}/web.yaml" --wait=true --timeout=120s
wait_until 60 sh -c "[ -z \"\$(bash ${CL} kubectl get pods -o name)\" ]"
left_vports() { agent_vebctl -o json "${BR}" vports | pyjson 'sum(1 for v in j.get("vports", []) if v.get("kind") == "VPORT_KIND_POD")'; }
check "no pod vport left in the agent" test "$(left_vports 2>&1)" == 0
# The bridge's host vport stays (a TAP named like the bridge, or with the
# kernel engine the veth pair BR / BR-h).
check "no pod veth left on the node" sh -c "[ -z \"\$(bash ${CL} node ip -br link | awk '\$1 !~ /^(lo|vk8s0|vk8s0p|${BR}|${BR}-h|${TUNNEL})(@|\$)/')\" ]"
check "no IP allocation left (host-local, /var/lib/cni/networks/veb)" sh -c \
  "[ -z \"\$(bash ${CL} node find /var/lib/cni/networks/veb -type f ! -name lock ! -name 'last_reserved_ip*' 2>/dev/null)\" ]"
check "no pod sandbox of the Deployment left ready in containerd" sh -c \
  "[ -z \"\$(bash ${CL} crictl pods -q --namespace default --state ready)\" ]"

# ---- helm uninstall ------------------------------------------------------------------------
check "helm uninstall veb --wait" helm uninstall veb -n "${NS}" --wait --timeout 2m
wait_until 60 sh -c "[ -z \"\$(bash ${CL} kubectl -n ${NS} get pods -l app.kubernetes.io/name=veb -o name)\" ]"
cni_after="$(snapshot_cni)"
if [[ "${cni_after}" == "${cni_before}" ]]; then
  pass "after helm uninstall the node's CNI directories are as they were before install"
else
  fail "after helm uninstall the node's CNI directories are as they were before install" \
    "$(diff <(echo "${cni_before}") <(echo "${cni_after}") | tr '\n' ' ')"
fi

if [[ "${ENGINE}" == kernel ]]; then
  # README "Uninstall": the kernel bridge stays pinned (running pods would
  # keep forwarding); once no pod uses it, its directory is removed by hand.
  check "after uninstall the kernel bridge stays pinned on the node (chart README, Uninstall)" \
    bash "${CL}" node test -e "/sys/fs/bpf/veb/${BR}/prog"
  if [[ "${bpf_veb_before}" == no ]]; then
    check "its pins removed as the chart README says" bash "${CL}" node rm -rf /sys/fs/bpf/veb
  fi
fi

# ---- down: the machine as it was -------------------------------------------------------------
kill "${prom_pid}" 2>/dev/null; wait "${prom_pid}" 2>/dev/null; prom_pid=""
if timeout 300 bash "${CL}" down >"${T}/down.log" 2>&1; then pass "cluster.sh down"; else fail "cluster.sh down" "$(tail -3 "${T}/down.log")"; fi
procs="$(for p in /proc/[0-9]*; do tr '\0' ' ' 2>/dev/null <"${p}/cmdline" | grep -qF -- "${D}/" && echo "${p#/proc/}"; done)"
check "down: no process of the cluster left" test -z "${procs}"
check "down: no network namespace vk8s, no mount under ${D}, no ${D}" sh -c \
  "! ip netns list | grep -qw vk8s && ! grep -qF ' ${D}' /proc/self/mounts && [ ! -e '${D}' ]"
check "down: no kubepods cgroup left" sh -c "! ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null | grep -q ."
bpf_after="$(ls -a /sys/fs/bpf 2>&1)"
if [[ "${bpf_after}" == "${bpf_before}" ]]; then
  pass "down: the machine's /sys/fs/bpf as it was"
else
  fail "down: the machine's /sys/fs/bpf as it was" "$(diff <(echo "${bpf_before}") <(echo "${bpf_after}") | tr '\n' ' ')"
fi
check "down: the machine's kernel tunables were never changed" test \
  "$(cat /proc/sys/vm/overcommit_memory /proc/sys/kernel/panic /proc/sys/kernel/panic_on_oops)" == "${sysctl_before}"
host_after="$(host_paths)"
if [[ "${host_after}" == "${host_before}" ]]; then
  pass "down: the machine's own ${HOST_PATHS[*]} as they were"
else
  fail "down: the machine's own CNI, kubelet and runtime paths as they were" \
    "$(diff <(echo "${host_before}") <(echo "${host_after}") | tr '\n' ' ')"
fi
finish
