#!/usr/bin/env bash
# Chart tests: helm lint --strict and helm template for the default values and
# for ci/all-values.yaml (every option); the rendered manifests are strictly
# decoded into the Kubernetes API types (test/k8s-validate), and the rendered
# content is checked where a mistake would not be a type error.
# Needs helm (scripts/install-go-tools.sh) and Go. Prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
HELM="${TOOLS}/helm"
CHART=charts/veb
OUT="$(mktemp -d /tmp/veb-chart.XXXXXX)"
trap 'rm -rf "${OUT}"' EXIT
# check WHAT COMMAND... (this script's own, in place of test/lib.sh's): the FAIL
# line, then all of the output.
check() { local what="$1"; shift; if "$@" >"${OUT}/last.log" 2>&1; then pass "${what}"; else fail "${what}"; cat "${OUT}/last.log"; fi; }

(cd test/k8s-validate && go build -o "${OUT}/k8s-validate" .) || { fail "build k8s-validate"; finish; }

check "helm lint --strict (defaults)" "${HELM}" lint --strict "${CHART}"
check "helm lint --strict (all values)" "${HELM}" lint --strict "${CHART}" -f "${CHART}/ci/all-values.yaml"
check "helm template (defaults)" sh -c "'${HELM}' template veb '${CHART}' -n kube-system > '${OUT}/default.yaml'"
check "helm template (all values)" sh -c "'${HELM}' template veb '${CHART}' -n kube-system -f '${CHART}/ci/all-values.yaml' > '${OUT}/all.yaml'"
check "k8s-validate (defaults)" sh -c "'${OUT}/k8s-validate' < '${OUT}/default.yaml'"
check "k8s-validate (all values)" sh -c "'${OUT}/k8s-validate' < '${OUT}/all.yaml'"
check "helm template (userspace engine)" sh -c "'${HELM}' template veb '${CHART}' -n kube-system --set bridge.engine=userspace > '${OUT}/userspace.yaml'"
check "k8s-validate (userspace engine)" sh -c "'${OUT}/k8s-validate' < '${OUT}/userspace.yaml'"
# A field the API does not know must be rejected (the validator is strict).
sed 's/hostNetwork: true/hostNetwork: true\n      hostNetworkk: true/' "${OUT}/default.yaml" >"${OUT}/broken.yaml"
check "k8s-validate rejects unknown fields" sh -c "! '${OUT}/k8s-validate' < '${OUT}/broken.yaml'"

# Content: kinds present per values, the conflist, the privileges.
/usr/bin/python3 - "${OUT}/default.yaml" "${OUT}/all.yaml" "${OUT}/userspace.yaml" <<'PY' && pass "rendered content" || fail "rendered content"
import json, sys, yaml
def docs(p):
    return [d for d in yaml.safe_load_all(open(p)) if d]
def kinds(ds):
    return sorted(d["kind"] for d in ds)
d, a = docs(sys.argv[1]), docs(sys.argv[2])
assert kinds(d) == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "Role", "RoleBinding", "Service", "ServiceAccount"], kinds(d)
# all-values: IPAM override (no Node read: no ClusterRole), the metrics Service and the peers Service
assert kinds(a) == ["ConfigMap", "ConfigMap", "DaemonSet", "Role", "RoleBinding", "Service", "Service", "ServiceAccount", "ServiceMonitor"], kinds(a)
# cni.uninstall (default): the Role may only get this DaemonSet; vebd's preStop
# runs uninstall-cni with the record install-cni writes; the pod has a token.
role = next(x for x in d if x["kind"] == "Role")
assert role["rules"] == [{"apiGroups": ["apps"], "resources": ["daemonsets"], "resourceNames": ["veb"], "verbs": ["get"]}], role
dpod = next(x for x in d if x["kind"] == "DaemonSet")["spec"]["template"]["spec"]
assert dpod["automountServiceAccountToken"] is True
assert dpod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] == ["/opt/veb/bin/uninstall-cni"]
env = lambda c: {e["name"]: e.get("value") for e in c.get("env", [])}
assert env(dpod["containers"][0])["VEB_CNI_RECORD"] == env(next(i for i in dpod["initContainers"] if i["name"] == "install-cni"))["VEB_CNI_RECORD"] == "/var/lib/veb/cni-installed"
def ds(ds_):
    return next(x for x in ds_ if x["kind"] == "DaemonSet")
