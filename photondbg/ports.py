"""Loopback ports: always chosen by the OS, never fixed."""

import errno
import socket

from photondbg.errors import UsageError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def listen(port: int = 0, backlog: int = 8) -> socket.socket:
    """A listening socket on 127.0.0.1; port 0 lets the OS choose.

    A port that is already taken is bad input: UsageError (exit 2), one line.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((LOOPBACK, port))
    except OSError as e:
        s.close()
        if e.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {LOOPBACK} is already in use") from None
        raise
    s.listen(backlog)
    return s


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True
