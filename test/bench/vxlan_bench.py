#!/usr/bin/env python3
"""Cross-node benchmark over VXLAN (issue 12): pod to pod across two nodes.

Two node namespaces (vbx-n1, vbx-n2) are joined by an underlay veth pair
(vbxu1 10.97.0.1 <-> vbxu2 10.97.0.2); each node has one pod namespace
(vbx-a on node 1, 10.96.0.1; vbx-b on node 2, 10.96.0.2) attached by a veth
pair, pods' MTU 1450. Configurations, run interleaved (A B C A B C ...),
--reps times, each set up from nothing and removed after its round:

  bridge-vxlan  the flannel-style baseline (the anchor): on each node a Linux
                bridge br0 with a kernel VXLAN device vx0 (the same VNI,
                dstport 4789, underlay, local address and MTU 1450 as veb's,
                `nolearning`, one all-zeros FDB entry to the other node: the
                same static peer entry veb installs) and the pod's veth
                enslaved
  veb-kernel    vebd in each node (its own socket, state file and bpffs
                pins), `create veb0 engine kernel`, `vport vxlan vx0 vni N
                local IP dev UNDERLAY peers OTHER`, the pod as a pod vport
                (`vport pod NETNS eth0 mtu 1450`: vebd makes the veth pair)
  veb-userspace the same with `engine userspace` (AF_PACKET ports)

Per round: single-stream TCP from pod a to pod b (iperf3, --duration s), then
64-byte UDP frames (18-byte payloads) from a to b at the same rates asked of
the sender in every configuration (iperf3 -b, one run per --udp-kpps rate,
thousand packets/s; the defaults 100 and 150 are below what the sender reaches
here in all three on a quiet machine, 400 above: the sender then runs at full
speed and what it manages depends on the path, since encapsulation runs in its
context): offered and delivered packets/s (delivered = counted by the
receiving iperf3), the packets/s that reached pod b's UDP layer (its
/proc/net/snmp: queued to the socket or refused by its full buffer), loss split
into lost on the way and lost at pod b's full socket (the receiving iperf3 not
keeping up), and whole-machine CPU per delivered packet (/proc/stat over the
UDP run; `--udp-kpps ""`: TCP only). Each round checks that the traffic
crossed vx0 (node 1's vx0 tx counter grew by at least one frame per 64 KiB of
TCP and by the delivered UDP packets) and that node 1's VXLAN device has the
same parameters in every configuration (printed with the
table). Prints medians with ratios against bridge-vxlan.

Every load is bounded in time; namespaces, vebd processes and pins are
removed after each round, on errors and on SIGTERM.
Run as root, after `bazel build //server:vebd //cli:vebctl`:
  test/bench/vxlan_bench.py --reps 7 [--duration 5] [--udp-kpps 100,150,400] [--markdown F]
"""

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from veth_bench import busy_ns, ns, report, sh, table  # noqa: E402  (the one copy of these)

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
VEBD = os.path.join(ROOT, "bazel-bin/server/vebd")
VEBCTL = os.path.join(ROOT, "bazel-bin/cli/vebctl")
NODES = ("vbx-n1", "vbx-n2")
PODS = ("vbx-a", "vbx-b")
UNDERLAY = ("vbxu1", "vbxu2")
UNDER_IP = ("10.97.0.1", "10.97.0.2")
POD_IP = ("10.96.0.1", "10.96.0.2")
VNI, DSTPORT, POD_MTU = 4242, 4789, 1450
PIN_ROOT = "/sys/fs/bpf/vbx-bench"
# Node 1's vx0 parameters, per configuration, as first seen (vxlan_details).
VXLAN_DETAILS = {}


def cleanup():
    for n in PODS + NODES:
        sh(f"ip netns pids {n} 2>/dev/null | xargs -r kill -9", check=False)
    for n in PODS + NODES:
        sh(f"ip netns del {n} 2>/dev/null", check=False)
    shutil.rmtree(PIN_ROOT, ignore_errors=True)