base_caps = ["IPC_LOCK", "NET_ADMIN", "NET_RAW", "SYS_ADMIN"]
for docs_, conf_name, chain, caps, first_init in (
        # defaults: the kernel engine adds BPF and PERFMON (and only it), and
        # mounts bpffs on the host first
        (d, "10-veb.conflist", ["veb", "portmap"], sorted(base_caps + ["BPF", "PERFMON"]), "mount-bpffs"),
        # all-values (userspace engine): workerPriority 10 adds SYS_NICE (and only then)
        (a, "05-veb.conflist", ["veb", "portmap", "tuning", "bandwidth"], sorted(base_caps + ["SYS_NICE"]),
         "install-cni")):
    cm = next(x for x in docs_ if x["kind"] == "ConfigMap" and conf_name in x["data"])
    conf = json.loads(cm["data"][conf_name])
    assert [p["type"] for p in conf["plugins"]] == chain, conf
    json.loads(cm["data"]["vebd.json"])
    pod = ds(docs_)["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    c = pod["containers"][0]
    sc = c["securityContext"]
    assert sc["privileged"] is False
    assert sorted(sc["capabilities"]["add"]) == caps, sc["capabilities"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/var/run/netns"]["mountPropagation"] == "HostToContainer"
    assert "exec" in c["readinessProbe"] and "exec" in c["livenessProbe"]
    assert pod["initContainers"][0]["name"] == first_init, pod["initContainers"][0]["name"]
    assert any(i["name"] == "install-cni" for i in pod["initContainers"])
dconf = json.loads(next(x for x in d if x["kind"] == "ConfigMap" and "10-veb.conflist" in x["data"])["data"]["10-veb.conflist"])
dveb = dconf["plugins"][0]
# Pods cannot spy or spoof, by default.
assert dveb["pinMac"] is True and dveb["arpGuard"] is True and dveb["maxAddresses"] == 4, dveb
conf = json.loads(next(x for x in a if x["kind"] == "ConfigMap" and "05-veb.conflist" in x["data"])["data"]["05-veb.conflist"])
veb = conf["plugins"][0]
assert conf["cniVersion"] == "1.0.0" and conf["name"] == "podnet"
assert veb["bridge"] == "veb1" and veb["portType"] == "tap" and veb["mtu"] == 9000
assert veb["vlan"] == 20 and veb["trunk"] == [30, 40] and veb["protected"] == [1, 2]
assert veb["pinMac"] is False and veb["arpGuard"] is False and veb["maxAddresses"] == 16
assert veb["ipam"]["type"] == "static" and veb["socket"] == "/run/veb/api.sock"
pa = ds(a)["spec"]["template"]
assert "prometheus.io/scrape" not in pa["metadata"]["annotations"]
assert pa["metadata"]["labels"]["tier"] == "network"
assert "--metrics_address=0.0.0.0:19464" in pa["spec"]["containers"][0]["args"]
assert "--worker_priority=10" in pa["spec"]["containers"][0]["args"]
assert not any(x.startswith("--worker_priority") for x in ds(d)["spec"]["template"]["spec"]["containers"][0]["args"])
assert "prometheus.io/scrape" in ds(d)["spec"]["template"]["metadata"]["annotations"]
dash = next(x for x in a if x["kind"] == "ConfigMap" and "veb.json" in x.get("data", {}))
panels = json.loads(dash["data"]["veb.json"])["panels"]
exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
# The kernel engine (the default): vebd creates the bridge with it, the
# conflist asks for it, bpffs is mounted on the host by a privileged init step
# and vebd gets BPF + PERFMON -- and none of that with the userspace engine.
kpod = ds(d)["spec"]["template"]["spec"]
kc = kpod["containers"][0]
kinit = kpod["initContainers"][0]
assert kinit["securityContext"]["privileged"] is True, kinit
assert kinit["volumeMounts"][0]["mountPropagation"] == "Bidirectional"
assert {m["mountPath"]: m for m in kc["volumeMounts"]}["/sys/fs/bpf"]["mountPropagation"] == "HostToContainer"
kcm = next(x for x in d if x["kind"] == "ConfigMap" and "vebd.json" in x["data"])
assert json.loads(kcm["data"]["vebd.json"])["bridges"][0]["engine"] == "ENGINE_KERNEL"
assert dveb["engine"] == "kernel"
u = docs(sys.argv[3])
upod = ds(u)["spec"]["template"]["spec"]
assert sorted(upod["containers"][0]["securityContext"]["capabilities"]["add"]) == base_caps
assert all(i["name"] != "mount-bpffs" for i in upod["initContainers"])
assert all(v["name"] != "bpffs" for v in upod["volumes"])
ucm = next(x for x in u if x["kind"] == "ConfigMap" and "vebd.json" in x["data"])
assert "engine" not in json.loads(ucm["data"]["vebd.json"])["bridges"][0]
assert json.loads(ucm["data"]["10-veb.conflist"])["plugins"][0]["engine"] == "userspace"
assert veb["engine"] == "userspace"
for metric in ("veb_addresses", "veb_addresses_max", "veb_port_drops_total", "veb_address_moved_total",
               "veb_address_expired_total", "veb_port_receive_bytes_total", "veb_port_backend_drops_total"):
    assert metric in exprs, metric
PY
# Many nodes (defaults): the headless Service vebd resolves for the tunnel's
# peers, the ClusterRole install-cni reads its Node with, its environment, the
# vebd flags, and the templates veb-node-config renders each node's files from.
/usr/bin/python3 - "${OUT}/default.yaml" "${OUT}/all.yaml" <<'PY' && pass "many nodes: headless Service, ClusterRole on nodes, install-cni env, --tunnel_peers, templates" || fail "many nodes: headless Service, ClusterRole on nodes, install-cni env, --tunnel_peers, templates"
import json, sys, yaml
def docs(p):
    return [x for x in yaml.safe_load_all(open(p)) if x]
d, a = docs(sys.argv[1]), docs(sys.argv[2])
def one(ds, kind, name=None):
    got = [x for x in ds if x["kind"] == kind and (name is None or x["metadata"]["name"] == name)]
    assert len(got) == 1, (kind, name, len(got))
    return got[0]
ds_ = one(d, "DaemonSet")
svc = one(d, "Service")
assert svc["metadata"]["name"] == "veb-peers" and svc["metadata"]["namespace"] == "kube-system", svc["metadata"]
assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True, svc["spec"]
assert svc["spec"]["selector"] == ds_["spec"]["selector"]["matchLabels"], svc["spec"]
assert svc["spec"]["ports"] == [{"name": "vxlan", "protocol": "UDP", "port": 4789, "targetPort": 4789}], svc["spec"]["ports"]
cr, crb = one(d, "ClusterRole"), one(d, "ClusterRoleBinding")
assert cr["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}], cr["rules"]
assert "namespace" not in cr["metadata"] and "namespace" not in crb["metadata"]
assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cr["metadata"]["name"]}, crb
assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "veb", "namespace": "kube-system"}], crb["subjects"]
pod = ds_["spec"]["template"]["spec"]
assert pod["serviceAccountName"] == "veb" and pod["automountServiceAccountToken"] is True
init = next(i for i in pod["initContainers"] if i["name"] == "install-cni")
env = {e["name"]: e for e in init["env"]}
assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}, env["NODE_NAME"]
assert env["NODE_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}, env["NODE_IP"]
assert env["VEB_NODE_RANGE"]["value"] == "podCIDR" and env["VEB_NODE_CONFIG"]["value"] == "/etc/veb-node/vebd.json"
vols = {v["name"]: v for v in pod["volumes"]}
assert vols["node-config"] == {"name": "node-config", "emptyDir": {}}
assert {m["name"]: m for m in init["volumeMounts"]}["node-config"]["mountPath"] == "/etc/veb-node"
c = pod["containers"][0]
nm = {m["name"]: m for m in c["volumeMounts"]}["node-config"]
assert nm["mountPath"] == "/etc/veb-node" and nm["readOnly"] is True
args = c["args"]
assert "--config=/etc/veb-node/vebd.json" in args, args
assert "--tunnel_peers=vx0=dns:veb-peers.kube-system.svc.cluster.local" in args, args
assert "--tunnel_peers_refresh=30s" in args, args
cm = one(d, "ConfigMap")
conf = json.loads(cm["data"]["10-veb.conflist"])["plugins"][0]
assert conf["mtu"] == "auto", conf["mtu"]
assert conf["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/16"}]], conf["ipam"]
vebd = json.loads(cm["data"]["vebd.json"])
assert vebd["vports"] == [{"bridge": "veb0", "kind": "VPORT_KIND_TUNNEL", "name": "vx0", "tunnel": {"dstport": 4789, "vni": 1}}], vebd["vports"]
# all-values: the tunnel's own name, VNI, port, refresh and cluster domain.
asvc = one(a, "Service", "veb-peers")
assert asvc["spec"]["ports"][0]["port"] == 8472 and asvc["spec"]["ports"][0]["protocol"] == "UDP"
aargs = one(a, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["args"]
assert "--tunnel_peers=vxpods=dns:veb-peers.kube-system.svc.example.internal" in aargs, aargs
assert "--tunnel_peers_refresh=10s" in aargs, aargs
acm = next(x for x in a if x["kind"] == "ConfigMap" and "vebd.json" in x["data"])
av = json.loads(acm["data"]["vebd.json"])["vports"][0]
assert av["name"] == "vxpods" and av["bridge"] == "veb1" and av["tunnel"] == {"vni": 4242, "dstport": 8472}, av
aenv = {e["name"]: e for e in next(i for i in one(a, "DaemonSet")["spec"]["template"]["spec"]["initContainers"] if i["name"] == "install-cni")["env"]}
assert aenv["VEB_NODE_RANGE"]["value"] == "static"  # ipamOverride: the range is the override's
PY
"${HELM}" template veb "${CHART}" --set cni.uninstall=false >"${OUT}/no-uninstall.yaml" 2>&1 &&
/usr/bin/python3 - "${OUT}/no-uninstall.yaml" <<'PY' && pass "cni.uninstall=false: no Role, no preStop; the token stays for install-cni (nodeRange podCIDR)" || fail "cni.uninstall=false: no Role, no preStop; the token stays for install-cni (nodeRange podCIDR)"
import sys, yaml
d = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x]
assert sorted(x["kind"] for x in d) == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "Service", "ServiceAccount"], sorted(x["kind"] for x in d)
pod = next(x for x in d if x["kind"] == "DaemonSet")["spec"]["template"]["spec"]
assert pod["automountServiceAccountToken"] is True and "lifecycle" not in pod["containers"][0]
PY
"${HELM}" template veb "${CHART}" --set cni.uninstall=false --set cni.ipam.nodeRange=static --set tunnel.enabled=false \
  --set cni.mtu=1400 >"${OUT}/static.yaml" 2>&1 &&
