"""The keeper: a tiny watchdog process that stops photondbg's children if photondbg dies.

photondbg (:mod:`photondbg.procs`) starts one keeper, gives it the read end of a pipe on its
stdin and writes one line per child process group: ``+PGID`` when the group starts, ``-PGID``
when photondbg has stopped it itself. The write end lives only in photondbg, so the kernel
closes it however photondbg ends, SIGKILL included; the keeper then reads end-of-file and
stops every group still listed: SIGTERM, a short grace, SIGKILL. It runs in its own session,
so a closed terminal (SIGHUP) or a Ctrl-C meant for photondbg does not stop it first.

This covers what ``PR_SET_PDEATHSIG`` cannot: grandchildren (``make``'s compilers, ``sh``'s
commands) and children started from a thread other than the main one (the parent-death
signal fires when the *thread* that forked exits, not the process).
"""

from __future__ import annotations

import os
import signal
import sys
import time

GRACE = 1.0  # s between SIGTERM and SIGKILL


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop_groups(groups: set[int], grace: float = GRACE) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in list(groups):
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                groups.discard(pgid)
        end = time.monotonic() + grace
        while groups and time.monotonic() < end:
            groups = {g for g in groups if _alive(g)}
            time.sleep(0.05)
        if not groups:
            return


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        text = line.strip().decode(errors="replace")
        if len(text) < 2 or not text[1:].isdigit():
            continue
        pgid = int(text[1:])
        if text[0] == "+":
            groups.add(pgid)
        elif text[0] == "-":
            groups.discard(pgid)
    stop_groups(groups)


if __name__ == "__main__":
    main()