def nodes():
    """Namespaces, the underlay, loopbacks up."""
    for n in NODES + PODS:
        sh(f"ip netns add {n}")
        sh(ns(n, "ip link set lo up"))
    sh(f"ip link add {UNDERLAY[0]} netns {NODES[0]} type veth peer name {UNDERLAY[1]} "
       f"netns {NODES[1]}")
    for i in (0, 1):
        sh(ns(NODES[i], f"ip addr add {UNDER_IP[i]}/24 dev {UNDERLAY[i]}"))
        sh(ns(NODES[i], f"ip link set {UNDERLAY[i]} up"))


def pod_addresses():
    for i in (0, 1):
        sh(ns(PODS[i], f"ip addr add {POD_IP[i]}/24 dev eth0"))
        sh(ns(PODS[i], "ip link set eth0 up"))
        mtu = int(sh(ns(PODS[i], "cat /sys/class/net/eth0/mtu"), capture=True))
        if mtu != POD_MTU:
            raise RuntimeError(f"pod {PODS[i]}: eth0 MTU {mtu}, not {POD_MTU}")


def vxlan_details(name):
    """Reads node 1's vx0 parameters (ip -d link: MTU, VNI, local address,
    underlay, dstport, TTL, ageing, learning, UDP checksums) and raises if
    they differ from those of the configurations seen before."""
    out = sh(ns(NODES[0], "ip -d link show vx0"), capture=True)
    d = {}
    m = re.search(r"mtu (\d+)", out)
    d["mtu"] = m.group(1) if m else None
    for f in ("vxlan id", "local", "dev", "dstport", "ttl", "ageing"):
        m = re.search(rf"\b{f} (\S+)", out)
        d[f] = m.group(1) if m else None
    d["learning"] = "nolearning" if "nolearning" in out else "learning"
    d["udpcsum"] = "noudpcsum" if "noudpcsum" in out else "udpcsum"
    VXLAN_DETAILS.setdefault(name, d)
    first = next(iter(VXLAN_DETAILS.values()))
    if d != first:
        raise RuntimeError(f"{name}: vx0 differs from the other configurations: {d} vs {first}")


class BridgeVxlan:
    name = "bridge-vxlan"

    def up(self):
        nodes()
        for i in (0, 1):
            n = NODES[i]
            sh(ns(n, f"ip link add vx0 type vxlan id {VNI} local {UNDER_IP[i]} dev {UNDERLAY[i]} "
                     f"dstport {DSTPORT} nolearning"))
            sh(ns(n, f"bridge fdb append 00:00:00:00:00:00 dev vx0 dst {UNDER_IP[1 - i]}"))
            sh(ns(n, "ip link add br0 type bridge"))
            sh(ns(n, "ip link set vx0 master br0"))
            sh(f"ip link add vbxp{i} netns {n} mtu {POD_MTU} type veth peer name eth0 "
               f"netns {PODS[i]} mtu {POD_MTU}")
            sh(ns(n, f"ip link set vbxp{i} master br0"))
            for dev in ("vx0", f"vbxp{i}", "br0"):
                sh(ns(n, f"ip link set {dev} up"))
        pod_addresses()

    def down(self):
        pass

    def pids(self):
        return []


