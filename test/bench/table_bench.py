#!/usr/bin/env python3
"""The agent's control plane at 1,000,000 MAC addresses (issue 14).

Topology: pods <p>-a and <p>-b on veth pairs whose host ends (<p>a, <p>b) are
AF_PACKET ports of bridge veb0 (max_addresses 1,000,000, timeout 3600) in a
vebd of its own (temporary socket and state file). A third veth (<p>c, peer
in <p>-idle) is the port that is added and removed.

Measured with the real clients, each operation --reps times, medians:
  1. on an empty table: UpdateBridge (vebctl timeout), AddPort + DeletePort
     (vebctl add/del), one ListAddresses page of 1,000 from the start and
     from the middle of the table (grpcurl), the whole table through
     `vebctl -o json veb0 addr` (pages of 10,000), vebd RSS;
  2. pod a sends frames with distinct source MACs (packet socket, 02:xx
     source MACs, to pod b's MAC) until the table holds 20,000, the same
     measurements; then until it holds --addresses, the same again;
  4. RPC latency while ports are removed: a client times GetBridge
     (grpcurl, --probes calls) while another removes and re-adds port <p>a
     (which holds the learned addresses), against the same client alone;
  5. flushall: RSS once vebd's sweep has given the memory back.
Prints a markdown table. Root; only its own namespaces and addresses.

  test/bench/table_bench.py [--addresses 1000000] [--reps 9]
"""
import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
P = f"tb{os.getpid() % 10000}"
NA, NB, NI = f"{P}-a", f"{P}-b", f"{P}-idle"
VEBD = os.path.join(ROOT, "bazel-bin/server/vebd")
VEBCTL = os.path.join(ROOT, "bazel-bin/cli/vebctl")
GRPCURL = os.environ.get("GRPCURL", "/opt/veb/tools/bin/grpcurl")


def sh(cmd, check=True, capture=False, timeout=120, stdin=None):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), check=check, timeout=timeout,
                       input=stdin, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE if capture else subprocess.DEVNULL, text=True)
    return r.stdout if capture else ""


