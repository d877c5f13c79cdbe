"""The process owner: children always stopped, newest first, twice is harmless, Ctrl-C too."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from photondbg.errors import UsageError
from photondbg.ports import listen
from photondbg.procs import ProcessOwner


def test_children_stop_newest_first_and_close_twice_is_harmless(tmp_path):
    order = []
    with ProcessOwner(logdir=tmp_path) as owner:
        a = owner.spawn("first", ["sleep", "30"])
        b = owner.spawn("second", ["sleep", "30"])
        owner.add_cleanup(lambda: order.append("cleanup"))
        a_quit = lambda c: order.append(c.role)  # noqa: E731
        a.quit = a_quit
        b.quit = a_quit
    assert not a.alive() and not b.alive()
    assert order == ["cleanup", "second", "first"]
    owner.close()  # again: nothing happens
    assert (tmp_path / "first.log").exists()


def test_a_child_that_ignores_sigterm_is_killed(tmp_path):
    owner = ProcessOwner(logdir=tmp_path)
    child = owner.spawn(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal,time; "
            "signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            "print('ready', flush=True); time.sleep(60)",
        ],
    )
    deadline = time.monotonic() + 10
    while b"ready" not in (tmp_path / "stubborn.log").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    owner.close()
    assert child.proc.returncode == -signal.SIGKILL


def test_sigint_in_a_program_using_an_owner_leaves_no_child(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        from photondbg.procs import ProcessOwner
        owner = ProcessOwner()
        c = owner.spawn("sleeper", ["sleep", "60"])
        print(c.pid, flush=True)
        try:
            time.sleep(60)
        finally:
            owner.close()
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid = int(p.stdout.readline())
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10)
    time.sleep(0.1)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_port_in_use_is_a_usage_error():
    s = listen()
    try:
        with pytest.raises(UsageError, match="already in use"):
            listen(s.getsockname()[1])
    finally:
        s.close()


def test_sigkill_of_the_owner_stops_children_from_any_thread_and_grandchildren():
    """Nothing runs in a SIGKILLed program: the parent-death signal (main-thread child) and the
    keeper (a child started from another thread, and a grandchild) stop them all."""
    script = textwrap.dedent("""
        import threading, time
        from photondbg.procs import ProcessOwner
        owner = ProcessOwner()
        pids = [owner.spawn("main", ["sleep", "60"]).pid]
        def spawn():
            c = owner.spawn("thread", ["sh", "-c", "sleep 61 & echo $!; wait"],
                            stdout=__import__("subprocess").PIPE)
            pids.append(c.pid)
            pids.append(int(c.proc.stdout.readline()))
        t = threading.Thread(target=spawn)
        t.start()
        t.join()
        print(*pids, flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(x) for x in p.stdout.readline().split()]
    assert len(pids) == 3
    p.kill()
    p.wait(timeout=10)
    end = time.monotonic() + 8
    alive = pids
    while alive and time.monotonic() < end:
        alive = [pid for pid in pids if _alive(pid)]
        time.sleep(0.05)
    assert alive == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_unwind_like_ctrl_c(sig):
    script = textwrap.dedent("""
        import time
        from photondbg.procs import Interrupted, ProcessOwner
        with ProcessOwner() as owner:
            try:
                c = owner.spawn("sleeper", ["sleep", "60"])
                print(c.pid, flush=True)
                time.sleep(60)
            except Interrupted as e:
                print(e.reason, e.exit_code, flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid = int(p.stdout.readline())
    p.send_signal(sig)
    out, _ = p.communicate(timeout=20)
    name = {signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}[sig]
    assert out.split() == ["interrupted", "by", name, str(128 + sig)]
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
