"""The Device OS v0.6.4 socket layer of the simulated Photon, looked at with GDB while the link is
driven frame by frame: the stale ``tcp_server_t::clients[]`` entry the 0.6.4 defect leaves, what
the fixes change, and where garbage in a freed client goes when the WiFi is lost.

These pin what must stay true of the mechanism, not a crash signature: whether a given cut
crashes depends on what reused the freed memory (the campaign measures that)."""

from __future__ import annotations

import re

from test_build_boot import TIMEOUT, LinkPeer, bring_up, elves, requests  # noqa: F401

from photondbg.deadline import Deadline
from photondbg.gdb.session import GdbSession
from photondbg.ports import LOOPBACK
from photondbg.sim.link import Msg, pack
from photondbg.targets.sim import SimTarget


def boot_with_gdb(elf, owner, tmp_path):
    target = SimTarget(elf, owner, logdir=tmp_path, gdb=True).start()
    gdb = GdbSession(elf, owner, logdir=tmp_path).start()
    gdb.connect(LOOPBACK, target.gdb_port)
    gdb.cont()
    return target, gdb, LinkPeer(target.link)


def value(gdb: GdbSession, expr: str) -> int:
    out = gdb.cli(f"output/x (unsigned long)({expr})")
    m = re.search(r"0x[0-9a-f]+", out)
    assert m, out
    return int(m.group(0), 16)


SERVER = "((tcp_server_t *)'socket_hal.cpp'::servers.items->s.tcp_server)"


def slots(gdb: GdbSession, n: int = 3) -> list[int]:
    return [value(gdb, f"{SERVER}->clients[{i}]") for i in range(n)]


def serve_overlapping(tmp_path, owner, elf):
    """One request alone, then two at once, then one: the second of the pair took slot 1
    (lowest free first), closed, and no later single request reuses slot 1."""
    target, gdb, peer = boot_with_gdb(elf, owner, tmp_path)
    listener = bring_up(target, peer)
    conn = 16
    for batch in (1, 2, 1):
        conns = list(range(conn, conn + batch))
        conn += batch
        for answer in requests(peer, listener, conns):
            assert answer.startswith(b"HTTP/1.1 200 OK")
    gdb.interrupt()
    return target, gdb, peer


def test_variant_none_leaves_a_stale_client_pointer_in_slot_1(
    elves,  # noqa: F811
    owner,
    tmp_path,
):
    target, gdb, _ = serve_overlapping(tmp_path, owner, elves[("multi-server", "none")])
    live = value(gdb, "'socket_hal.cpp'::clients.items")
    assert live == 0, "every client socket was closed by the app"
    stale = slots(gdb)
    # slot 0 was used by each single request, slot 1 only by the overlapping one: both were
    # deleted by socket_close(), both pointers stay
    assert stale[0] and stale[1] and stale[2] == 0, stale
    target.stop()


def test_variant_clients_clears_the_slots_on_disconnect(elves, owner, tmp_path):  # noqa: F811
    target, gdb, _ = serve_overlapping(tmp_path, owner, elves[("multi-server", "clients")])
    assert slots(gdb) == [0, 0, 0]
    target.stop()


def test_variant_none_faults_on_an_address_read_from_the_freed_client(
    elves,  # noqa: F811
    owner,
    tmp_path,
):
    """The same requests, then the WiFi goes: socket_close_all() walks clients[] and the stale
    slot-1 client, whose block a later allocation reused, hands its words to WICED as pointers.
    The fault is taken in the application thread (PSP), at an address derived from those words
    (on QEMU through the sim's MPU, labelled; on silicon a precise BusFault)."""
    seen = []
    for attempt in range(3):  # what reused the block depends on timing (cloud pings): bounded
        target, gdb, peer = serve_overlapping(
            tmp_path / str(attempt), owner, elves[("multi-server", "none")]
        )
        words = [w for w in gdb.read_words(slots(gdb)[1], 5) if w]
        gdb.cont()
        mark = target.console.mark()
        peer.send(pack(Msg.LINK, wifi=0, cloud=0))
        end = target.console.wait_for(r"@close_all sockets|@record code", TIMEOUT, start=mark)
        assert end, target.console.text()[-1500:]
        rec = target.console.wait_for(
            r"@record code=(\d+) name=(\w+) pc=0x(\w+) .* "
            r"mmfar=0x(\w+) bfar=0x(\w+) sp=0x\w+ exc=0x(\w+)",
            2.0,
            start=mark,
        )
        seen.append(rec.group(0) if rec else f"survived, stale block {[hex(w) for w in words]}")
        if rec:
            break
        target.stop()
    assert rec, seen
    pc, mmfar, bfar, exc = (int(rec.group(i), 16) for i in (3, 4, 5, 6))
    assert rec.group(2) == "HardFault" and exc & 4, rec.group(0)  # from the thread's PSP
    assert any(0 <= a - w < 0x40 for a in (mmfar, bfar) for w in words), (
        rec.group(0),
        [hex(w) for w in words],
    )
    where = gdb.cli(f"info symbol 0x{pc:x}")
    assert re.search(r"wiced_|netconn_|netbuf_|pbuf_|tcp_server|socket_", where), where
    target.stop()