/usr/bin/python3 - "${OUT}/static.yaml" <<'PY' && pass "nodeRange static, no tunnel, no uninstall: no RBAC, no token, no Service, no peer flags; range and gateway from values" || fail "nodeRange static, no tunnel, no uninstall: no RBAC, no token, no Service, no peer flags; range and gateway from values"
import json, sys, yaml
d = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x]
assert sorted(x["kind"] for x in d) == ["ConfigMap", "DaemonSet", "ServiceAccount"], sorted(x["kind"] for x in d)
pod = next(x for x in d if x["kind"] == "DaemonSet")["spec"]["template"]["spec"]
assert pod["automountServiceAccountToken"] is False
assert not any(x.startswith("--tunnel_peers") for x in pod["containers"][0]["args"])
env = {e["name"]: e.get("value") for e in next(i for i in pod["initContainers"] if i["name"] == "install-cni")["env"]}
assert env["VEB_NODE_RANGE"] == "static"
cm = next(x for x in d if x["kind"] == "ConfigMap")
conf = json.loads(cm["data"]["10-veb.conflist"])["plugins"][0]
assert conf["mtu"] == 1400 and conf["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/16", "gateway": "10.244.0.1"}]], conf
assert "vports" not in json.loads(cm["data"]["vebd.json"])
PY
"${HELM}" template veb "${CHART}" --set tunnel.peersFromService=false >"${OUT}/nopeers.yaml" 2>&1 &&
  ! grep -q -- '--tunnel_peers' "${OUT}/nopeers.yaml" && grep -q 'VPORT_KIND_TUNNEL' "${OUT}/nopeers.yaml" &&
  pass "tunnel.peersFromService=false: the tunnel vport without the DNS peer source" ||
  fail "tunnel.peersFromService=false: the tunnel vport without the DNS peer source"

