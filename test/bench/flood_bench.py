#!/usr/bin/env python3
"""Broadcast to many ports (issue 11): delivered copies per second.

Topology, rebuilt for every run: --ports pods (namespaces vbf-p0..), each with
a veth eth0 whose peer vbf-s<i> is a port of the switch in namespace vbf-sw.
IPv6 is off in every namespace, no addresses: the only traffic is the load.
Pod 0 sends 60-byte (64 on the wire) broadcast frames (ethertype 0x88b5, the
local experimental one) with trafgen for --duration seconds, at full speed or
at --rate pps; every other pod's eth0 should receive one copy of each.

Configurations, interleaved (A B C A B C ...), --reps times:
  linux-bridge  the kernel bridge in vbf-sw
  veb-<variant> vebd (test/bench/run_veb.sh) for each of --veb-backends
                (default kernel,af_packet: the kernel engine and the
                userspace one)
  ovs-netdev    Open vSwitch's userspace datapath; skipped when not installed

Per run, from interface counters (/proc/net/dev read inside each namespace,
before and after the load; the load is the only traffic):
  offered kpps           frames pod 0's eth0 sent / load seconds (trafgen's
                         rate: when it is below the others' capacity, the
                         generator, not the switch, is the limit)
  switch input kpps      frames the switch's port vbf-s0 received
  delivered Mcopies/s    sum of rx_packets of the receivers' eth0 / load
                         seconds (copies still in flight when the load stops
                         are counted: the counters are read after 0.5 s)
  copies per frame       delivered copies / offered frames (ideal: ports - 1)
  CPU ns per copy        whole-machine busy time (/proc/stat) / copies
  switch CPU %           the switch process (veb, OVS), one core = 100 %
Prints a markdown table of medians with ratios to linux-bridge.
Root; only its own namespaces (vbf-*), removed on exit, also on errors.

  test/bench/flood_bench.py [--ports 64] [--reps 3] [--duration 5] [--markdown F]
"""
import argparse
import ctypes
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SW = "vbf-sw"
SRC_MAC = "02:5e:0f:00:00:01"


def pod(i):
    return f"vbf-p{i}"


def port(i):
    return f"vbf-s{i}"


