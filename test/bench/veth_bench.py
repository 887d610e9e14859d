#!/usr/bin/env python3
"""Side-by-side switch benchmark on one veth topology (issue 3).

Two pods (network namespaces vbb-a, vbb-b, 10.99.9.1/2) are joined through a
switch that lives in its own namespace (vbb-sw), so nothing touches the host's
interfaces. Configurations, run interleaved (A B C A B C ...), --reps times:

  direct        a veth pair straight between the pods (the physical limit)
  linux-bridge  the kernel bridge in vbb-sw
  veb-<backend> veb in vbb-sw for each of --veb-backends (default af_packet,
                af_xdp and af_packet-rt: real-time workers), started by --veb-cmd (a template with {ports} and
                {backend}; default run_veb.sh: bazel-bin/server/vebd with a
                startup config); --no-veb leaves veb out
  ovs-netdev    Open vSwitch's userspace datapath (datapath_type=netdev,
                userspace TSO on), own db, in vbb-sw; skipped when not installed

Per run: single-stream TCP (iperf3), 64-byte UDP (iperf3 at full speed:
offered and delivered packets/s, loss), UDP request/response latency p50/p99,
ICMP RTT, and whole-machine CPU per delivered 64-byte packet (/proc/stat over
the UDP run). Prints a table of medians with ratios to linux-bridge.

Every load is bounded in time; namespaces are removed on exit, also on errors.
Run as root, after `bazel build //server:vebd`:
  test/bench/veth_bench.py --reps 3 [--markdown F]
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

NS_A, NS_B, NS_SW = "vbb-a", "vbb-b", "vbb-sw"
IP_A, IP_B = "10.99.9.1", "10.99.9.2"
HERE = os.path.dirname(os.path.abspath(__file__))


def sh(cmd, check=True, capture=False, timeout=60):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), check=False, timeout=timeout,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {cmd}\n{r.stderr}")
    return r.stdout if capture else r.returncode


def ns(name, cmd):
    return f"ip netns exec {name} {cmd}"


def cleanup():
    for n in (NS_A, NS_B, NS_SW):
        sh(f"ip netns pids {n} 2>/dev/null | xargs -r kill -9", check=False)
        sh(f"ip netns del {n} 2>/dev/null", check=False)


def pods(switch_ports):
    """Creates the pod namespaces; with switch_ports, their peers go to vbb-sw."""
    for n in (NS_A, NS_B, NS_SW):
        sh(f"ip netns add {n}")
        sh(ns(n, "ip link set lo up"))
    if not switch_ports:
        sh(f"ip link add vbbA netns {NS_A} type veth peer name vbbB netns {NS_B}")
        sh(ns(NS_A, "ip link set vbbA name eth0"))
        sh(ns(NS_B, "ip link set vbbB name eth0"))
    else:
        for pod, port in ((NS_A, "vbb-pa"), (NS_B, "vbb-pb")):
            sh(f"ip link add vbbtmp netns {pod} type veth peer name {port} netns {NS_SW}")
            sh(ns(pod, "ip link set vbbtmp name eth0"))
            sh(ns(NS_SW, f"ip link set {port} up"))
    for pod, ip in ((NS_A, IP_A), (NS_B, IP_B)):
        sh(ns(pod, f"ip addr add {ip}/24 dev eth0"))
        sh(ns(pod, "ip link set eth0 up"))


PORTS = ["vbb-pa", "vbb-pb"]


class Direct:
    name = "direct"

    def up(self):
        pods(False)

    def down(self):
        pass

    def pids(self):
        return []


class LinuxBridge:
    name = "linux-bridge"

    def up(self):
        pods(True)
        sh(ns(NS_SW, "ip link add br0 type bridge"))
        for p in PORTS:
            sh(ns(NS_SW, f"ip link set {p} master br0"))
        sh(ns(NS_SW, "ip link set br0 up"))

    def down(self):
        pass

    def pids(self):
        return []


class Veb:
    def __init__(self, template, backend):
        self.template, self.backend = template, backend
        self.name = f"veb-{backend}"
        self.proc = None
        self.dir = None

    def up(self):
        pods(True)
        cmd = self.template.format(ports=" ".join(PORTS), backend=self.backend)
        self.dir = tempfile.mkdtemp(prefix="veb-bench.")
        self.proc = subprocess.Popen(shlex.split(ns(NS_SW, cmd)), stdout=subprocess.DEVNULL,
                                     stderr=open(f"/tmp/{self.name}.log", "w"),
                                     env=dict(os.environ, VEB_BENCH_DIR=self.dir))
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name}: switch exited {self.proc.returncode}, "
                               f"see /tmp/{self.name}.log")

    def down(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def pids(self):
        return [self.proc.pid] if self.proc else []


class Ovs:
    name = "ovs-netdev"

    def __init__(self):
        self.dir = "/tmp/vbb-ovs"

    @staticmethod
    def available():
        return all(os.path.exists(p) for p in
                   ("/usr/sbin/ovs-vswitchd", "/usr/sbin/ovsdb-server", "/usr/bin/ovs-vsctl"))

    def up(self):
        pods(True)
        sh(f"rm -rf {self.dir} && mkdir -p {self.dir}")
        d = self.dir
        env = f"OVS_RUNDIR={d} OVS_LOGDIR={d} OVS_DBDIR={d}"
        sh(f"ovsdb-tool create {d}/conf.db /usr/share/openvswitch/vswitch.ovsschema")
        sh(ns(NS_SW, f"env {env} ovsdb-server {d}/conf.db --remote=punix:{d}/db.sock "
                     f"--pidfile={d}/ovsdb.pid --detach --log-file={d}/ovsdb.log"))
        vsctl = f"ovs-vsctl --db=unix:{d}/db.sock"
        sh(f"{vsctl} --no-wait init")
        sh(f"{vsctl} --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true")
        sh(ns(NS_SW, f"env {env} ovs-vswitchd unix:{d}/db.sock --pidfile={d}/vswitchd.pid "
                     f"--detach --log-file={d}/vswitchd.log"))
        sh(f"{vsctl} add-br br0 -- set bridge br0 datapath_type=netdev")
        for p in PORTS:
            sh(f"{vsctl} add-port br0 {p}")
        sh(ns(NS_SW, "ip link set br0 up"), check=False)
        time.sleep(1.0)

    def down(self):
        for pidfile in ("vswitchd.pid", "ovsdb.pid"):
            sh(f"test -f {self.dir}/{pidfile} && kill $(cat {self.dir}/{pidfile})", check=False)
        time.sleep(0.5)

    def pids(self):
        try:
            return [int(open(f"{self.dir}/vswitchd.pid").read())]
        except OSError:
            return []


def busy_ns():
    """Whole-machine non-idle CPU time in ns (all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v[:8]) - idle) * 1e9 / hz


