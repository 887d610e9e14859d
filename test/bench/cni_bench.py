#!/usr/bin/env python3
"""CNI ADD/DEL latency: the veb plugin (through a real vebd) side by side with
the reference `bridge` plugin, both with host-local IPAM, driven by cnitool
(the same libcni path a runtime takes) on the same network namespaces.

Rounds are interleaved (veb, bridge, bridge, veb, ...); each round ADDs then
DELs every pod. Prints p50/p99 per plugin and operation over all rounds and
the veb/bridge ratio, as a markdown table. Root; namespaces cnb<pid>-N only.

  test/bench/cni_bench.py [--pods 100] [--rounds 3]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.environ.get("VEB_TOOLS_BIN", "/opt/veb/tools/bin")


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="veb-cnibench.")
    prefix = f"cnb{os.getpid()}"
    sock = f"{tmp}/vebd.sock"
    bins, conf = f"{tmp}/bin", f"{tmp}/conf"
    os.makedirs(bins)
    os.makedirs(conf)
    shutil.copy(f"{ROOT}/bazel-bin/cni-plugin/veb", bins)
    for p in ("host-local", "bridge", "loopback"):
        shutil.copy(f"{TOOLS}/cni/{p}", bins)
    ipam = lambda subnet: {"type": "host-local", "dataDir": f"{tmp}/ipam",
                           "ranges": [[{"subnet": f"{subnet}.0/24", "gateway": f"{subnet}.1"}]]}
    nets = {
        "veb": {"type": "veb", "bridge": "cnbveb", "socket": sock, "isGateway": True,
                "ipam": ipam("10.79.0")},
        "bridge": {"type": "bridge", "bridge": "cnbbr", "isGateway": True, "ipam": ipam("10.79.1")},
    }
    for name, plugin in nets.items():
        with open(f"{conf}/{name}.conflist", "w") as f:
            json.dump({"cniVersion": "1.1.0", "name": name, "plugins": [plugin]}, f)
    env = dict(os.environ, CNI_PATH=bins, NETCONFPATH=conf)

    vebd = subprocess.Popen([f"{ROOT}/bazel-bin/server/vebd", f"--listen=unix://{sock}",
                             f"--state_file={tmp}/state.json", "--metrics_address=", "--workers=1"],
                            stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/vebd.log", "w"))
    vebctl = [f"{ROOT}/bazel-bin/cli/vebctl", f"--socket={sock}"]
    namespaces = [f"{prefix}-{i}" for i in range(args.pods)]
    samples = {(n, op): [] for n in nets for op in ("ADD", "DEL")}
    try:
        deadline = time.time() + 10
        while subprocess.run(vebctl + ["health"], capture_output=True).returncode != 0:
            if time.time() > deadline:
                sys.exit("vebd did not start: " + open(f"{tmp}/vebd.log").read())
            time.sleep(0.05)
        subprocess.run(vebctl + ["create", "cnbveb", "maxaddr", "10000"], check=True,
                       capture_output=True)
        for ns in namespaces:
            subprocess.run(["ip", "netns", "add", ns], check=True)
        order = []
        for r in range(args.rounds):
            order += ["veb", "bridge"] if r % 2 == 0 else ["bridge", "veb"]
        for name in order:
            for op, verb in (("ADD", "add"), ("DEL", "del")):
                for ns in namespaces:
                    t0 = time.perf_counter()
                    res = subprocess.run([f"{TOOLS}/cnitool", verb, name, f"/var/run/netns/{ns}"],
                                         env=env, capture_output=True, text=True)
                    dt = time.perf_counter() - t0
                    if res.returncode != 0:
                        sys.exit(f"{name} {op} {ns} failed: {res.stdout} {res.stderr}")
                    samples[(name, op)].append(dt * 1000.0)
    finally:
        for ns in namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(vebctl + ["destroy", "cnbveb", "force"], capture_output=True)
        vebd.terminate()
        vebd.wait(timeout=10)
        for link in ("cnbveb", "cnbbr"):
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"CNI ADD/DEL latency, {args.pods} pods x {args.rounds} interleaved rounds "
          f"(cnitool -> plugin -> host-local), ms")
    print()
    print("| operation | veb p50 | bridge p50 | ratio p50 | veb p99 | bridge p99 | ratio p99 |")
    print("|---|---|---|---|---|---|---|")
    for op in ("ADD", "DEL"):
        v, b = samples[("veb", op)], samples[("bridge", op)]
        print(f"| {op} | {pct(v, 50):.1f} | {pct(b, 50):.1f} | {pct(v, 50) / pct(b, 50):.2f}x "
              f"| {pct(v, 99):.1f} | {pct(b, 99):.1f} | {pct(v, 99) / pct(b, 99):.2f}x |")


if __name__ == "__main__":
    main()
