#!/usr/bin/env bash
# A one-node Kubernetes cluster built from released sources, as root, with
# nothing from a container registry:
#   cluster.sh up        build (or reuse) the binaries, start the node, wait Ready-able
#   cluster.sh down      stop everything and put the machine back as it was
#   cluster.sh kubectl ARGS...   kubectl against the cluster (inside the node)
#   cluster.sh helm ARGS...      helm against the cluster (inside the node)
#   cluster.sh node CMD...       a command inside the node (its network and mounts)
#   cluster.sh crictl ARGS...    crictl against the node's containerd
#   cluster.sh import TAR        import an image archive into the node's containerd
#
# The node is a network namespace (vk8s: a veth pair vk8s0/vk8s0p whose vk8s0
# carries 10.250.0.1/24 and the default route, so nothing leaves it) plus a
# mount namespace in which the paths a node owns are the cluster's own
# directories: /etc/cni/net.d and /opt/cni/bin (the node's CNI directories:
# empty but for the reference plugins loopback, host-local and portmap, as a
# package would install them), /var/lib/cni (IPAM allocations, cached
# results), /run/veb and /var/lib/veb (the chart's hostPaths), /var/lib/kubelet,
# /var/log/containers, /run/netns (pod namespaces), and the kernel tunables the
# kubelet insists on setting (vm.overcommit_memory, kernel.panic,
# kernel.panic_on_oops, ...: private files, so the machine's own values never
# change). Every component runs in both namespaces: etcd (Debian's),
# kube-apiserver (on 10.250.0.1:6443), kube-controller-manager (allocates node
# CIDRs from 10.244.0.0/16: the node gets 10.244.0.0/24, the chart's default
# subnet), kube-scheduler, containerd (Debian's), kubelet (cgroupfs, cgroup v1
# allowed) and kube-proxy (iptables mode, masqueradeAll: its rules live in the
# namespace and go with it). Services: 10.96.0.0/16.
# Kubernetes is the release pinned in build/go.mod, built by build.sh (cached
# under /var/cache/veb). Certificates are made here with openssl. The sandbox
# image is a static C pause built with gcc and packaged with buildah, the test
# pods' image localhost/vk8s/busybox:1 is Debian's busybox-static packaged the
# same way; both are imported with ctr.
# Everything lives under ${VEB_K8S_DIR:-/var/lib/veb-k8s} while the cluster is
# up; `down` removes it (and is safe to run when nothing is up).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
D="${VEB_K8S_DIR:-/var/lib/veb-k8s}"
NETNS=vk8s
NSPATH="/run/netns/${NETNS}"
MNTNS="${D}/ns/mnt"
UPLINK=vk8s0
NODE=vk8s-node
NODE_IP=10.250.0.1
POD_CIDR=10.244.0.0/16
SVC_CIDR=10.96.0.0/16
SVC_IP=10.96.0.1
API="https://${NODE_IP}:6443"
CSOCK="${D}/containerd/containerd.sock"
PAUSE_IMAGE=localhost/vk8s/pause:1
BUSYBOX_IMAGE=localhost/vk8s/busybox:1
TOOLS="${VEB_TOOLS_BIN:-/opt/veb/tools/bin}"
# Host paths the node's mount namespace covers with its own directories.
# (/var/lib/kubelet and /var/log/containers: paths the kubelet uses whatever its
# --root-dir says: device-plugins, the containers' log links).
NODE_PATHS=(/etc/cni/net.d /opt/cni/bin /var/lib/cni /run/veb /var/lib/veb /var/lib/kubelet
  /var/log/containers)
SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

log() { echo "cluster.sh: $*" >&2; }
die() { log "$*"; exit 1; }
bin_dir() { cat "${D}/bin-dir" 2>/dev/null; }

