"""``heaptrack``: log every malloc/free of a running Cortex-M firmware from inside GDB.

    (gdb) source /path/to/photondbg/gdb_scripts/heaptrack.py
    (gdb) heaptrack start heap-track.jsonl [DEPTH]
    (gdb) continue
    ...
    (gdb) heaptrack stop

Breakpoints on the allocator's entry points (newlib ``_malloc_r``/``_free_r`` with the size or
pointer in r1; FreeRTOS ``pvPortMalloc``/``vPortFree`` with it in r0) whose ``stop()`` records
the call and lets the target run on (GDB halts it for a moment at every call: this costs time,
measured in benchmarks/bench_analysis.py). A malloc's result is read at its return address
(a breakpoint there, matched by SP). Each event is one JSON line:
``{"n", "op": "malloc"|"free", "ptr", "size", "pc", "backtrace": [pc, ...]}`` where ``pc`` is
the caller (the allocator's return address) and ``backtrace`` the return addresses above it.
photondbg's analysis reads this file to say who freed a stale object and who reused it.
"""

import json

import gdb

ALLOCATORS = (  # (function, argument register, op)
    ("_malloc_r", "r1", "malloc"),
    ("_free_r", "r1", "free"),
    ("pvPortMalloc", "r0", "malloc"),
    ("vPortFree", "r0", "free"),
)


def _reg(frame, name):
    return int(frame.read_register(name)) & 0xFFFFFFFF


def _backtrace(depth):
    pcs = []
    try:
        f = gdb.newest_frame().older()
        while f is not None and len(pcs) < depth:
            pcs.append(int(f.pc()) & 0xFFFFFFFF)
            f = f.older()
    except gdb.error:
        pass
    return pcs


class _Tracker:
    def __init__(self, path, depth):
        self.out = open(path, "a", buffering=1)  # noqa: SIM115 - open while tracking
        self.depth = depth
        self.n = 0
        self.breakpoints = []
        self.returns = {}  # return address -> _ReturnSite
        self.pending = {}  # (return address, sp) -> malloc event awaiting its result

    def emit(self, event):
        self.n += 1
        event["n"] = self.n
        self.out.write(json.dumps(event) + "\n")

    def close(self):
        for bp in self.breakpoints:
            try:
                bp.delete()
            except (gdb.error, RuntimeError):
                pass
        self.breakpoints = []
        for event in self.pending.values():
            event.update(ptr=None, note="still inside the allocator")
            self.emit(event)
        self.pending = {}
        self.out.close()


class _ReturnSite(gdb.Breakpoint):
    """A malloc's return address: its result is in r0. One breakpoint per call site, kept;
    pending calls are matched by (return address, SP), so threads that block in malloc and
    code that merely passes through the address are told apart."""

    def __init__(self, tracker, address):
        super().__init__(f"*0x{address:x}", internal=True)
        self.silent = True
        self.tracker = tracker

    def stop(self):
        frame = gdb.newest_frame()
        key = (int(frame.pc()) & ~1, _reg(frame, "sp"))
        event = self.tracker.pending.pop(key, None)
        if event is not None:
            event["ptr"] = _reg(frame, "r0")
            self.tracker.emit(event)
        return False


class _Entry(gdb.Breakpoint):
    def __init__(self, tracker, function, reg, op):
        # at the very first instruction (not after the prologue, where GDB puts `break FN`):
        # there LR is still the return address and the caller's frame is intact
        sym = gdb.lookup_global_symbol(function)
        if sym is not None and sym.type is not None and sym.type.code == gdb.TYPE_CODE_FUNC:
            address = int(sym.value().address)
        else:
            address = int(gdb.parse_and_eval(f"(unsigned long)&{function}"))
        super().__init__(f"*0x{address & ~1:x}", internal=True)
        self.function = function
        self.silent = True
        self.tracker, self.reg, self.op = tracker, reg, op

    def stop(self):
        frame = gdb.newest_frame()
        arg = _reg(frame, self.reg)
        event = {
            "op": self.op,
            "pc": _reg(frame, "lr") & ~1,
            "backtrace": _backtrace(self.tracker.depth),
        }
        if self.op == "free":
            if arg:
                event["ptr"] = arg
                self.tracker.emit(event)
            return False
        event["size"] = arg
        ret = event["pc"]
        if ret not in self.tracker.returns:
            self.tracker.returns[ret] = _ReturnSite(self.tracker, ret)
            self.tracker.breakpoints.append(self.tracker.returns[ret])
        self.tracker.pending[(ret, _reg(frame, "sp"))] = event
        return False


class HeapTrack(gdb.Command):
    """heaptrack start FILE [DEPTH] | heaptrack stop | heaptrack status"""

    def __init__(self):
        super().__init__("heaptrack", gdb.COMMAND_USER)
        self.tracker = None

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        if not args or args[0] not in ("start", "stop", "status"):
            raise gdb.GdbError("usage: heaptrack start FILE [DEPTH] | stop | status")
        if args[0] == "stop":
            if self.tracker:
                self.tracker.close()
                self.tracker = None
            return
        if args[0] == "status":
            n = self.tracker.n if self.tracker else 0
            gdb.write(f"heaptrack: {'on' if self.tracker else 'off'}, {n} events\n")
            return
        if len(args) < 2:
            raise gdb.GdbError("usage: heaptrack start FILE [DEPTH]")
        if self.tracker:
            self.tracker.close()
        depth = int(args[2]) if len(args) > 2 else 6
        tracker = _Tracker(args[1], depth)
        for function, reg, op in ALLOCATORS:
            try:
                bp = _Entry(tracker, function, reg, op)
            except (gdb.error, RuntimeError):
                continue
            tracker.breakpoints.append(bp)
        if not tracker.breakpoints:
            tracker.close()
            raise gdb.GdbError(
                "heaptrack: no allocator entry point found "
                "(_malloc_r/_free_r or pvPortMalloc/vPortFree)"
            )
        self.tracker = tracker
        gdb.write(f"heaptrack: on ({', '.join(b.function for b in tracker.breakpoints)})\n")


HeapTrack()
