#!/usr/bin/env python3
"""Scale benchmark for veb's real ports (issue 3): many idle ports attached.

Topology: namespace <p>-sw holds vebd and every switch-side veth end; pods
<p>-a and <p>-b (10.98.0.1/2) are the active pair; N idle veth pairs have their
other ends in <p>-idle. vebd takes every switch-side end as a port of bridge
veb0 from a startup config: with --engine userspace (default) an AF_PACKET
port, with --engine kernel a port of a kernel-engine bridge (the BPF program
at TC ingress, no backend given).

Interleaved, --reps times: vebd with the 2 active ports only, then with the
2 + N ports. Per run: the 64-byte UDP rate between a and b (iperf3 at full
speed, delivered packets/s), vebd's RSS and the memory of the BPF maps vebd
holds (memlock of its map fds: the kernel engine's tables live there, not in
RSS). With N ports it then fills the MAC table with --addresses learned
addresses (frames with distinct source MACs sent from pod a through a packet
socket) and reports the rate, RSS and map memory again.
Prints a markdown table of medians. Root; only its own namespaces.

  test/bench/scale_bench.py [--engine kernel|userspace] [--ports 1000] [--addresses 100000] [--reps 3]
"""
import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
P = f"vsc{os.getpid() % 10000}"
SW, A, B, IDLE = f"{P}-sw", f"{P}-a", f"{P}-b", f"{P}-idle"
IP_A, IP_B = "10.98.0.1", "10.98.0.2"


def sh(cmd, check=True, capture=False, timeout=120):
    r = subprocess.run(cmd, shell=True, check=check, timeout=timeout,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE if capture else subprocess.DEVNULL, text=True)
    return r.stdout if capture else ""


def setup(n):
    for ns in (SW, A, B, IDLE):
        sh(f"ip netns add {ns}")
        # Idle means idle: no IPv6 neighbour discovery or MLD chatter, which
        # the switch would flood to every one of the N ports.
        for conf in ("all", "default"):
            sh(f"ip netns exec {ns} sysctl -qw net.ipv6.conf.{conf}.disable_ipv6=1")
    for pod, ip, port in ((A, IP_A, "sa"), (B, IP_B, "sb")):
        sh(f"ip -n {SW} link add {port} type veth peer name eth0 netns {pod}")
        sh(f"ip -n {SW} link set {port} up")
        sh(f"ip -n {pod} addr add {ip}/24 dev eth0")
        sh(f"ip -n {pod} link set eth0 up")
        sh(f"ip -n {pod} link set lo up")
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
        for i in range(n):
            f.write(f"link add i{i} type veth peer name o{i} netns {IDLE}\n")
            f.write(f"link set i{i} up\n")
        batch = f.name
    sh(f"ip -n {SW} -batch {batch}", timeout=600)
    os.unlink(batch)
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
        for i in range(n):
            f.write(f"link set o{i} up\n")
        batch = f.name
    sh(f"ip -n {IDLE} -batch {batch}", timeout=600)
    os.unlink(batch)


def teardown():
    for ns in (SW, A, B, IDLE):
        sh(f"ip netns del {ns}", check=False)


ENGINES = {"userspace": "ENGINE_USERSPACE", "kernel": "ENGINE_KERNEL"}


def start_vebd(tmp, ports, max_addresses, engine):
    cfg = {"bridges": [{"name": "veb0", "engine": ENGINES[engine],
                        "settings": {"maxAddresses": max_addresses}}],
           "ports": [{"bridge": "veb0", "name": p} for p in ports]}
    with open(f"{tmp}/config.json", "w") as f:
        json.dump(cfg, f)
    sock = f"{tmp}/vebd.sock"
    # `ip netns exec` gives vebd a private mount namespace with a fresh /sys:
    # bpffs is mounted there for the kernel engine (only this namespace sees it).
    mount = ("mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || true; "
             if engine == "kernel" else "")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", SW, "sh", "-c",
         f"{mount}exec {ROOT}/bazel-bin/server/vebd --listen=unix://{sock} "
         f"--config={tmp}/config.json --state_file= --metrics_address= --workers=2"],
        stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/vebd.log", "a"))
    vebctl = [f"{ROOT}/bazel-bin/cli/vebctl", f"--socket={sock}"]
    deadline = time.time() + 120
    while time.time() < deadline:
        log = open(f"{tmp}/vebd.log").read()
        if proc.poll() is not None or "vebd: config:" in log:
            proc.kill()
            proc.wait()
            sys.exit(f"vebd did not start the bridge: {log[-2000:]}")
        r = subprocess.run(vebctl + ["-o", "json", "veb0", "show"], capture_output=True, text=True)
        if r.returncode == 0 and json.loads(r.stdout)["bridge"].get("port_count", 0) >= len(ports):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        sys.exit("vebd did not attach the ports: " + open(f"{tmp}/vebd.log").read()[-2000:])
    return proc, vebctl


def detach(ports):
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
        f.write("".join(f"qdisc del dev {p} clsact\n" for p in ports))
    sh(f"tc -n {SW} -force -batch {f.name}", check=False, timeout=600)
    os.unlink(f.name)