# node CMD...: runs CMD in the node's network and mount namespaces.
node() { nsenter --net="${NSPATH}" --mount="${MNTNS}" --wd="${PWD}" -- "$@"; }
crictl() { node timeout 30 "${TOOLS}/crictl" --config "${D}/crictl.yaml" --timeout=20s "$@"; }
# kubectl's and helm's caches and settings (~/.kube/cache, ~/.cache/helm, ...)
# stay in the cluster's directory: their HOME is ${D}/home.
kctl() {
  HOME="${D}/home" node timeout "${KUBECTL_TIMEOUT:-60}" "$(bin_dir)/kubectl" \
    --kubeconfig "${D}/pki/admin.kubeconfig" "$@"
}
helm_() {
  HOME="${D}/home" node timeout 300 "${TOOLS}/helm" --kubeconfig "${D}/pki/admin.kubeconfig" "$@"
}

start_daemon() {  # start_daemon NAME CMD...: in the node, own session, log in ${D}/log/NAME.log
  local name="$1"; shift
  nsenter --net="${NSPATH}" --mount="${MNTNS}" -- setsid "$@" >"${D}/log/${name}.log" 2>&1 </dev/null &
  echo $! >"${D}/pids/${name}"
}
alive() { [[ -f "${D}/pids/$1" ]] && kill -0 "$(cat "${D}/pids/$1")" 2>/dev/null; }
wait_for() {  # wait_for WHAT SECONDS DAEMON CMD...: polls CMD every 0.5 s while DAEMON lives
  local what="$1" secs="$2" daemon="$3" end
  shift 3
  end=$((SECONDS + secs))
  while ((SECONDS < end)); do
    "$@" >/dev/null 2>&1 && return 0
    [[ -z "${daemon}" ]] || alive "${daemon}" || die "${what}: ${daemon} exited: $(tail -5 "${D}/log/${daemon}.log")"
    sleep 0.5
  done
  die "${what}: not within ${secs} s${daemon:+ ($(tail -3 "${D}/log/${daemon}.log"))}"
}