# The chart's templates through veb-node-config (the init container's tool), as
# a node whose IP is on loopback: the node's range from a Node's podCIDR, the
# tunnel vport completed, and a Node without podCIDR refused, naming it.
NODE_CONFIG="${VEB_NODE_CONFIG_BIN:-bazel-bin/cni-plugin/veb-node-config}"
if [[ -x "${NODE_CONFIG}" ]]; then
  mkdir -p "${OUT}/tmpl" "${OUT}/node"
  /usr/bin/python3 - "${OUT}/default.yaml" "${OUT}/tmpl" <<'PY'
import sys, yaml
for x in yaml.safe_load_all(open(sys.argv[1])):
    if x and x["kind"] == "ConfigMap":
        for k, v in x["data"].items():
            open(f"{sys.argv[2]}/{k}", "w").write(v)
PY
  echo '{"kind":"Node","metadata":{"name":"vch-n1"},"spec":{"podCIDR":"10.244.7.0/24"}}' >"${OUT}/node1.json"
  echo '{"kind":"Node","metadata":{"name":"vch-n2"},"spec":{}}' >"${OUT}/node2.json"
  render() {  # render NODE_JSON: the node's files into ${OUT}/node
    "${NODE_CONFIG}" --node_name=vch-n1 --node_ip=127.0.0.1 --node_json="$1"       --conflist_in="${OUT}/tmpl/10-veb.conflist" --conflist_out="${OUT}/node/10-veb.conflist"       --config_in="${OUT}/tmpl/vebd.json" --config_out="${OUT}/node/vebd.json"
  }
  check "veb-node-config renders the chart's templates for a node" render "${OUT}/node1.json"
  lo_mtu="$(cat /sys/class/net/lo/mtu)"
  /usr/bin/python3 - "${OUT}/node" "${lo_mtu}" <<'PY' && pass "the node's conflist: range 10.244.7.1-254 gateway .1 in 10.244.0.0/16, mtu = lo's - 50; vx0: local 127.0.0.1, underlay lo" || fail "the node's rendered conflist and tunnel vport"
