#!/usr/bin/env python3
"""Side-by-side switch benchmark on one veth topology (issue 3).

Two pods (network namespaces vbb-a, vbb-b, 10.99.9.1/2) are joined through a
switch that lives in its own namespace (vbb-sw), so nothing touches the host's
interfaces. Configurations, run interleaved (A B C A B C ...), --reps times:

  direct        a veth pair straight between the pods (the physical limit)
  linux-bridge  the kernel bridge in vbb-sw
  veb-<backend> veb in vbb-sw for each of --veb-backends (default kernel:
                the kernel engine, a BPF program at TC ingress of each port,
                and af_packet: the userspace engine; also selectable af_xdp,
                af_packet-rt: real-time workers), started by --veb-cmd (a
                template with {ports} and {backend}; default run_veb.sh:
                bazel-bin/server/vebd with a startup config); --no-veb leaves
                veb out
  ovs-netdev    Open vSwitch's userspace datapath (datapath_type=netdev,
                userspace TSO on), own db, in vbb-sw; skipped when not installed

Per run: single-stream TCP (iperf3), 64-byte UDP (iperf3 at full speed:
offered and delivered packets/s, loss), UDP request/response latency p50/p99,
ICMP RTT, and whole-machine CPU per delivered 64-byte packet (/proc/stat over
the UDP run). Prints a table of medians with ratios to linux-bridge.

--scenario rules ("the full rule set on", issue 11): linux-bridge and the veb
variants only, single-stream TCP only, with on each pod port 10 rules per
direction that never match the test traffic (block frames from/to other MACs,
ARP requests from other addresses: every rule is evaluated), the pod ports VLAN
trunk members (PVID 10 untagged, VIDs 20-29 tagged; the pods send untagged
frames: no 8021q here) and a span port (vbb-span, an extra veth in vbb-sw whose
peer counts the copies). The bridge gets the same: ebtables (nf_tables bridge
family) rules on FORWARD per in/out port, a tc mirred mirror of both pod
ports' ingress to vbb-span, and VLAN filtering with the same VLANs when the
kernel has it (the output says which).

Every load is bounded in time; namespaces are removed on exit, also on errors.
Run as root, after `bazel build //server:vebd`:
  test/bench/veth_bench.py --reps 3 [--markdown F]
  test/bench/veth_bench.py --scenario rules --reps 3 [--markdown F]
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


def pods(switch_ports, span=False):
    """Creates the pod namespaces; with switch_ports, their peers go to vbb-sw;
    with span, also the span port pair vbb-span/vbb-spanp in vbb-sw."""
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
        if span:
            sh(f"ip link add {SPAN} netns {NS_SW} type veth peer name {SPAN}p netns {NS_SW}")
            sh(ns(NS_SW, f"ip link set {SPAN}p up"))
            sh(ns(NS_SW, f"ip link set {SPAN} up"))
    for pod, ip in ((NS_A, IP_A), (NS_B, IP_B)):
        sh(ns(pod, f"ip addr add {ip}/24 dev eth0"))
        sh(ns(pod, "ip link set eth0 up"))


PORTS = ["vbb-pa", "vbb-pb"]
SPAN = "vbb-span"
PVID, TAGGED = 10, list(range(20, 30))
# How the bridge of the rules scenario was configured (set by its up()).
BRIDGE_RULES_NOTE = []


def other_mac(port_index, i):
    """A MAC no pod uses (locally administered)."""
    return f"02:5e:00:{port_index:02x}:00:{i:02x}"


def rule_set(port_index):
    """The scenario's 10 rules per direction for one port, as
    (direction, kind, value): kind src/dst = a MAC, arp = an ARP request's
    sender IP. None matches the TCP test traffic, so all are evaluated."""
    rules = []
    for d, base in (("in", 0), ("out", 0x40)):
        rules += [(d, "src", other_mac(port_index, base + i)) for i in range(5)]
        rules += [(d, "dst", other_mac(port_index, base + 0x10 + i)) for i in range(3)]
        rules += [(d, "arp", f"192.168.{77 + port_index}.{base + i + 1}") for i in range(2)]
    return rules


def veb_rules_extra(path):
    """VEB_BENCH_EXTRA for run_veb.sh: the rule set, VLAN trunk, span port."""
    rules = []
    for i, port in enumerate(PORTS):
        for d, kind, value in rule_set(i):
            r = {"action": "RULE_ACTION_BLOCK",
                 "direction": "RULE_DIRECTION_IN" if d == "in" else "RULE_DIRECTION_OUT"}
            if kind == "arp":
                r["arp"] = {"kind": "ARP_KIND_ARP", "opcode": "ARP_OPCODE_REQUEST", "spa": value}
            else:
                r[kind] = value
            rules.append({"bridge": "veb0", "port": port, "rule": r})
    extra = {"portSettings": {"pvid": {"vid": PVID}, "taggedVids": {"vids": TAGGED}},
             "rules": rules, "spanPorts": [{"bridge": "veb0", "name": SPAN}]}
    with open(path, "w") as f:
        json.dump(extra, f)


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

    def __init__(self, rules=False):
        self.rules = rules

    def up(self):
        pods(True, span=self.rules)
        sh(ns(NS_SW, "ip link add br0 type bridge"))
        for p in PORTS:
            sh(ns(NS_SW, f"ip link set {p} master br0"))
        if self.rules:
            self.add_rules()
        sh(ns(NS_SW, "ip link set br0 up"))

    def add_rules(self):
        note = []
        if sh(ns(NS_SW, "ip link set br0 type bridge vlan_filtering 1"), check=False) == 0:
            for p in PORTS:
                sh(ns(NS_SW, f"bridge vlan del dev {p} vid 1"))
                sh(ns(NS_SW, f"bridge vlan add dev {p} vid {PVID} pvid untagged"))
                sh(ns(NS_SW, f"bridge vlan add dev {p} vid {TAGGED[0]}-{TAGGED[-1]}"))
            note.append(f"VLAN filtering (PVID {PVID}, tagged {TAGGED[0]}-{TAGGED[-1]})")
        else:
            note.append("no VLAN filtering (this kernel's bridge lacks it)")
        lines = []
        for i, p in enumerate(PORTS):
            for d, kind, value in rule_set(i):
                m = f"-i {p}" if d == "in" else f"-o {p}"
                if kind == "arp":
                    m += f" -p ARP --arp-op Request --arp-ip-src {value}"
                else:
                    m += f" -{kind[0]} {value}"
                lines.append(f"ebtables -A FORWARD {m} -j DROP")
        if sh(ns(NS_SW, "ebtables -L FORWARD"), check=False) == 0:
            sh(ns(NS_SW, "sh -ec " + shlex.quote("; ".join(lines))))
            n = sh(ns(NS_SW, "ebtables -L FORWARD"), capture=True).count("-j DROP")
            if n != len(lines):
                raise RuntimeError(f"linux-bridge: {n} ebtables rules installed, not {len(lines)}")
            note.append(f"{n} ebtables rules (FORWARD, 10 per direction per port)")
        else:
            note.append("no ebtables (rules not set)")
        for p in PORTS:
            sh(ns(NS_SW, f"tc qdisc add dev {p} clsact"))
            sh(ns(NS_SW, f"tc filter add dev {p} ingress u32 match u32 0 0 "
                         f"action mirred egress mirror dev {SPAN}"))
        note.append(f"span: tc mirred mirror of the pod ports' ingress to {SPAN}")
        BRIDGE_RULES_NOTE[:] = note

    def down(self):
        pass

    def pids(self):
        return []


class Veb:
    def __init__(self, template, backend, rules=False):
        self.template, self.backend, self.rules = template, backend, rules
        self.name = f"veb-{backend}"
        self.proc = None
        self.dir = None

    def up(self):
        pods(True, span=self.rules)
        cmd = self.template.format(ports=" ".join(PORTS), backend=self.backend)
        self.dir = tempfile.mkdtemp(prefix="veb-bench.")
        env = dict(os.environ, VEB_BENCH_DIR=self.dir)
        if self.rules:
            env["VEB_BENCH_EXTRA"] = f"{self.dir}/extra.json"
            veb_rules_extra(env["VEB_BENCH_EXTRA"])
        self.proc = subprocess.Popen(shlex.split(ns(NS_SW, cmd)), stdout=subprocess.DEVNULL,
                                     stderr=open(f"/tmp/{self.name}.log", "w"), env=env)
        # Up once it answers health (a loaded machine may take seconds), at
        # most 15 s.
        health = f"{HERE}/../../bazel-bin/cli/vebctl --socket={self.dir}/vebd.sock health"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.proc.poll() is None:
            if sh(health, check=False, timeout=10) == 0:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # the startup config's ports attached
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name}: switch exited {self.proc.returncode}, "
                               f"see /tmp/{self.name}.log")
        log = open(f"/tmp/{self.name}.log").read()
        if "vebd: config:" in log:  # vebd serves on, but the startup config failed
            raise RuntimeError(f"{self.name}: {log.strip()[-1000:]}")
        if self.rules:
            self.check_rules()

    def check_rules(self):
        """The rule set, VLANs and span port are what the scenario says."""
        vebctl = f"{HERE}/../../bazel-bin/cli/vebctl --socket={self.dir}/vebd.sock -o json veb0"
        show = json.loads(sh(f"{vebctl} show", capture=True))
        spans = [s["name"] for s in show.get("span_ports", {}).get("span_ports", [])]
        if spans != [SPAN]:
            raise RuntimeError(f"{self.name}: span ports {spans}, not [{SPAN}]")
        ports = show.get("ports", {}).get("ports", [])
        if sorted(p["name"] for p in ports) != sorted(PORTS):
            raise RuntimeError(f"{self.name}: ports {[p['name'] for p in ports]}")
        for i, p in enumerate(ports):
            want = len(rule_set(i))
            if (p.get("rule_count") != want or p.get("pvid", {}).get("vid") != PVID
                    or p.get("tagged_vids") != TAGGED):
                raise RuntimeError(f"{self.name}: port {p['name']} has {p.get('rule_count')} "
                                   f"rules (want {want}), pvid {p.get('pvid')}, "
                                   f"tagged {p.get('tagged_vids')}")

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


def rx_packets(netns, dev):
    return int(sh(ns(netns, f"cat /sys/class/net/{dev}/statistics/rx_packets"), capture=True))


def measure_rules(cfg, duration):
    """Single-stream TCP with the rule set, VLANs and span port on; the span
    copies are counted at the span port's peer (proof the span works)."""
    sh(ns(NS_A, f"ping -c 3 -i 0.2 -W 1 {IP_B}"), timeout=10)
    s0 = rx_packets(NS_SW, SPAN + "p")
    tcp = iperf("", duration)
    s1 = rx_packets(NS_SW, SPAN + "p")
    secs = tcp["end"]["sum_received"]["seconds"]
    return {"tcp_gbps": tcp["end"]["sum_received"]["bits_per_second"] / 1e9,
            "span_kpps": (s1 - s0) / secs / 1e3}


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