def vebd_pid(proc):
    # `ip netns exec` execs vebd in place: same pid.
    return proc.pid


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def bpf_map_mib(pid):
    """Memory charged to the BPF maps vebd holds open (fdinfo memlock)."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = f.read()
        except OSError:
            continue
        if "map_type:" in info:
            for line in info.splitlines():
                if line.startswith("memlock:"):
                    total += int(line.split()[1])
    return total / 2**20


def udp64_kpps(duration):
    srv = subprocess.Popen(shlex.split(f"ip netns exec {B} iperf3 -s -1 -B {IP_B}"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    try:
        sh(f"ip netns exec {A} ping -c 2 -i 0.2 -W 1 {IP_B}", timeout=10)
        out = sh(f"ip netns exec {A} iperf3 -c {IP_B} -t {duration} -J -u -l 18 -b 0",
                 capture=True, timeout=duration + 30)
        s = json.loads(out)["end"]["sum"]
        return (s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3
    finally:
        srv.kill()
        srv.wait()


def fill_table(count):
    """Sends `count` frames with distinct source MACs from pod a to pod b's
    MAC (known unicast: no flood to every port), paced so that the switch's
    socket buffer does not overflow."""
    mac = json.loads(sh(f"ip -n {B} -j link show eth0", capture=True))[0]["address"]
    code = f"""
import errno, socket, struct, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
dst = bytes.fromhex("{mac.replace(':', '')}")
for i in range({count}):
    src = struct.pack(">HI", 0x0266, i)
    for attempt in range(100):
        try:
            s.send(dst + src + b"\\x88\\xb5" + bytes(46))
            break
        except OSError as e:  # ENOBUFS: the receiving backlog is full
            if e.errno != errno.ENOBUFS:
                raise
            time.sleep(0.001)
    else:
        raise SystemExit("fill: frame %d refused 100 times (ENOBUFS)" % i)
    if i % 1000 == 999:
        time.sleep(0.005)
"""
    subprocess.run(["ip", "netns", "exec", A, sys.executable, "-c", code], check=True, timeout=300)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--addresses", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--engine", choices=sorted(ENGINES), default="userspace")
    ap.add_argument("--markdown", default="")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("scale_bench: must run as root")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("scale_bench: terminated"))
    tmp = tempfile.mkdtemp(prefix="veb-scale.")
    res = {"small": [], "large": [], "filled": []}
    rss = {"small": [], "large": [], "filled": []}
    maps = {"small": [], "large": [], "filled": []}
    learned = []
    try:
        t0 = time.time()
        setup(a.ports)
        print(f"topology with {a.ports} idle veth pairs built in {time.time() - t0:.1f} s",
              file=sys.stderr)
        for rep in range(a.reps):
            for kind in ("small", "large") if rep % 2 == 0 else ("large", "small"):
                ports = ["sa", "sb"] + ([f"i{i}" for i in range(a.ports)] if kind == "large" else [])
                t1 = time.time()
                proc, vebctl = start_vebd(tmp, ports, max(a.addresses + 1000, 1000), a.engine)
                attach = time.time() - t1
                try:
                    time.sleep(1)
                    rss[kind].append(rss_mib(vebd_pid(proc)))
                    maps[kind].append(bpf_map_mib(vebd_pid(proc)))
                    res[kind].append(udp64_kpps(a.duration))
                    print(f"rep {rep + 1} {kind}: {len(ports)} ports attached in {attach:.1f} s, "
                          f"{res[kind][-1]:.0f} kpps, RSS {rss[kind][-1]:.1f} MiB, "
                          f"BPF maps {maps[kind][-1]:.1f} MiB", file=sys.stderr)
                    if kind == "large":
                        fill_table(a.addresses)
                        time.sleep(1)
                        show = json.loads(subprocess.run(vebctl + ["-o", "json", "veb0", "show"],
                                                         capture_output=True, text=True).stdout)
                        learned.append(show["bridge"].get("address_count", 0))
                        res["filled"].append(udp64_kpps(a.duration))
                        rss["filled"].append(rss_mib(vebd_pid(proc)))
                        maps["filled"].append(bpf_map_mib(vebd_pid(proc)))
                        print(f"  {learned[-1]} addresses: {res['filled'][-1]:.0f} kpps, "
                              f"RSS {rss['filled'][-1]:.1f} MiB, "
                              f"BPF maps {maps['filled'][-1]:.1f} MiB", file=sys.stderr)
                finally:
                    proc.terminate()
                    try:
                        proc.wait(timeout=120)
                    except subprocess.TimeoutExpired:
                        print("  vebd did not stop within 120 s of SIGTERM: killed", file=sys.stderr)
                        proc.kill()
                        proc.wait()
                    if a.engine == "kernel":
                        # The kernel engine's filters outlive vebd (by design; its
                        # pins lived in vebd's private bpffs mount and are gone):
                        # remove them so that the next run starts from clean ports.
                        detach(ports)
    finally:
        teardown()
        subprocess.run(["rm", "-rf", tmp])
    med = statistics.median
    small, large, filled = med(res["small"]), med(res["large"]), med(res["filled"])
    lines = [
        f"Engine {a.engine}; {a.reps} interleaved repetitions, {a.duration} s UDP loads, "
        f"medians; vebd with 2 workers.",
        "",
        "| ports attached | 64-byte delivered kpps | vs 2 ports | vebd RSS MiB | BPF maps MiB |",
        "|---|---|---|---|---|",
        f"| 2 | {small:.0f} | 1.00× | {med(rss['small']):.1f} | {med(maps['small']):.1f} |",
        f"| {a.ports + 2} | {large:.0f} | {large / small:.2f}× | {med(rss['large']):.1f} | "
        f"{med(maps['large']):.1f} |",
        f"| {a.ports + 2}, {int(med(learned))} addresses learned | {filled:.0f} | "
        f"{filled / small:.2f}× | {med(rss['filled']):.1f} | {med(maps['filled']):.1f} |",
    ]
    print("\n".join(lines))
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