import json, sys
conf = json.load(open(f"{sys.argv[1]}/10-veb.conflist"))["plugins"][0]
assert conf["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/16", "rangeStart": "10.244.7.1", "rangeEnd": "10.244.7.254", "gateway": "10.244.7.1"}]], conf["ipam"]
want = min(int(sys.argv[2]) - 50, 65535)
assert conf["mtu"] == want, (conf["mtu"], want)
v = json.load(open(f"{sys.argv[1]}/vebd.json"))["vports"][0]
assert v["tunnel"]["local"] == "127.0.0.1" and v["tunnel"]["underlay"] == "lo" and v["mtu"] == want, v
PY
  sum_before="$(sha256sum "${OUT}"/node/*)"
  if render "${OUT}/node2.json" >"${OUT}/node2.log" 2>&1; then
    fail "a Node without podCIDR is refused"
  elif grep -q 'node "vch-n2": spec.podCIDR is empty' "${OUT}/node2.log" && [[ "$(sha256sum "${OUT}"/node/*)" == "${sum_before}" ]] &&
       [[ "$(ls "${OUT}/node")" == "$(printf '10-veb.conflist\nvebd.json')" ]]; then
    pass "a Node without podCIDR is refused naming it ($(cat "${OUT}/node2.log")), its files unchanged"
  else
    fail "a Node without podCIDR is refused naming it, nothing written" "$(cat "${OUT}/node2.log"; ls "${OUT}/node")"
  fi