def test_garbage_in_a_freed_client_reaches_wiced(elves, owner, tmp_path):  # noqa: F811
    """As if a later allocation had reused the freed client: its socket/server/packet words are
    what close() hands to tcp_server_t::disconnect(), wiced_tcp_disconnect() and
    wiced_packet_delete() when socket_close_all() walks clients[] on WiFi loss.  The words are
    text-like addresses outside every region of the F205 map (what a reused String leaves)."""
    target, gdb, peer = serve_overlapping(tmp_path, owner, elves[("multi-server", "none")])
    block = slots(gdb)[1]
    fake_socket, fake_server, fake_packet = 0x30000000, 0x30000200, 0x30000100
    gdb.cli(
        f"set {{unsigned[4]}}0x{block:x} = {{0x{fake_socket:x}, 0x{fake_server:x}, 0, "
        f"0x{fake_packet:x}}}"
    )
    gdb.cli("break wiced_tcp_disconnect")
    gdb.cli("break netbuf_delete")
    gdb.cli("break HardFault_Handler")
    gdb.cont()
    peer.send(pack(Msg.LINK, wifi=0, cloud=0))
    seen: dict[str, list[int]] = {}
    for _ in range(8):
        stop = gdb.wait_stopped(Deadline(TIMEOUT))
        assert stop, f"no call into the WICED model after the cut: {seen}"
        func = stop["frame"]["func"]
        if "Fault" in func:  # silicon semantics: the read through the garbage faulted
            # MMFAR (the sim's MPU) or BFAR (silicon): the address read through the garbage
            addr = {value(gdb, "*(unsigned *)0xE000ED34"), value(gdb, "*(unsigned *)0xE000ED38")}
            assert any(
                fake_socket <= a < fake_socket + 0x40 or fake_packet <= a < fake_packet + 0x40
                for a in addr
            ), [hex(a) for a in addr]
            break
        arg = value(gdb, "$r0")
        seen.setdefault(func, []).append(arg)
        bt = gdb.cli("bt")
        if arg in (fake_socket, fake_packet):
            assert "tcp_server_client_t::close" in bt and "tcp_server_t::close" in bt, bt
            assert "socket_close_all" in bt, bt
        if func == "netbuf_delete" and arg == fake_packet:
            break
        gdb.cont()
    assert fake_socket in seen.get("wiced_tcp_disconnect", []), seen
    target.stop()


def test_close_all_deletes_sockets_the_app_still_holds(elves, owner, tmp_path):  # noqa: F811
    """v0.6.4 socket_close_all() deletes every socket_t (the second use-after-free PR #1500
    fixed, still there with PR #1250 alone): the server's handle now points at freed memory,
    and socket_handle_valid() still says yes because it only compares with SOCKET_MAX."""
    target, gdb, peer = serve_overlapping(tmp_path, owner, elves[("multi-server", "clients")])
    handle = value(gdb, "server.sock_")
    assert handle == value(gdb, "'socket_hal.cpp'::servers.items")
    gdb.cont()
    mark = target.console.mark()
    peer.send(pack(Msg.LINK, wifi=0, cloud=0))
    assert target.console.wait_for(r"@close_all sockets=1", TIMEOUT, start=mark), (
        target.console.text()[-1500:]
    )
    gdb.interrupt()
    assert value(gdb, "'socket_hal.cpp'::servers.items") == 0
    assert value(gdb, "server.sock_") == handle  # still held by TCPServer
    assert value(gdb, f"socket_handle_valid({handle})") == 1
    target.stop()


def test_uplink_cut_makes_close_all_call_close_through_the_stale_slot(
    elves,  # noqa: F811
    owner,
    tmp_path,
):
    """The story's cut: the AP loses its uplink, the cloud time-out makes the device reset its
    WiFi (NET_RESET), socket_close_all() deletes the clients, then the server, whose close()
    calls tcp_server_client_t::close() on the stale slot-1 pointer."""
    target, gdb, peer = serve_overlapping(tmp_path, owner, elves[("multi-server", "none")])
    stale = slots(gdb)[1]
    gdb.cli(f"break tcp_server_client_t::close if this == (void *)0x{stale:x}")
    gdb.cont()
    mark = peer.mark()
    peer.send(pack(Msg.LINK, wifi=1, cloud=0))
    peer.wait(Msg.NET_RESET, start=mark)
    stop = gdb.wait_stopped(Deadline(TIMEOUT))
    assert stop and stop["frame"]["func"] == "tcp_server_client_t::close", stop
    bt = gdb.cli("bt")
    assert "tcp_server_t::close" in bt and "socket_close_all" in bt and "net_reset" in bt, bt
    target.stop()