class Agent:
    def __init__(self, tmp):
        self.sock = os.path.join(tmp, "vebd.sock")
        self.log = open(os.path.join(tmp, "vebd.log"), "w")
        self.proc = subprocess.Popen(
            [VEBD, f"--listen=unix://{self.sock}", f"--state_file={tmp}/state.json",
             "--metrics_address=", "--workers=1"], stdout=self.log, stderr=self.log)
        for _ in range(200):
            if os.path.exists(self.sock) and self.ctl("list", check=False) is not None:
                return
            time.sleep(0.05)
        raise RuntimeError("vebd did not start")

    def ctl(self, *args, check=True, timeout=300):
        r = subprocess.run([VEBCTL, f"--socket={self.sock}", *args], capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            if check:
                raise RuntimeError(f"vebctl {' '.join(args)}: {r.stderr.strip()}")
            return None
        return r.stdout

    def grpcurl(self, method, req):
        return sh([GRPCURL, "-plaintext", "-max-msg-sz", str(64 << 20), "-d",
                   json.dumps(req), f"unix://{self.sock}", f"veb.v1.Switch/{method}"],
                  capture=True)

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def addresses(self):
        return int(json.loads(self.ctl("-o", "json", "veb0", "show"))["bridge"].get(
            "address_count", 0))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def timed(fn):
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def median_ms(fn, reps):
    return statistics.median(timed(fn) for _ in range(reps))


def setup():
    for ns in (NA, NB, NI):
        sh(f"ip netns add {ns}")
        sh(f"ip netns exec {ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
        sh(f"ip netns exec {ns} sysctl -qw net.ipv6.conf.default.disable_ipv6=1")
        sh(f"ip -n {ns} link set lo up")
    for ns, port in ((NA, f"{P}a"), (NB, f"{P}b"), (NI, f"{P}c")):
        sh(f"ip link add {port} type veth peer name eth0 netns {ns}")
        sh(f"ip link set {port} up")
        sh(f"ip -n {ns} link set eth0 up")


def cleanup():
    for ns in (NA, NB, NI):
        sh(f"ip netns del {ns}", check=False)
    for port in (f"{P}a", f"{P}b", f"{P}c"):
        sh(f"ip link del {port}", check=False)


SENDER = r"""
import socket, struct, sys, time
n, dst = int(sys.argv[1]), bytes.fromhex(sys.argv[2].replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
payload = b"\x08\x00" + bytes(46)
deadline = time.time() + 120
for i in range(n):
    src = b"\x02" + struct.pack(">I", i)[0:4] + b"\x01"
    while True:
        try:
            s.send(dst + src + payload)
            break
        except BlockingIOError:
            time.sleep(0.0005)
    if i % 8192 == 0:
        time.sleep(0.002)  # let the switch's single worker keep up
        if time.time() > deadline:
            break
"""


def fill(agent, target):
    mac_b = sh(f"ip -n {NB} -o link show eth0", capture=True).split("link/ether ")[1].split()[0]
    start = time.time()
    # Source MACs 02:<i32>:01 are distinct for i < 2^32; sent twice in case
    # the switch's socket overflowed the first time (a refill is a refresh).
    for _ in range(3):
        sh(["ip", "netns", "exec", NA, "python3", "-c", SENDER, str(target), mac_b],
           timeout=300)
        if agent.addresses() >= target:
            break
    return agent.addresses(), time.time() - start


def probe_latency(agent, probes, churn):
    """GetBridge latency (ms) over `probes` grpcurl calls, optionally while
    another thread removes and re-adds port a."""
    stop = threading.Event()
    removals = []

    def churner():
        while not stop.is_set():
            t = time.perf_counter()
            agent.ctl("veb0", "del", f"{P}a")
            removals.append((time.perf_counter() - t) * 1000)
            agent.ctl("veb0", "add", f"{P}a")

    th = threading.Thread(target=churner)
    if churn:
        th.start()
    lat = [timed(lambda: agent.grpcurl("GetBridge", {"name": "veb0"})) for _ in range(probes)]
    stop.set()
    if churn:
        th.join()
    lat.sort()
    return lat, removals


def pct(v, p):
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addresses", type=int, default=1000000)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--probes", type=int, default=200)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="veb-table-bench.")
    cleanup()
    setup()
    agent = None
    rows = []
    try:
        agent = Agent(tmp)
        agent.ctl("create", "veb0", "maxaddr", str(args.addresses), "timeout", "3600")
        agent.ctl("veb0", "add", f"{P}a")
        agent.ctl("veb0", "add", f"{P}b")

        def measure(label):
            t = [3600]

            def update():
                t[0] = 3599 if t[0] == 3600 else 3600
                agent.ctl("veb0", "timeout", str(t[0]))

            def add_del():
                agent.ctl("veb0", "add", f"{P}c")
                agent.ctl("veb0", "del", f"{P}c")

            out = {
                "UpdateBridge (vebctl timeout)": median_ms(update, args.reps),
                "AddPort + DeletePort (vebctl)": median_ms(add_del, args.reps),
                "ListAddresses, first page of 1,000 (grpcurl)": median_ms(
                    lambda: agent.grpcurl("ListAddresses", {"bridge": "veb0", "pageSize": 1000}),
                    args.reps),
            }
            n = agent.addresses()
            if n > 2000:
                token = ""
                for _ in range(max(1, n // 2 // 10000)):  # pages of 10,000 to the middle
                    req = {"bridge": "veb0", "pageSize": min(10000, n // 2)}
                    if token:
                        req["pageToken"] = token
                    page = json.loads(agent.grpcurl("ListAddresses", req))
                    token = page.get("nextPageToken", token)
                out["ListAddresses, a page of 1,000 in the middle (grpcurl)"] = median_ms(
                    lambda: agent.grpcurl("ListAddresses", {"bridge": "veb0", "pageSize": 1000,
                                                             "pageToken": token}), args.reps)
            else:
                out["ListAddresses, a page of 1,000 in the middle (grpcurl)"] = out[
                    "ListAddresses, first page of 1,000 (grpcurl)"]
            out["vebctl -o json addr (whole table)"] = timed(
                lambda: agent.ctl("-o", "json", "veb0", "addr", timeout=600))
            out["vebd RSS MiB"] = agent.rss_mib()
            print(f"{label}: {n} addresses: " +
                  ", ".join(f"{k} {v:.1f}" for k, v in out.items()), flush=True)
            return n, out

        n0, empty = measure("empty")
        small_n, _ = fill(agent, min(20000, args.addresses))
        small_n, small = measure("small")
        n1, fill_s = fill(agent, args.addresses)
        print(f"filled {n1} addresses in {fill_s:.1f} s", flush=True)
        n1, full = measure("full")
        for k in empty:
            rows.append((k, empty[k], small[k], full[k]))

        base, _ = probe_latency(agent, args.probes, churn=False)
        churned, removals = probe_latency(agent, args.probes, churn=True)
        flush_ms = timed(lambda: agent.ctl("veb0", "flushall"))
        time.sleep(3)  # the sweep (every second) gives the memory back
        rss_after = agent.rss_mib()

        print()
        print(f"vebd at {n1:,} learned addresses vs an empty table (medians of {args.reps}; "
              f"{os.cpu_count()} CPUs; vebctl/grpcurl wall time includes their start)")
        print()
        print(f"| operation | empty table | {small_n:,} addresses | {n1:,} addresses | "
              f"ratio to empty | ratio to {small_n:,} |")
        print("|---|---|---|---|---|---|")
        for k, a, m, b in rows:
            unit = "" if "RSS" in k else " ms"
            print(f"| {k} | {a:.1f}{unit} | {m:.1f}{unit} | {b:.1f}{unit} | {b / a:.2f}× | "
                  f"{b / m:.2f}× |")
        print()
        print(f"| GetBridge (grpcurl) while port {P}a (holding the addresses at first) is "
              f"removed and re-added ({len(removals)} removals, median "
              f"{statistics.median(removals) if removals else 0:.0f} ms) | p50 {pct(churned, 50):.1f} ms "
              f"p99 {pct(churned, 99):.1f} ms | alone: p50 {pct(base, 50):.1f} ms "
              f"p99 {pct(base, 99):.1f} ms |")
        print(f"| flushall at {n1:,} | {flush_ms:.0f} ms | RSS after: {rss_after:.1f} MiB "
              f"(empty: {empty['vebd RSS MiB']:.1f}, full: {full['vebd RSS MiB']:.1f}) | |")
    finally:
        if agent:
            agent.stop()
        cleanup()
        sh(f"rm -rf {tmp}", check=False)


if __name__ == "__main__":
    main()