else
  fail "veb-node-config" "${NODE_CONFIG} missing: bazel build //cni-plugin:veb-node-config"
fi
# Bad values must fail to render with a message, not render garbage.
if "${HELM}" template veb "${CHART}" --set cni.portType=bogus >"${OUT}/bad.log" 2>&1; then
  fail "invalid portType rejected"; else grep -q "portType" "${OUT}/bad.log" && pass "invalid portType rejected" || { fail "invalid portType message"; cat "${OUT}/bad.log"; }; fi
if "${HELM}" template veb "${CHART}" --set bridge.engine=fast >"${OUT}/bad.log" 2>&1; then
  fail "unknown engine rejected"; else grep -q "/bridge/engine" "${OUT}/bad.log" && pass "unknown engine rejected" || { fail "unknown engine message"; cat "${OUT}/bad.log"; }; fi
if "${HELM}" template veb "${CHART}" --set bridge.engine=kernel --set cni.portType=tap >"${OUT}/bad.log" 2>&1; then
  fail "tap pods on the kernel engine rejected"; else grep -q "/cni/portType" "${OUT}/bad.log" && pass "tap pods on the kernel engine rejected" || { fail "kernel+tap message"; cat "${OUT}/bad.log"; }; fi
refused() {  # refused WHAT PATH_IN_MESSAGE --set ...: helm template fails naming the value
  local what="$1" path="$2"
  shift 2
  if "${HELM}" template veb "${CHART}" "$@" >"${OUT}/bad.log" 2>&1; then
    fail "${what} rejected" "rendered"
  elif grep -q -- "${path}" "${OUT}/bad.log"; then
    pass "${what} rejected ($(grep -o -- "${path}[^,]*" "${OUT}/bad.log" | head -1))"
  else
    fail "${what} rejected with a message naming ${path}" "$(tr '\n' ' ' <"${OUT}/bad.log")"
  fi
}
refused "tunnel.vni=0" "/tunnel/vni" --set tunnel.vni=0
refused "tunnel.vni=16777216" "/tunnel/vni" --set tunnel.vni=16777216
refused "a 16-character tunnel.name" "/tunnel/name" --set tunnel.name=vxlan-0123456789
refused "a tunnel.name with a slash" "/tunnel/name" --set tunnel.name=vx/0
refused "tunnel.dstport=0" "/tunnel/dstport" --set tunnel.dstport=0
refused "cni.mtu=67" "/cni/mtu" --set cni.mtu=67
refused "cni.mtu=jumbo" "/cni/mtu" --set cni.mtu=jumbo
refused "cni.ipam.nodeRange=dhcp" "/cni/ipam/nodeRange" --set cni.ipam.nodeRange=dhcp
refused "the tunnel without cni.install" "/cni/install" --set cni.install=false
refused "clusterDomain with a space" "/clusterDomain" --set "clusterDomain=cluster local"

finish
