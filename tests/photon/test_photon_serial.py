"""The Photon's USB serial console on a pseudo-terminal: lines, serial.log, and re-opening when
the port vanishes and comes back (the Photon re-enumerates on every reset)."""

import os
import time

import pytest

from photondbg.errors import UsageError
from photondbg.targets.console import Console
from photondbg.targets.photon import PhotonTarget, SerialStream


def test_console_reads_lines_and_survives_reenumeration(tmp_path):
    master1, slave1 = os.openpty()
    port = tmp_path / "ttyPhoton"  # like udev's /dev/serial/by-id/... symlink
    port.symlink_to(os.ttyname(slave1))
    stream = SerialStream(str(port), 9600, retry=0.05)
    con = Console(stream, tmp_path / "serial.log", name="photon-serial")
    try:
        os.write(master1, b"WiFi.ready: 1\r\n")
        assert con.wait_for(r"^WiFi\.ready: 1$", 10) is not None
        # the Photon resets: its port disappears, and a new one appears under the same name
        os.close(master1)
        os.close(slave1)
        master2, slave2 = os.openpty()
        port.unlink()
        port.symlink_to(os.ttyname(slave2))
        # (opening a port flushes its input, as on the real board: write once it is open)
        deadline = time.monotonic() + 10
        while stream.reopens == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stream.reopens == 1
        os.write(master2, b"reset reason: 130\r\n")
        assert con.wait_for(r"^reset reason: 130$", 10) is not None
        stream.sendall(b"?\n")
        assert os.read(master2, 16).startswith(b"?")
    finally:
        con.close()
        stream.close()
    log = (tmp_path / "serial.log").read_bytes()
    assert b"WiFi.ready: 1\r\n" in log and b"reset reason: 130\r\n" in log
    os.close(master2)
    os.close(slave2)


def test_missing_serial_port_is_usage_error_before_openocd(owner, tmp_path):
    target = PhotonTarget(None, owner, serial_port=str(tmp_path / "ttyACM9"))
    with pytest.raises(UsageError, match="cannot open serial port"):
        target.start()
    assert target.session.child is None  # OpenOCD never started
