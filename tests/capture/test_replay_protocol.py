"""The replay server's protocol edges, spoken raw over a socket: framing, checksums, bad packets,
uncaptured memory, refused writes; 127.0.0.1 only; and the `photondbg replay` command."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from replay_support import by_command, gdb_batch

from photondbg.replay import image
from photondbg.replay.packets import checksum, frame
from photondbg.replay.server import ReplayServer


class Raw:
    """A minimal RSP client that checks acks and framing itself."""

    def __init__(self, port: int):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _byte(self) -> bytes:
        if not self.buf:
            self.buf = self.s.recv(65536)
            assert self.buf, "server closed the connection"
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def reply(self) -> bytes:
        while self._byte() != b"$":
            pass
        data = b""
        while (c := self._byte()) != b"#":
            data += c
        cs = self._byte() + self._byte()
        assert int(cs, 16) == checksum(data)
        self.s.sendall(b"+")
        return data

    def ask(self, payload: bytes) -> bytes:
        self.s.sendall(frame(payload))
        assert self._byte() == b"+"
        return self.reply()


@pytest.fixture
def served(fault_elves, capture):
    r = capture(fault_elves["deep_chain"])
    img = image.load(r.capdir)
    with ReplayServer(img).start() as srv:
        yield srv, img, r


def test_registers_memory_and_target_description(served):
    srv, img, r = served
    c = Raw(srv.port)
    assert b"qXfer:features:read+" in c.ask(b"qSupported:multiprocess+;xmlRegisters=arm")
    xml = b""
    while True:
        part = c.ask(b"qXfer:features:read:target.xml:%x,40" % len(xml))
        xml += part[1:]
        if part[:1] == b"l":
            break
    feature = ET.fromstring(xml).find("feature")
    assert feature.get("name") == "org.gnu.gdb.arm.m-profile"
    names = [reg.get("name") for reg in feature]
    assert names == [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "xpsr"]
    regs = r.report["fault"]["registers"]
    g = bytes.fromhex(c.ask(b"g").decode())
    assert [int.from_bytes(g[i * 4 : i * 4 + 4], "little") for i in range(17)] == [
        regs[n] for n in names
    ]
    assert c.ask(b"p0f") == regs["pc"].to_bytes(4, "little").hex().encode()
    assert c.ask(b"?").startswith(b"T0b")
    ram = (r.capdir / "ram.bin").read_bytes()
    sp = regs["sp"]
    assert c.ask(b"m%x,40" % sp) == ram[sp - 0x20000000 : sp - 0x20000000 + 64].hex().encode()
    # the last captured RAM bytes, then a short read, then an error: nothing past the dump
    end = 0x20000000 + len(ram)
    assert c.ask(b"m%x,8" % (end - 4)) == ram[-4:].hex().encode()
    assert c.ask(b"m%x,4" % end).startswith(b"E")
    # flash comes from the ELF: the vector table's first word is the initial SP
    assert c.ask(b"m8000000,4") == img.memory.read(0x08000000, 4).hex().encode()
    assert c.ask(b"vCont?").startswith(b"vCont;")


@pytest.mark.parametrize("packet", [b"mzz,4", b"m20000000", b"p99", b"pxyz", b"m123456789,4"])
def test_malformed_packets_get_error_replies(served, packet):
    c = Raw(served[0].port)
    assert c.ask(packet).startswith(b"E")
    assert c.ask(b"qC") == b"QC1"  # and the session goes on


@pytest.mark.parametrize(
    "packet",
    [
        b"M20000000,4:00000000",
        b"X20000000,0:",
        b"G" + b"00" * 68,
        b"P0=00000000",
        b"c",
        b"s",
        b"vCont;c",
        b"vCont;s:1",
    ],
)
def test_writes_and_execution_are_refused(served, packet):
    c = Raw(served[0].port)
    assert c.ask(packet).startswith(b"E.replay: a capture is read-only")


def test_bad_checksum_is_nacked_and_garbage_skipped(served):
    c = Raw(served[0].port)
    c.s.sendall(b"junk\x03$qC#00")  # wrong checksum
    assert c._byte() == b"-"
    c.s.sendall(frame(b"qC"))
    assert c._byte() == b"+" and c.reply() == b"QC1"
    assert c.ask(b"QStartNoAckMode") == b"OK"
    c.s.sendall(frame(b"qC"))  # no acks any more
    assert c.reply() == b"QC1"
    c.s.sendall(frame(b"vMustReplyEmpty"))
    assert c.reply() == b""


def test_kill_stops_the_server_detach_does_not(served):
    srv = served[0]
    c = Raw(srv.port)
    assert c.ask(b"D") == b"OK"
    c = Raw(srv.port)  # a second client after a detach
    assert c.ask(b"qC") == b"QC1"
    c.s.sendall(frame(b"k"))
    assert c._byte() == b"+"
    c.s.settimeout(10)
    assert c.s.recv(10) == b""  # closed
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()


def _other_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent for a UDP connect
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


def test_listens_on_loopback_only(served):
    srv = served[0]
    assert srv.address[0] == "127.0.0.1"
    other = _other_address()
    if other is not None:
        with pytest.raises(OSError):
            socket.create_connection((other, srv.port), timeout=2).close()


def run_cli(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "photondbg", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_cli_serves_gdb_and_writes_a_vscode_configuration(fault_elves, capture):
    r = capture(fault_elves["deep_chain"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "photondbg", "replay", str(r.capdir), "--vscode"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("listening on 127.0.0.1:"), first + proc.stderr.read()
        port = int(first.rsplit(":", 1)[1])
        cfg = json.loads((r.capdir / ".vscode" / "launch.json").read_text())["configurations"][0]
        assert cfg["type"] == "cortex-debug" and cfg["servertype"] == "external"
        assert cfg["gdbTarget"] == f"127.0.0.1:{port}" and cfg["request"] == "attach"
        out = by_command(gdb_batch(r.capdir / "firmware.elf", port, ["bt", "kill"]))
        assert "level_6" in out["bt"] and "main" in out["bt"]
        assert proc.wait(timeout=30) == 0  # `kill` stops the server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _broken(tmp_path, capdir, how):
    d = tmp_path / "broken"
    shutil.copytree(capdir, d)
    rep = json.loads((d / "report.json").read_text())
    if how == "no-report":
        (d / "report.json").unlink()
    elif how == "bad-json":
        (d / "report.json").write_text("{not json")
    elif how == "schema":
        rep["schema"] = "other/9"
    elif how == "truncated-ram":
        (d / "ram.bin").write_bytes((d / "ram.bin").read_bytes()[:1000])
    elif how == "no-ram":
        (d / "ram.bin").unlink()
    elif how == "other-elf":
        rep["target"]["elf_sha256"] = "0" * 64
    elif how == "nothing-captured":
        rep.update(outcome="none", fault=None, lockup=None)
    elif how == "bad-section":
        rep["fault"] = 5
    elif how == "elf-gone":
        (d / "firmware.elf").unlink()
        rep["target"]["elf"] = str(tmp_path / "gone.elf")
    if how not in ("no-report", "bad-json"):
        (d / "report.json").write_text(json.dumps(rep))
    return d


@pytest.mark.parametrize(
    "how",
    [
        "no-report",
        "bad-json",
        "schema",
        "truncated-ram",
        "no-ram",
        "other-elf",
        "nothing-captured",
        "elf-gone",
        "missing-dir",
        "bad-section",
    ],
)
def test_malformed_capture_directories_are_one_line_errors(fault_elves, capture, tmp_path, how):
    r = capture(fault_elves["bad_pc"])
    d = tmp_path / "nowhere" if how == "missing-dir" else _broken(tmp_path, r.capdir, how)
    res = run_cli("replay", d, "--once")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("photondbg: error: "), res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_threads_of_a_capture_without_a_scheduler(served):
    c = Raw(served[0].port)
    assert c.ask(b"qfThreadInfo") == b"m1" and c.ask(b"qsThreadInfo") == b"l"
    assert c.ask(b"T1") == b"OK" and c.ask(b"T5").startswith(b"E")
    assert c.ask(b"Hg5").startswith(b"E") and c.ask(b"Hgzz").startswith(b"E")
    assert c.ask(b"Hg1") == b"OK" and c.ask(b"Hc-1") == b"OK"
    assert bytes.fromhex(c.ask(b"qThreadExtraInfo,1").decode()).startswith(b"at the fault")


def test_random_packets_never_break_the_session(served):
    """Thousands of random and mutated packets: every one gets a reply (or none for `k`), no
    exception, and the registers and memory served stay those of the capture."""
    import random

    from photondbg.replay.server import Session

    _, img, r = served
    rng = random.Random(9)
    seeds = [
        b"m20000000,40",
        b"p0f",
        b"g",
        b"qXfer:features:read:target.xml:0,fff",
        b"Hg1",
        b"qSupported:xmlRegisters=arm",
        b"vCont;c",
        b"M0,1:00",
        b"qRcmd,696e666f",
        b"T1",
    ]
    session = Session(img)
    for i in range(4000):
        if i % 2:
            p = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                p[rng.randrange(len(p))] = rng.randrange(256)
            p = bytes(p)
        else:
            p = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        reply = session.handle(p)
        assert reply is None or isinstance(reply, bytes), p
        session.done = session.killed = False
    session.selected = 1
    regs = r.report["fault"]["registers"]
    assert session.handle(b"p0f") == regs["pc"].to_bytes(4, "little").hex().encode()


def test_garbage_on_the_wire_then_a_good_packet(served):
    import random

    srv = served[0]
    rng = random.Random(3)
    c = Raw(srv.port)
    c.s.sendall(bytes(rng.randrange(256) for _ in range(5000)).replace(b"$", b"."))
    c.s.sendall(b"#zz$qC#00")  # a stray terminator and a packet with a bad checksum
    c.s.sendall(frame(b"qC"))
    assert c.reply() == b"QC1"


def test_a_port_in_use_is_a_one_line_error(fault_elves, capture):
    r = capture(fault_elves["bad_pc"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        res = run_cli("replay", r.capdir, "--port", taken.getsockname()[1])
    assert res.returncode == 2 and "already in use" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and res.stdout == ""