def proc_cpu_ns(pids):
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) * 1e9 / hz
        except OSError:
            pass
    return total


def iperf(args, duration):
    srv = subprocess.Popen(shlex.split(ns(NS_B, "iperf3 -s -1 -B " + IP_B)),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    try:
        out = sh(ns(NS_A, f"iperf3 -c {IP_B} -t {duration} -J {args}"), capture=True,
                 timeout=duration + 30)
        return json.loads(out)
    finally:
        srv.kill()
        srv.wait()


def measure(cfg, duration):
    r = {}
    # Warm up: ARP and learning.
    sh(ns(NS_A, f"ping -c 3 -i 0.2 -W 1 {IP_B}"), timeout=10)
    tcp = iperf("", duration)
    r["tcp_gbps"] = tcp["end"]["sum_received"]["bits_per_second"] / 1e9
    # 64-byte frames: 14 Ethernet + 20 IP + 8 UDP + 18 payload + 4 FCS.
    b0, p0 = busy_ns(), proc_cpu_ns(cfg.pids())
    udp = iperf("-u -l 18 -b 0", duration)
    b1, p1 = busy_ns(), proc_cpu_ns(cfg.pids())
    s = udp["end"]["sum"]
    secs = s["seconds"]
    sent = s["packets"]
    delivered = sent - s["lost_packets"]
    r["udp_offered_kpps"] = sent / secs / 1e3
    r["udp_delivered_kpps"] = delivered / secs / 1e3
    r["udp_loss_pct"] = s["lost_percent"]
    r["cpu_ns_per_pkt"] = (b1 - b0) / max(delivered, 1)
    r["switch_cpu_pct"] = (p1 - p0) / (secs * 1e9) * 100 if cfg.pids() else 0.0
    # UDP request/response latency through the switch.
    echo = subprocess.Popen(shlex.split(ns(NS_B, f"{sys.executable} {__file__} --udp-echo {IP_B}")))
    time.sleep(0.3)
    try:
        out = sh(ns(NS_A, f"{sys.executable} {__file__} --udp-rr {IP_B}"), capture=True, timeout=60)
        p50, p99 = (float(x) for x in out.split())
        r["rr_p50_us"], r["rr_p99_us"] = p50, p99
    finally:
        echo.kill()
        echo.wait()
    out = sh(ns(NS_A, f"ping -c 200 -i 0.005 -q {IP_B}"), capture=True, timeout=30)
    r["icmp_rtt_us"] = float(out.strip().splitlines()[-1].split("=")[1].split("/")[1]) * 1000
    if cfg.pids():
        c0 = proc_cpu_ns(cfg.pids())
        time.sleep(3)
        r["idle_cpu_pct"] = (proc_cpu_ns(cfg.pids()) - c0) / 3e9 * 100
    return r


def udp_echo(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 9999))
    s.settimeout(30)
    while True:
        try:
            data, addr = s.recvfrom(2048)
        except socket.timeout:
            return
        s.sendto(data, addr)