class Veb:
    def __init__(self, engine):
        self.engine = engine
        self.name = f"veb-{engine}"
        self.procs = []
        self.dir = None

    def vebctl(self, i, args):
        return sh(f"{VEBCTL} --socket={self.dir}/n{i}.sock {args}", timeout=15, capture=True)

    def up(self):
        nodes()
        self.dir = tempfile.mkdtemp(prefix="vbx-bench.")
        for i in (0, 1):
            # nsenter keeps the mount namespace: bpffs stays at /sys/fs/bpf.
            log = open(f"{self.dir}/vebd{i}.log", "w")
            self.procs.append(subprocess.Popen(
                ["nsenter", f"--net=/var/run/netns/{NODES[i]}", VEBD,
                 f"--listen=unix://{self.dir}/n{i}.sock", f"--state_file={self.dir}/n{i}.json",
                 "--metrics_address=", f"--bpf_pin_root={PIN_ROOT}/{i}"],
                stdout=log, stderr=subprocess.STDOUT))
        for i in (0, 1):
            deadline = time.monotonic() + 15
            while sh(f"{VEBCTL} --socket={self.dir}/n{i}.sock health", check=False,
                     timeout=10) != 0:
                if time.monotonic() > deadline or self.procs[i].poll() is not None:
                    raise RuntimeError(f"{self.name}: vebd in {NODES[i]} not healthy; "
                                       f"see {self.dir}/vebd{i}.log")
                time.sleep(0.1)
        for i in (0, 1):
            self.vebctl(i, f"create veb0 engine {self.engine}")
            self.vebctl(i, f"veb0 vport vxlan vx0 vni {VNI} local {UNDER_IP[i]} "
                           f"dev {UNDERLAY[i]} dstport {DSTPORT} peers {UNDER_IP[1 - i]}")
            self.vebctl(i, f"veb0 vport pod /var/run/netns/{PODS[i]} eth0 mtu {POD_MTU}")
        pod_addresses()

    def down(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        if self.dir:
            for i in (0, 1):  # keep a failed run's logs
                try:
                    shutil.copy(f"{self.dir}/vebd{i}.log", f"/tmp/vbx-{self.engine}-vebd{i}.log")
                except OSError:
                    pass
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def pids(self):
        return [p.pid for p in self.procs]


def vx0_tx():
    return int(sh(ns(NODES[0], "cat /sys/class/net/vx0/statistics/tx_packets"), capture=True))


def pod_b_udp():
    """Pod b's UDP counters (/proc/net/snmp in its namespace) as a dict."""
    lines = [l.split() for l in sh(ns(PODS[1], "cat /proc/net/snmp"), capture=True).splitlines()
             if l.startswith("Udp:")]
    return dict(zip(lines[0][1:], (int(x) for x in lines[1][1:])))


def iperf(args, duration):
    srv = subprocess.Popen(shlex.split(ns(PODS[1], f"iperf3 -s -1 -B {POD_IP[1]}")),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    try:
        out = sh(ns(PODS[0], f"iperf3 -c {POD_IP[1]} -t {duration} -J {args}"), capture=True,
                 timeout=duration + 30)
        return json.loads(out)
    finally:
        srv.kill()
        srv.wait()


def measure(cfg, duration, loads):
    r = {}
    sh(ns(PODS[0], f"ping -c 3 -i 0.2 -W 1 {POD_IP[1]}"), timeout=10)  # ARP, learning
    t0 = vx0_tx()
    tcp = iperf("", duration)
    r["tcp_gbps"] = tcp["end"]["sum_received"]["bits_per_second"] / 1e9
    # At least one (GSO) frame per 64 KiB carried must have left through vx0.
    want = tcp["end"]["sum_received"]["bytes"] // 65536
    if vx0_tx() - t0 < want:
        raise RuntimeError(f"{cfg.name}: vx0 sent {vx0_tx() - t0} frames for "
                           f"{tcp['end']['sum_received']['bytes']} TCP bytes: the traffic did "
                           f"not cross the tunnel")
    # 64-byte frames: 14 Ethernet + 20 IP + 8 UDP + 18 payload + 4 FCS; the
    # rate in iperf3's bits counts the 18 payload bytes only.
    for load in loads:
        t0, b0, u0 = vx0_tx(), busy_ns(), pod_b_udp()
        udp = iperf(f"-u -l 18 -b {int(load * 1000 * 18 * 8)}", duration)
        b1, t1, u1 = busy_ns(), vx0_tx(), pod_b_udp()
        s = udp["end"]["sum"]
        secs, sent = s["seconds"], s["packets"]
        delivered = sent - s["lost_packets"]
        if t1 - t0 < delivered:
            raise RuntimeError(f"{cfg.name}: vx0 sent {t1 - t0} packets, fewer than the "
                               f"{delivered} delivered: the traffic did not cross the tunnel")
        k = f"@{load:g}"
        r["udp_offered_kpps" + k] = sent / secs / 1e3
        r["udp_delivered_kpps" + k] = delivered / secs / 1e3
        r["udp_loss_pct" + k] = s["lost_percent"]
        r["cpu_ns_per_pkt" + k] = (b1 - b0) / max(delivered, 1)
        # Where the rest went: reached pod b's UDP layer (queued, or refused
        # by its full socket buffer) or lost on the way (sender's socket,
        # tunnel, switch).
        d = {f: u1[f] - u0[f] for f in ("InDatagrams", "InErrors", "RcvbufErrors")}
        reached = min(d["InDatagrams"] + d["InErrors"], sent)
        r["udp_reached_kpps" + k] = reached / secs / 1e3
        r["udp_loss_pct_path" + k] = (sent - reached) / sent * 100
        r["udp_loss_pct_sock" + k] = d["RcvbufErrors"] / sent * 100
    return r


def columns(loads):
    cols = [("tcp_gbps", "TCP Gbit/s", True)]
    for load in loads:
        k, at = f"@{load:g}", f"(asked {load:g} kpps)"
        cols += [("udp_offered_kpps" + k, f"UDP64 offered kpps {at}", True),
                 ("udp_delivered_kpps" + k, f"UDP64 delivered kpps {at}", True),
                 ("udp_reached_kpps" + k, f"UDP64 reached pod b's UDP layer kpps {at}", True),
                 ("udp_loss_pct" + k, f"UDP64 loss % {at}", False),
                 ("udp_loss_pct_path" + k, f"… lost before pod b's UDP % {at}", False),
                 ("udp_loss_pct_sock" + k, f"… lost at pod b's full socket % {at}", False),
                 ("cpu_ns_per_pkt" + k, f"CPU ns/delivered pkt {at}", False)]
    return cols


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--udp-kpps", default="100,150,400",
                    help="comma-separated 64-byte UDP loads asked of the sender, thousand "
                         "packets/s, each the same for all configurations (one UDP run each); "
                         "empty: TCP only")
    ap.add_argument("--configs", default="bridge-vxlan,veb-kernel,veb-userspace",
                    help="comma-separated subset (bridge-vxlan is the anchor)")
    ap.add_argument("--markdown", default="")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("vxlan_bench: must run as root")
    for b in (VEBD, VEBCTL):
        if not os.access(b, os.X_OK):
            sys.exit(f"vxlan_bench: {b} missing: bazel build //server:vebd //cli:vebctl")
    try:
        loads = [float(x) for x in a.udp_kpps.split(",") if x]
        if loads and min(loads) <= 0:
            raise ValueError
    except ValueError:
        sys.exit(f"vxlan_bench: --udp-kpps \"{a.udp_kpps}\": want positive numbers, "
                 f"comma-separated, or nothing")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("vxlan_bench: terminated"))
    known = {"bridge-vxlan": BridgeVxlan, "veb-kernel": lambda: Veb("kernel"),
             "veb-userspace": lambda: Veb("userspace")}
    names = [c for c in a.configs.split(",") if c]
    for c in names:
        if c not in known:
            sys.exit(f"vxlan_bench: --configs: unknown configuration \"{c}\" "
                     f"(known: {', '.join(known)})")
    configs = [known[c]() for c in names]
    results = {c.name: [] for c in configs}
    cleanup()
    try:
        for rep in range(a.reps):
            for cfg in configs:
                print(f"rep {rep + 1}/{a.reps}: {cfg.name}", file=sys.stderr, flush=True)
                try:
                    cfg.up()
                    vxlan_details(cfg.name)
                    r = measure(cfg, a.duration, loads)
                    print("  " + " ".join(f"{k}={v:.4g}" for k, v in r.items()),
                          file=sys.stderr, flush=True)
                    results[cfg.name].append(r)
                except Exception as e:  # noqa: BLE001 - report and go on with the rest
                    print(f"  {cfg.name} failed: {e}", file=sys.stderr)
                finally:
                    cfg.down()
                    cleanup()
    finally:
        cleanup()
    out = table(results, anchor="bridge-vxlan", columns=columns(loads))
    vx = next(iter(VXLAN_DETAILS.values()), {})
    udp = f"64-byte UDP asked of the sender at {a.udp_kpps} kpps" if loads else "TCP only"
    info = (f"{a.reps} interleaved repetitions, {a.duration} s loads, {udp}, medians; ratios against bridge-vxlan. "
            f"{os.cpu_count()} cores, kernel {os.uname().release}.\n"
            f"vx0 on every configuration (ip -d link): "
            + ", ".join(f"{k} {v}" for k, v in vx.items()) + ".")
    return report(info, out, results, a.reps, a.markdown)


if __name__ == "__main__":
    sys.exit(main())