# ---- certificates -------------------------------------------------------------------
cert() {  # cert NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
  local p="${D}/pki/$1"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "${p}.key" \
    -subj "$2" -out "${p}.csr" 2>/dev/null
  {
    echo "keyUsage = critical, digitalSignature, keyEncipherment"
    echo "extendedKeyUsage = $3"
    [[ -z "${4:-}" ]] || echo "subjectAltName = $4"
  } >"${p}.ext"
  openssl x509 -req -in "${p}.csr" -CA "${D}/pki/ca.crt" -CAkey "${D}/pki/ca.key" -CAcreateserial \
    -days 7 -extfile "${p}.ext" -out "${p}.crt" 2>/dev/null
  rm -f "${p}.csr" "${p}.ext"
}
kubeconfig() {  # kubeconfig NAME: ${D}/pki/NAME.kubeconfig with NAME's client certificate
  cat >"${D}/pki/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: vk8s
  cluster: {server: "${API}", certificate-authority: "${D}/pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "${D}/pki/$1.crt", client-key: "${D}/pki/$1.key"}
contexts:
- name: vk8s
  context: {cluster: vk8s, user: $1, namespace: default}
current-context: vk8s
EOF
}
make_pki() {
  mkdir -p "${D}/pki"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "${D}/pki/ca.key" -subj /CN=vk8s-ca -days 7 -out "${D}/pki/ca.crt" 2>/dev/null
  cert apiserver /CN=kube-apiserver serverAuth \
    "IP:${NODE_IP},IP:${SVC_IP},IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  cert admin "/O=system:masters/CN=vk8s-admin" clientAuth
  cert controller-manager /CN=system:kube-controller-manager clientAuth
  cert scheduler /CN=system:kube-scheduler clientAuth
  cert kubelet "/O=system:nodes/CN=system:node:${NODE}" clientAuth
  cert kube-proxy /CN=system:kube-proxy clientAuth
  # Prometheus's identity (test/k8s grants it read access to pods).
  cert prometheus /CN=vk8s-prometheus clientAuth
  for n in admin controller-manager scheduler kubelet kube-proxy prometheus; do kubeconfig "${n}"; done
  openssl ecparam -name prime256v1 -genkey -noout -out "${D}/pki/sa.key" 2>/dev/null
  openssl ec -in "${D}/pki/sa.key" -pubout -out "${D}/pki/sa.pub" 2>/dev/null
  chmod 0600 "${D}"/pki/*.key
}

# ---- images: built here, imported into containerd ------------------------------------
build_images() {
  local b=(env TMPDIR="${D}/buildah/tmp" timeout 120 buildah --root "${D}/buildah/root"
    --runroot "${D}/buildah/run" --storage-driver vfs)
  local c
  mkdir -p "${D}/images/pause" "${D}/images/busybox/bin" "${D}/buildah/root" "${D}/buildah/run" "${D}/buildah/tmp"
  timeout 60 gcc -static -Os -s -o "${D}/images/pause/pause" "${HERE}/../pause/pause.c"
  c="$("${b[@]}" from scratch)"
  "${b[@]}" copy "${c}" "${D}/images/pause/pause" /pause >/dev/null
  "${b[@]}" config --entrypoint '["/pause"]' --cmd '' "${c}"
  "${b[@]}" commit -q "${c}" "${PAUSE_IMAGE}" >/dev/null
  "${b[@]}" rm "${c}" >/dev/null
  "${b[@]}" push -q "${PAUSE_IMAGE}" "docker-archive:${D}/images/pause.tar:${PAUSE_IMAGE}"
  # busybox: one static binary and its applets (sh, ping, httpd, nc, wget, sleep, ...).
  cp /bin/busybox "${D}/images/busybox/bin/busybox"
  local a
  for a in $(/bin/busybox --list); do [[ "${a}" == busybox ]] || ln -sf busybox "${D}/images/busybox/bin/${a}"; done
  c="$("${b[@]}" from scratch)"
  "${b[@]}" copy "${c}" "${D}/images/busybox" / >/dev/null
  "${b[@]}" config --env PATH=/bin --cmd '["/bin/sh"]' "${c}"
  "${b[@]}" commit -q "${c}" "${BUSYBOX_IMAGE}" >/dev/null
  "${b[@]}" rm "${c}" >/dev/null
  "${b[@]}" push -q "${BUSYBOX_IMAGE}" "docker-archive:${D}/images/busybox.tar:${BUSYBOX_IMAGE}"
  rm -rf "${D}/buildah"
}
import_image() {  # import_image TAR
  node timeout 300 ctr --address "${CSOCK}" --namespace k8s.io images import --no-unpack "$1" >/dev/null
}

# ---- the node's namespaces ----------------------------------------------------------
make_node_namespaces() {
  local p s
  ip netns add "${NETNS}"
  ip -n "${NETNS}" link set lo up
  # No dummy module here: a veth pair with both ends in the namespace.
  ip -n "${NETNS}" link add "${UPLINK}" type veth peer name "${UPLINK}p"
  ip -n "${NETNS}" link set "${UPLINK}p" up
  ip -n "${NETNS}" addr add "${NODE_IP}/24" dev "${UPLINK}"
  ip -n "${NETNS}" link set "${UPLINK}" up
  ip -n "${NETNS}" route add default dev "${UPLINK}"
  ip netns exec "${NETNS}" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
  # The mount namespace, kept by a bind mount on a private mount (unshare's rule).
  mkdir -p "${D}/ns"
  mount --bind "${D}/ns" "${D}/ns"
  mount --make-private "${D}/ns"
  touch "${MNTNS}"
  unshare --mount="${MNTNS}" --propagation slave true
  : >"${D}/created-paths"
  for p in "${NODE_PATHS[@]}"; do
    if [[ ! -e "${p}" ]]; then  # record the topmost directory made here
      s="${p}"
      while [[ ! -e "$(dirname "${s}")" ]]; do s="$(dirname "${s}")"; done
      echo "${s}" >>"${D}/created-paths"
      mkdir -p "${p}"
    fi
    mkdir -p "${D}/node${p}"
    nsenter --mount="${MNTNS}" -- mount --bind "${D}/node${p}" "${p}"
  done
  mkdir -p "${D}/node/sysctl"
  for s in "${SYSCTLS[@]}"; do
    cat "/proc/sys/${s}" >"${D}/node/sysctl/${s//\//.}"
    nsenter --mount="${MNTNS}" -- mount --bind "${D}/node/sysctl/${s//\//.}" "/proc/sys/${s}"
  done
  # Pod network namespaces: the node's own, shared with its containers (vebd
  # mounts /var/run/netns with HostToContainer propagation).
  nsenter --mount="${MNTNS}" -- mount -t tmpfs -o mode=0755 vk8s-netns /run/netns
  # Shared inside the node (containerd wants the mount holding a HostToContainer
  # path shared or slave, and looks it up without resolving /var/run): the
  # peer groups are new, so nothing propagates back to the machine.
  nsenter --mount="${MNTNS}" -- mount --make-rshared /
  # The reference plugins a node's CNI package provides (containerd needs loopback).
  for p in loopback host-local portmap; do
    install -m 0755 "${TOOLS}/cni/${p}" "${D}/node/opt/cni/bin/${p}"
  done
}

has_pod_cidr() { [[ -n "$(KUBECTL_TIMEOUT=10 kctl get node "${NODE}" -o jsonpath='{.spec.podCIDR}')" ]]; }

# ---- up ------------------------------------------------------------------------------
up() {
  local bin
  [[ "$(id -u)" == 0 ]] || die "needs root"
  [[ ! -e "${NSPATH}" && ! -e "${D}" ]] || die "a cluster is up (or was not taken down): run cluster.sh down"
  for t in etcd containerd ctr runc openssl buildah gcc iptables conntrack nsenter unshare "${TOOLS}/cni/portmap" "${TOOLS}/helm"; do
    command -v "${t}" >/dev/null || die "${t} missing (scripts/setup.sh installs it)"
  done
  bin="$(bash "${HERE}/build.sh" | tail -1)"
  mkdir -p "${D}"/{log,pids,etcd,kubelet,pod-logs,home,containerd/root,containerd/state,containerd/opt,runc}
  echo "${bin}" >"${D}/bin-dir"
  make_node_namespaces
  make_pki
  build_images

  start_daemon etcd etcd --name vk8s --data-dir "${D}/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster vk8s=http://127.0.0.1:2380
  wait_for "etcd healthy" 30 etcd node curl -sf http://127.0.0.1:2379/health

  start_daemon kube-apiserver "${bin}/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="${NODE_IP}" --advertise-address="${NODE_IP}" --secure-port=6443 \
    --service-cluster-ip-range="${SVC_CIDR}" \
    --client-ca-file="${D}/pki/ca.crt" \
    --tls-cert-file="${D}/pki/apiserver.crt" --tls-private-key-file="${D}/pki/apiserver.key" \
    --kubelet-client-certificate="${D}/pki/apiserver-kubelet.crt" \
    --kubelet-client-key="${D}/pki/apiserver-kubelet.key" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="${D}/pki/sa.pub" --service-account-signing-key-file="${D}/pki/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-preferred-address-types=InternalIP \
    --allow-privileged=true --profiling=false
  wait_for "kube-apiserver ready" 120 kube-apiserver kctl get --raw /readyz

  start_daemon kube-controller-manager "${bin}/kube-controller-manager" \
    --kubeconfig="${D}/pki/controller-manager.kubeconfig" \
    --authentication-kubeconfig="${D}/pki/controller-manager.kubeconfig" \
    --authorization-kubeconfig="${D}/pki/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false \
    --allocate-node-cidrs=true --cluster-cidr="${POD_CIDR}" --node-cidr-mask-size=24 \
    --service-cluster-ip-range="${SVC_CIDR}" \
    --service-account-private-key-file="${D}/pki/sa.key" --root-ca-file="${D}/pki/ca.crt" \
    --use-service-account-credentials=true \
    --flex-volume-plugin-dir="${D}/kubelet/volume-plugins"
  start_daemon kube-scheduler "${bin}/kube-scheduler" \
    --kubeconfig="${D}/pki/scheduler.kubeconfig" \
    --authentication-kubeconfig="${D}/pki/scheduler.kubeconfig" \
    --authorization-kubeconfig="${D}/pki/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false

  # containerd: Debian's, runc with cgroupfs (as the kubelet), CNI from the node's directories.
  local snapshotter=native
  mkdir -p "${D}/ovl/l" "${D}/ovl/u" "${D}/ovl/w" "${D}/ovl/m"
  if mount -t overlay overlay -o "lowerdir=${D}/ovl/l,upperdir=${D}/ovl/u,workdir=${D}/ovl/w" "${D}/ovl/m" 2>/dev/null; then
    umount "${D}/ovl/m"
    snapshotter=overlayfs
  fi
  rm -rf "${D}/ovl"
  cat >"${D}/containerd/config.toml" <<EOF
version = 2
root = "${D}/containerd/root"
state = "${D}/containerd/state"
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
  path = "${D}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
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
        Root = "${D}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1
EOF
  echo "${snapshotter}" >"${D}/containerd/snapshotter"
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\n' "${CSOCK}" "${CSOCK}" >"${D}/crictl.yaml"
  start_daemon containerd containerd --config "${D}/containerd/config.toml"
  wait_for "containerd answers" 30 containerd node ctr --address "${CSOCK}" version
  import_image "${D}/images/pause.tar"
  import_image "${D}/images/busybox.tar"

  cat >"${D}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://${CSOCK}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "${D}/pki/ca.crt"}
authorization: {mode: Webhook}
address: ${NODE_IP}
healthzBindAddress: 127.0.0.1
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: ${D}/pod-logs
volumePluginDir: ${D}/kubelet/volume-plugins
resolvConf: /etc/resolv.conf
# A shared test machine: no evictions for its disk or memory use.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
  start_daemon kubelet "${bin}/kubelet" --config="${D}/kubelet.yaml" \
    --kubeconfig="${D}/pki/kubelet.kubeconfig" --root-dir="${D}/kubelet" --cert-dir="${D}/kubelet/pki" \
    --hostname-override="${NODE}" --node-ip="${NODE_IP}" --oom-score-adj=0
  wait_for "node ${NODE} registered" 120 kubelet kctl get node "${NODE}"

  cat >"${D}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "${D}/pki/kube-proxy.kubeconfig"}
hostnameOverride: ${NODE}
mode: iptables
clusterCIDR: ${POD_CIDR}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
# The conntrack table is the machine's: leave its size and timeouts alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
# Service traffic is masqueraded: a backend on the same bridge as its client
# then replies to the gateway (the node), whose conntrack un-NATs the reply
# (docs/design.md, "Services on the same node").
iptables: {masqueradeAll: true}
EOF
  start_daemon kube-proxy "${bin}/kube-proxy" --config="${D}/kube-proxy.yaml"
  wait_for "kube-proxy healthy" 60 kube-proxy node curl -sf http://127.0.0.1:10256/healthz
  wait_for "node ${NODE} has a podCIDR" 60 kube-controller-manager has_pod_cidr
  log "up: node ${NODE} ($(kctl get node "${NODE}" -o jsonpath='{.spec.podCIDR}')), API ${API}, kubeconfig ${D}/pki/admin.kubeconfig"
}

# ---- down -----------------------------------------------------------------------------
kill_daemon() {  # kill_daemon NAME: TERM, then KILL after 10 s
  local pid i
  [[ -f "${D}/pids/$1" ]] || return 0
  pid="$(cat "${D}/pids/$1")"
  kill -TERM "${pid}" 2>/dev/null || { rm -f "${D}/pids/$1"; return 0; }
  for ((i = 0; i < 100; i++)); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "${pid}" 2>/dev/null || true
  rm -f "${D}/pids/$1"
}
our_processes() {  # pids whose command line names ${D}/ (shims, their children, daemons)
  local p
  for p in /proc/[0-9]*; do
    [[ "${p#/proc/}" == "$$" ]] && continue
    tr '\0' ' ' 2>/dev/null <"${p}/cmdline" | grep -qF -- "${D}/" && echo "${p#/proc/}"
  done
}
down() {
  local p m c sub
  [[ "$(id -u)" == 0 ]] || die "needs root"
  # Pods first, so that the CNI plugin's DEL releases their ports and addresses.
  kill_daemon kubelet
  kill_daemon kube-proxy
  if [[ -S "${CSOCK}" && -e "${MNTNS}" && -e "${NSPATH}" ]] && alive containerd; then
    for c in $(crictl pods -q 2>/dev/null); do
      crictl stopp "${c}" >/dev/null 2>&1 || true
      crictl rmp -f "${c}" >/dev/null 2>&1 || true
    done
  fi
  for p in kube-scheduler kube-controller-manager containerd kube-apiserver etcd; do kill_daemon "${p}"; done
  # Shims and anything else started from the cluster's directory.
  for p in $(our_processes); do
    for c in $(pgrep -P "${p}" 2>/dev/null); do kill -KILL "${c}" 2>/dev/null || true; done
    kill -KILL "${p}" 2>/dev/null || true
  done
  for ((c = 0; c < 50; c++)); do [[ -z "$(our_processes)" ]] && break; sleep 0.1; done
  # A killed shim leaves its socket in /run/containerd/s.
  for p in "${D}"/containerd/state/io.containerd.runtime.v2.task/*/*/address; do
    [[ -f "${p}" ]] && m="$(cat "${p}")" && [[ "${m}" == unix:///run/containerd/s/* ]] && rm -f "${m#unix://}"
  done
  rmdir /run/containerd/s /run/containerd 2>/dev/null || true
  # The mount namespace goes with its last process and its bind mount.
  if [[ -e "${MNTNS}" ]]; then umount -l "${MNTNS}" 2>/dev/null || true; fi
  umount -l "${D}/ns" 2>/dev/null || true
  # Mounts under the cluster's directory (rootfs, shm, volumes), deepest first.
  for m in $(awk -v t="${D}/" 'index($2, t) == 1 || $2 == substr(t, 1, length(t) - 1) {print $2}' /proc/self/mounts | sort -r); do
    umount -l "${m}" 2>/dev/null || true
  done
  # The node's network namespace: its interfaces, routes and iptables rules go with it.
  if [[ -e "${NSPATH}" ]]; then ip netns del "${NETNS}" || true; fi
  # cgroups the kubelet and runc made (cgroupfs driver): kubepods under each hierarchy.
  for sub in /sys/fs/cgroup/*/; do
    [[ -d "${sub}kubepods" ]] || continue
    find "${sub}kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  if [[ -f "${D}/created-paths" ]]; then
    # Only empty directories: what the node wrote went to its own directories.
    while read -r p; do
      [[ -d "${p}" ]] && find "${p}" -depth -type d -empty -delete 2>/dev/null || true
    done <"${D}/created-paths"
  fi
  rm -rf "${D}"
  log "down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  kubectl) shift; KUBECTL_TIMEOUT="${KUBECTL_TIMEOUT:-120}" kctl "$@" ;;
  helm) shift; helm_ "$@" ;;
  node) shift; node "$@" ;;
  crictl) shift; crictl "$@" ;;
  import) import_image "$2" ;;
  *) echo "usage: $0 up|down|kubectl ARGS|helm ARGS|node CMD|crictl ARGS|import TAR" >&2; exit 2 ;;
esac
