#!/usr/bin/env python3
"""Figures for the simulated Photon: campaign speed, crash rate, cut->crash, boot, HTTP rate.

    .venv/bin/python benchmarks/bench_sim.py [--cycles 12] [--seed 1] [--seconds 5]

Prints (no assertions; speed lives here, not in tests):
- cycles/min of a `none` campaign and its crash rate per cycle (the real board: ~1 in 3)
- median time from the link cut to the crash (panic line or QEMU exit)
- boot-to-serving time (QEMU start -> first HTTP 200), median over every boot
- HTTP requests/s through the bridge (variant `all`, sequential and 4 parallel clients)
- the bridge alone with a scripted device that echoes (no QEMU): the protocol's ceiling
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from photondbg.procs import ProcessOwner  # noqa: E402
from photondbg.sim.bridge import Bridge  # noqa: E402
from photondbg.campaign.records import CampaignConfig  # noqa: E402
from photondbg.campaign.sim import SimCampaign  # noqa: E402
from photondbg.firmware import app_port  # noqa: E402
from photondbg.sim.link import Decoder, Msg, pack, unpack  # noqa: E402
from photondbg.sim.tester import http_get  # noqa: E402


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def bench_campaign(variant: str, cycles: int, seed: int, cut: str, tmp: Path) -> dict:
    from photondbg import firmware

    elf = firmware.build(app="multi-server", variant=variant)
    cuts = ("down", "uplink") if cut == "mixed" else (cut,)
    cfg = CampaignConfig(elf=elf, variant=variant, cycles=cycles, seed=seed, cuts=cuts)
    logdir = tmp / f"campaign-{variant}"
    with ProcessOwner(logdir=logdir) as owner:
        t0 = time.monotonic()
        res = SimCampaign(cfg, owner, logdir=logdir,
                       on_cycle=lambda r: print(f"  cycle {r.index}: {r.outcome} "
                                                f"({r.cut}, {r.duration:.1f}s)", flush=True)).run()
        wall = time.monotonic() - t0
    crashes = [r for r in res.cycles if r.outcome in ("CRASH", "LOCKUP")]
    return {
        "variant": variant, "cycles": len(res.cycles), "wall_s": wall,
        "cycles_per_min": 60 * len(res.cycles) / wall,
        "crash_rate": len(crashes) / max(1, len(res.cycles)),
        "outcomes": res.outcomes,
        "cut_to_crash_median_s": median([r.cut_to_crash for r in crashes
                                         if r.cut_to_crash is not None]),
        "boot_to_serving_median_s": median(res.boot_to_serving),
        "boots": len(res.boot_to_serving),
        "crash_rate_by_cut": {
            kind: (sum(1 for r in crashes if r.cut == kind),
                   sum(1 for r in res.cycles if r.cut == kind))
            for kind in cuts},
    }


def hammer(port: int, seconds: float, clients: int) -> tuple[int, int]:
    ok = [0] * clients
    bad = [0] * clients
    end = time.monotonic() + seconds

    def worker(i):
        while time.monotonic() < end:
            r = http_get(port, timeout=2)
            if r.kind == "ok":
                ok[i] += 1
            else:
                bad[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(ok), sum(bad)


def bench_http(seconds: float, tmp: Path, app: str = "multi-server") -> dict:
    from photondbg import firmware
    from photondbg.targets.sim import SimTarget

    elf = firmware.build(app=app, variant="all")
    logdir = tmp / f"http-{app}"
    out = {}
    with ProcessOwner(logdir=logdir) as owner:
        t0 = time.monotonic()
        target = SimTarget(elf, owner, logdir=logdir).start()
        bridge = Bridge(target.link, logdir=logdir)
        owner.add_cleanup(bridge.close)
        port = bridge.wait_host_port(app_port(app), 15)
        while http_get(port, timeout=1).kind != "ok" and time.monotonic() - t0 < 15:
            time.sleep(0.01)
        out["boot_to_serving_s"] = time.monotonic() - t0
        for clients in (1, 4):
            ok, bad = hammer(port, seconds, clients)
            out[f"req_per_s_{clients}_clients"] = ok / seconds
            out[f"failed_{clients}_clients"] = bad
    return out


def bench_bridge_only(seconds: float, tmp: Path) -> dict:
    """A scripted device answering every request at once: the bridge + protocol ceiling."""
    a, b = socket.socketpair()
    bridge = Bridge(a, logdir=tmp / "bridge-only")
    stop = threading.Event()
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def device():
        dec = Decoder()
        b.sendall(pack(Msg.HELLO, version=1, app="echo") + pack(Msg.LISTEN, 1, port=80))
        b.settimeout(0.1)
        while not stop.is_set():
            try:
                data = b.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            for f in dec.feed(data):
                if f.msg is Msg.PING:
                    b.sendall(pack(Msg.PONG, seq=unpack(f)["seq"]))
                elif f.msg is Msg.DATA:
                    b.sendall(pack(Msg.ACK, f.conn, consumed=len(f.payload))
                              + pack(Msg.DATA, f.conn, data=reply) + pack(Msg.CLOSE, f.conn))

    t = threading.Thread(target=device, daemon=True)
    t.start()
    port = bridge.wait_host_port(80, 5)
    try:
        ok, bad = hammer(port, seconds, 1)
        ok4, bad4 = hammer(port, seconds, 4)
    finally:
        stop.set()
        t.join()
        bridge.close()
        a.close()
        b.close()
    return {"req_per_s_1_client": ok / seconds, "req_per_s_4_clients": ok4 / seconds,
            "failed": bad + bad4}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cut", choices=("mixed", "down", "uplink"), default="mixed")
    ap.add_argument("--seconds", type=float, default=5.0, help="per HTTP-rate measurement")
    ap.add_argument("--skip-campaign", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as d:
        tmp = Path(d)
        br = bench_bridge_only(args.seconds, tmp)
        print(f"bridge only (scripted device): {br['req_per_s_1_client']:.0f} req/s sequential, "
              f"{br['req_per_s_4_clients']:.0f} req/s with 4 clients, {br['failed']} failed")
        for app in ("multi-server", "simple-server"):
            h = bench_http(args.seconds, tmp, app)
            print(f"{app} (variant all, QEMU + bridge): boot-to-serving "
                  f"{h['boot_to_serving_s']:.2f} s; {h['req_per_s_1_clients']:.1f} req/s "
                  f"sequential ({h['failed_1_clients']} failed), {h['req_per_s_4_clients']:.1f} "
                  f"req/s with 4 clients ({h['failed_4_clients']} failed); QEMU/bridge-only ratio "
                  f"{h['req_per_s_1_clients'] / br['req_per_s_1_client']:.3f}")
        if not args.skip_campaign:
            print(f"campaign variant none, {args.cycles} cycles, cut={args.cut}, seed {args.seed}:")
            c = bench_campaign("none", args.cycles, args.seed, args.cut, tmp)
            print(f"campaign none: {c['cycles']} cycles in {c['wall_s']:.1f} s = "
                  f"{c['cycles_per_min']:.2f} cycles/min; crash rate {c['crash_rate']:.2f} per "
                  f"cycle (real board ~0.33); outcomes {c['outcomes']}; median cut->crash "
                  f"{c['cut_to_crash_median_s']:.2f} s; median boot-to-serving "
                  f"{c['boot_to_serving_median_s']:.2f} s over {c['boots']} boots")
            print("crashes by cut kind: " + ", ".join(
                f"{k} {n}/{t}" for k, (n, t) in c["crash_rate_by_cut"].items()))


if __name__ == "__main__":
    main()