def udp_rr(ip, n=5000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    rtts = []
    payload = b"x" * 18
    for _ in range(n):
        t0 = time.perf_counter_ns()
        s.sendto(payload, (ip, 9999))
        try:
            s.recvfrom(2048)
        except socket.timeout:
            continue
        rtts.append((time.perf_counter_ns() - t0) / 1000)
    rtts.sort()
    print(rtts[len(rtts) // 2], rtts[int(len(rtts) * 0.99)])


COLUMNS = [
    ("tcp_gbps", "TCP Gbit/s", True),
    ("udp_offered_kpps", "UDP64 offered kpps", True),
    ("udp_delivered_kpps", "UDP64 delivered kpps", True),
    ("udp_loss_pct", "UDP64 loss %", False),
    ("cpu_ns_per_pkt", "CPU ns/pkt", False),
    ("rr_p50_us", "RR p50 µs", False),
    ("rr_p99_us", "RR p99 µs", False),
    ("icmp_rtt_us", "ICMP RTT µs", False),
    ("switch_cpu_pct", "switch CPU % (UDP run)", False),
    ("idle_cpu_pct", "switch idle CPU %", False),
]


def table(results, anchor="linux-bridge"):
    med = {c: {k: statistics.median(v[k] for v in runs) for k, _, _ in COLUMNS if k in runs[0]}
           for c, runs in results.items() if runs}
    lines = ["| metric | " + " | ".join(med) + " |", "|---|" + "---|" * len(med)]
    for key, label, _ in COLUMNS:
        cells = []
        for c in med:
            v = med[c].get(key)
            if v is None:
                cells.append("—")
                continue
            a = med.get(anchor, {}).get(key)
            ratio = f" ({v / a:.2f}×)" if a and c != anchor and key not in ("udp_loss_pct",) else ""
            cells.append(f"{v:.3g}{ratio}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--veb-cmd", default=f"bash {HERE}/run_veb.sh {{backend}} {{ports}}",
                    help="switch command template with {ports} and {backend}")
    ap.add_argument("--veb-backends", default="af_packet,af_xdp,af_packet-rt",
                    help="comma-separated; a -rt suffix runs the workers under SCHED_FIFO")
    ap.add_argument("--no-veb", action="store_true")
    ap.add_argument("--no-ovs", action="store_true")
    ap.add_argument("--markdown", default="")
    ap.add_argument("--udp-echo")
    ap.add_argument("--udp-rr")
    a = ap.parse_args()
    if a.udp_echo:
        return udp_echo(a.udp_echo)
    if a.udp_rr:
        return udp_rr(a.udp_rr)
    if os.geteuid() != 0:
        sys.exit("veth_bench: must run as root")
    configs = [Direct(), LinuxBridge()]
    if not a.no_veb:
        configs += [Veb(a.veb_cmd, b) for b in a.veb_backends.split(",") if b]
    if not a.no_ovs and Ovs.available():
        configs.append(Ovs())
    results = {c.name: [] for c in configs}
    cleanup()
    try:
        for rep in range(a.reps):
            for cfg in configs:
                print(f"rep {rep + 1}/{a.reps}: {cfg.name}", file=sys.stderr, flush=True)
                try:
                    cfg.up()
                    results[cfg.name].append(measure(cfg, a.duration))
                except Exception as e:  # noqa: BLE001 - report and go on with the rest
                    print(f"  {cfg.name} failed: {e}", file=sys.stderr)
                finally:
                    cfg.down()
                    cleanup()
    finally:
        cleanup()
    out = table(results)
    info = (f"{a.reps} interleaved repetitions, {a.duration} s loads, medians; "
            f"ratios against linux-bridge. {os.cpu_count()} cores, kernel {os.uname().release}.")
    print(info)
    print(out)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(info + "\n\n" + out + "\n")


if __name__ == "__main__":
    main()