RULES_COLUMNS = [
    ("tcp_gbps", "TCP Gbit/s (rules, VLAN trunk, span on)", True),
    ("span_kpps", "span copies kpps (during TCP)", True),
]


def report(info, out, results, reps, markdown):
    """Prints the run's description and its table, and writes both to
    `markdown` when given; names the configurations with fewer than `reps`
    results. Returns the exit status: 1 when one is incomplete."""
    failed = [name for name, runs in results.items() if len(runs) < reps]
    if failed:
        info += f"\nIncomplete (a run failed, see stderr): {', '.join(failed)}."
    print(info)
    print(out)
    if markdown:
        with open(markdown, "w") as f:
            f.write(info + "\n\n" + out + "\n")
    return 1 if failed else 0


def table(results, anchor="linux-bridge", columns=COLUMNS):
    med = {c: {k: statistics.median(v[k] for v in runs) for k, _, _ in columns if k in runs[0]}
           for c, runs in results.items() if runs}
    if not med:
        return "(no results: every run failed)"
    lines = ["| metric | " + " | ".join(med) + " |", "|---|" + "---|" * len(med)]
    for key, label, _ in columns:
        cells = []
        for c in med:
            v = med[c].get(key)
            if v is None:
                cells.append("—")
                continue
            a = med.get(anchor, {}).get(key)
            ratio = f" ({v / a:.2f}×)" if a and c != anchor and not key.startswith("udp_loss_pct") else ""
            cells.append(f"{v:.3g}{ratio}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    direct = med.get("direct", {}).get("tcp_gbps")
    if direct:  # issue 11: TCP >= 0.95x the direct veth pair
        lines.append("| TCP vs direct | " + " | ".join(
            f"{med[c]['tcp_gbps'] / direct:.2f}×" if "tcp_gbps" in med[c] else "—"
            for c in med) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--veb-cmd", default=f"bash {HERE}/run_veb.sh {{backend}} {{ports}}",
                    help="switch command template with {ports} and {backend}")
    ap.add_argument("--veb-backends", default="kernel,af_packet",
                    help="comma-separated: kernel (the kernel engine), af_packet, af_xdp; "
                         "a -rt suffix runs the userspace workers under SCHED_FIFO")
    ap.add_argument("--scenario", choices=("standard", "rules"), default="standard",
                    help="rules: TCP with the full rule set, VLAN trunk and span port on")
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
    # A SIGTERM (e.g. from timeout(1)) unwinds through the cleanup too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("veth_bench: terminated"))
    rules = a.scenario == "rules"
    configs = [LinuxBridge(rules)] if rules else [Direct(), LinuxBridge()]
    if not a.no_veb:
        configs += [Veb(a.veb_cmd, b, rules) for b in a.veb_backends.split(",") if b]
    if not a.no_ovs and Ovs.available() and not rules:
        configs.append(Ovs())
    results = {c.name: [] for c in configs}
    cleanup()
    try:
        for rep in range(a.reps):
            for cfg in configs:
                print(f"rep {rep + 1}/{a.reps}: {cfg.name}", file=sys.stderr, flush=True)
                try:
                    cfg.up()
                    results[cfg.name].append((measure_rules if rules else measure)(cfg, a.duration))
                except Exception as e:  # noqa: BLE001 - report and go on with the rest
                    print(f"  {cfg.name} failed: {e}", file=sys.stderr)
                finally:
                    cfg.down()
                    cleanup()
    finally:
        cleanup()
    out = table(results, columns=RULES_COLUMNS if rules else COLUMNS)
    info = (f"{a.reps} interleaved repetitions, {a.duration} s loads, medians; "
            f"ratios against linux-bridge. {os.cpu_count()} cores, kernel {os.uname().release}.")
    if rules:
        info += (f"\nScenario rules: per pod port 10 rules per direction (none matching), "
                 f"PVID {PVID} + tagged {TAGGED[0]}-{TAGGED[-1]}, span port {SPAN}. "
                 f"linux-bridge: " + ("; ".join(BRIDGE_RULES_NOTE) or "not measured") + ".")
    return report(info, out, results, a.reps, a.markdown)


if __name__ == "__main__":
    sys.exit(main())