def sh(cmd, check=True, capture=False, timeout=120):
    r = subprocess.run(cmd, shell=True, check=False, timeout=timeout,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {cmd}\n{r.stderr}")
    return r.stdout if capture else r.returncode


def batch(netns, lines):
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        sh(f"ip {'-n ' + netns if netns else ''} -batch {f.name}", timeout=300)
    finally:
        os.unlink(f.name)


def namespaces(n):
    return [SW] + [pod(i) for i in range(n)]


def cleanup(n):
    for name in namespaces(n):
        if os.path.exists(f"/run/netns/{name}"):
            sh(f"ip netns pids {name} | xargs -r kill -9", check=False)
            sh(f"ip netns del {name}", check=False)


def topology(n):
    script = []
    for name in namespaces(n):
        script.append(f"ip netns add {name}")
        # Silent namespaces: no IPv6 neighbour discovery or MLD to flood.
        script.append(f"ip netns exec {name} sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6;"
                      f" echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'")
    sh("set -e; " + "; ".join(script), timeout=300)
    batch(None, [f"link add {port(i)} netns {SW} type veth peer name eth0 netns {pod(i)}"
                 for i in range(n)])
    batch(SW, [f"link set {port(i)} up" for i in range(n)])
    sh("set -e; " + "; ".join(f"ip -n {pod(i)} link set eth0 up" for i in range(n)))


# --- counters: /proc/net/dev read from inside each namespace (setns) --------------
_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def counters(names_devs):
    """{(netns, dev): (rx_packets, tx_packets)} for the given pairs."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    out = {}
    try:
        for netns in sorted({n for n, _ in names_devs}):
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            with open("/proc/self/net/dev") as f:
                for line in f.readlines()[2:]:
                    dev, data = line.split(":", 1)
                    v = data.split()
                    if (netns, dev.strip()) in names_devs:
                        out[(netns, dev.strip())] = (int(v[1]), int(v[9]))
    finally:
        _setns(own)
        os.close(own)
    return out


def busy_ns():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) * 1e9 / os.sysconf("SC_CLK_TCK")


def proc_cpu_ns(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) * 1e9 / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


# --- switches ---------------------------------------------------------------------
class LinuxBridge:
    name = "linux-bridge"

    def up(self, n):
        batch(SW, ["link add br0 type bridge"] + [f"link set {port(i)} master br0"
                                                  for i in range(n)] + ["link set br0 up"])

    def down(self):
        pass

    def pids(self):
        return []


class Veb:
    def __init__(self, template, backend):
        self.template, self.backend = template, backend
        self.name = f"veb-{backend}"
        self.proc, self.dir = None, None

    def up(self, n):
        self.dir = tempfile.mkdtemp(prefix="vbf-veb.")
        cmd = self.template.format(backend=self.backend,
                                   ports=" ".join(port(i) for i in range(n)))
        log = f"/tmp/vbf-{self.name}.log"
        self.proc = subprocess.Popen(["ip", "netns", "exec", SW] + shlex.split(cmd),
                                     stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                                     env=dict(os.environ, VEB_BENCH_DIR=self.dir))
        vebctl = f"{ROOT}/bazel-bin/cli/vebctl --socket={self.dir}/vebd.sock -o json veb0 show"
        deadline = time.time() + 60
        while time.time() < deadline:
            text = open(log).read()
            if self.proc.poll() is not None or "vebd: config:" in text:
                raise RuntimeError(f"{self.name}: vebd did not start the bridge: "
                                   + text.strip()[-1500:])
            out = subprocess.run(vebctl, shell=True, capture_output=True, text=True)
            if out.returncode == 0 and f'"port_count":{n},' in out.stdout.replace(" ", ""):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: the {n} ports were not attached within 60 s")

    def down(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def pids(self):
        # `ip netns exec` execs the command in place; run_veb.sh execs vebd.
        return [self.proc.pid] if self.proc else []


class Ovs:
    name = "ovs-netdev"
    DIR = "/tmp/vbf-ovs"

    @staticmethod
    def available():
        return all(os.path.exists(p) for p in
                   ("/usr/sbin/ovs-vswitchd", "/usr/sbin/ovsdb-server", "/usr/bin/ovs-vsctl"))

    def up(self, n):
        d = self.DIR
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        env = f"OVS_RUNDIR={d} OVS_LOGDIR={d} OVS_DBDIR={d}"
        sh(f"ovsdb-tool create {d}/conf.db /usr/share/openvswitch/vswitch.ovsschema")
        sh(f"ip netns exec {SW} env {env} ovsdb-server {d}/conf.db --remote=punix:{d}/db.sock "
           f"--pidfile={d}/ovsdb.pid --detach --log-file={d}/ovsdb.log")
        vsctl = f"ovs-vsctl --db=unix:{d}/db.sock"
        sh(f"{vsctl} --no-wait init")
        sh(f"{vsctl} --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true")
        sh(f"ip netns exec {SW} env {env} ovs-vswitchd unix:{d}/db.sock "
           f"--pidfile={d}/vswitchd.pid --detach --log-file={d}/vswitchd.log")
        sh(f"{vsctl} add-br br0 -- set bridge br0 datapath_type=netdev "
           + " ".join(f"-- add-port br0 {port(i)}" for i in range(n)), timeout=120)
        sh(f"ip -n {SW} link set br0 up", check=False)
        time.sleep(1.0)

    def down(self):
        for pidfile in ("vswitchd.pid", "ovsdb.pid"):
            sh(f"test -f {self.DIR}/{pidfile} && kill $(cat {self.DIR}/{pidfile})", check=False)
        time.sleep(0.5)
        shutil.rmtree(self.DIR, ignore_errors=True)

    def pids(self):
        try:
            return [int(open(f"{self.DIR}/vswitchd.pid").read())]
        except OSError:
            return []


def measure(cfg, n, duration, rate):
    recv = {(pod(i), "eth0") for i in range(1, n)}
    keys = recv | {(pod(0), "eth0"), (SW, port(0))}
    time.sleep(0.5)
    c0, b0, p0 = counters(keys), busy_ns(), proc_cpu_ns(cfg.pids())
    mac = ",".join(f"0x{b}" for b in SRC_MAC.split(":"))
    frame = f"{{ fill(0xff, 6), {mac}, c16(0x88b5), fill(0x00, 46) }}"
    gen = (f"ip netns exec {pod(0)} timeout -s INT {duration} trafgen -o eth0 --cpus 1 --no-sock-mem --notouch-irq --no-cpu-stats "
           + (f"-b {rate}pps " if rate else "") + shlex.quote(frame))
    t0 = time.monotonic()
    rc = sh(gen, check=False, timeout=duration + 30)
    if rc not in (0, 124):  # timeout(1) ends it: 124
        raise RuntimeError(f"trafgen failed ({rc}): {gen}")
    secs = time.monotonic() - t0
    b1, p1 = busy_ns(), proc_cpu_ns(cfg.pids())
    time.sleep(0.5)  # copies still queued in the switch reach the receivers
    c1 = counters(keys)
    missing = keys - c1.keys()
    if missing:
        raise RuntimeError(f"counters missing for {sorted(missing)[:3]}")
    d = {k: (c1[k][0] - c0[k][0], c1[k][1] - c0[k][1]) for k in keys}
    offered = d[(pod(0), "eth0")][1]
    if offered == 0:
        raise RuntimeError("trafgen sent nothing")
    copies = sum(d[k][0] for k in recv)
    per_rx = sorted(d[k][0] for k in recv)
    return {
        "offered_kpps": offered / secs / 1e3,
        "switch_in_kpps": d[(SW, port(0))][0] / secs / 1e3,
        "copies_mps": copies / secs / 1e6,
        "copies_per_frame": copies / offered,
        "min_rx_share": per_rx[0] / offered,
        "cpu_ns_per_copy": (b1 - b0) / max(copies, 1),
        "switch_cpu_pct": (p1 - p0) / (secs * 1e9) * 100,
    }


COLUMNS = [
    ("offered_kpps", "sender offered kpps (trafgen)"),
    ("switch_in_kpps", "switch input kpps (sender's port rx)"),
    ("copies_mps", "delivered copies M/s (sum of receivers' rx)"),
    ("copies_per_frame", "copies per offered frame"),
    ("min_rx_share", "least-served receiver: share of offered frames"),
    ("cpu_ns_per_copy", "whole-machine CPU ns per copy"),
    ("switch_cpu_pct", "switch process CPU %"),
]
NO_RATIO = {"copies_per_frame", "min_rx_share"}


def table(results, anchor="linux-bridge"):
    med = {c: {k: statistics.median(r[k] for r in runs) for k, _ in COLUMNS}
           for c, runs in results.items() if runs}
    if not med:
        return "(no results: every run failed)"
    lines = ["| metric | " + " | ".join(med) + " |", "|---|" + "---|" * len(med)]
    for key, label in COLUMNS:
        cells = []
        for c in med:
            v, a = med[c][key], med.get(anchor, {}).get(key)
            ratio = f" ({v / a:.2f}×)" if a and c != anchor and key not in NO_RATIO else ""
            cells.append(f"{v:.3g}{ratio}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ports", type=int, default=64, help="pods, the sender included")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds of load per run")
    ap.add_argument("--rate", type=int, default=0, help="sender pps; 0 = as fast as it can")
    ap.add_argument("--veb-cmd", default=f"bash {HERE}/run_veb.sh {{backend}} {{ports}}")
    ap.add_argument("--veb-backends", default="kernel,af_packet")
    ap.add_argument("--no-bridge", action="store_true")
    ap.add_argument("--no-ovs", action="store_true")
    ap.add_argument("--markdown", default="")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("flood_bench: must run as root")
    if a.ports < 2 or a.ports > 1000:
        sys.exit(f"flood_bench: --ports {a.ports}: must be 2..1000")
    if not shutil.which("trafgen"):
        sys.exit("flood_bench: trafgen not found (Debian package netsniff-ng; scripts/setup.sh)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("flood_bench: terminated"))
    configs = [] if a.no_bridge else [LinuxBridge()]
    configs += [Veb(a.veb_cmd, b) for b in a.veb_backends.split(",") if b]
    if not a.no_ovs and Ovs.available():
        configs.append(Ovs())
    results = {c.name: [] for c in configs}
    cleanup(a.ports)
    try:
        for rep in range(a.reps):
            for cfg in configs:
                print(f"rep {rep + 1}/{a.reps}: {cfg.name}", file=sys.stderr, flush=True)
                try:
                    topology(a.ports)
                    cfg.up(a.ports)
                    r = measure(cfg, a.ports, a.duration, a.rate)
                    results[cfg.name].append(r)
                    print("  " + ", ".join(f"{k} {v:.3g}" for k, v in r.items()),
                          file=sys.stderr, flush=True)
                except Exception as e:  # noqa: BLE001 - report and go on with the rest
                    print(f"  {cfg.name} failed: {e}", file=sys.stderr)
                finally:
                    cfg.down()
                    cleanup(a.ports)
    finally:
        cleanup(a.ports)
    info = (f"Broadcast from 1 pod to {a.ports - 1} (64-byte frames, trafgen "
            f"{'at ' + str(a.rate) + ' pps' if a.rate else 'at full speed'}); {a.reps} "
            f"interleaved repetitions, {a.duration} s loads, medians; ratios against "
            f"linux-bridge. {os.cpu_count()} cores, kernel {os.uname().release}.")
    failed = [c.name for c in configs if len(results[c.name]) < a.reps]
    if failed:
        info += f"\nIncomplete (a run failed, see stderr): {', '.join(failed)}."
    out = table(results)
    print(info)
    print(out)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(info + "\n\n" + out + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
