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
assert kinds(d) == ["ConfigMap", "DaemonSet", "Role", "RoleBinding", "ServiceAccount"], kinds(d)
assert kinds(a) == ["ConfigMap", "ConfigMap", "DaemonSet", "Role", "RoleBinding", "Service", "ServiceAccount", "ServiceMonitor"], kinds(a)
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
"${HELM}" template veb "${CHART}" --set cni.uninstall=false >"${OUT}/no-uninstall.yaml" 2>&1 &&
/usr/bin/python3 - "${OUT}/no-uninstall.yaml" <<'PY' && pass "cni.uninstall=false: no Role, no token, no preStop" || fail "cni.uninstall=false: no Role, no token, no preStop"
import sys, yaml
d = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x]
assert sorted(x["kind"] for x in d) == ["ConfigMap", "DaemonSet", "ServiceAccount"]
pod = next(x for x in d if x["kind"] == "DaemonSet")["spec"]["template"]["spec"]
assert pod["automountServiceAccountToken"] is False and "lifecycle" not in pod["containers"][0]
PY
# Bad values must fail to render with a message, not render garbage.
if "${HELM}" template veb "${CHART}" --set cni.portType=bogus >"${OUT}/bad.log" 2>&1; then
  fail "invalid portType rejected"; else grep -q "portType" "${OUT}/bad.log" && pass "invalid portType rejected" || { fail "invalid portType message"; cat "${OUT}/bad.log"; }; fi
if "${HELM}" template veb "${CHART}" --set bridge.engine=fast >"${OUT}/bad.log" 2>&1; then
  fail "unknown engine rejected"; else grep -q "/bridge/engine" "${OUT}/bad.log" && pass "unknown engine rejected" || { fail "unknown engine message"; cat "${OUT}/bad.log"; }; fi
if "${HELM}" template veb "${CHART}" --set bridge.engine=kernel --set cni.portType=tap >"${OUT}/bad.log" 2>&1; then
  fail "tap pods on the kernel engine rejected"; else grep -q "/cni/portType" "${OUT}/bad.log" && pass "tap pods on the kernel engine rejected" || { fail "kernel+tap message"; cat "${OUT}/bad.log"; }; fi

finish
