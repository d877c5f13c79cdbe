"""A real-board capture replays too: `capture-fault --target photon` through the fake OpenOCD
(relaying to QEMU, which really locks up), then `photondbg replay` serves the lock-up registers
the probe reported; memory nobody captured stays unreadable."""

import json
import sys
from pathlib import Path

from support import require_tool
from test_photon_fake_openocd import capture_photon, lockup_elf  # noqa: F401 - the module fixture

from photondbg.replay import image
from photondbg.replay.server import ReplayServer
from photondbg.targets.sim import SimTarget

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "capture"))
from replay_support import by_command, gdb_batch  # noqa: E402


def test_board_lockup_capture_replays(owner, tmp_path, lockup_elf):  # noqa: F811
    require_tool("qemu-system-arm")
    sim = SimTarget(lockup_elf, owner, logdir=tmp_path / "qemu", gdb=True).start()
    res = capture_photon(sim, lockup_elf, tmp_path / "out")
    assert res.returncode == 0, res.stderr
    capdir = Path(json.loads(res.stdout)["report"]).parent
    sim.stop()
    img = image.load(capdir)
    report = img.report
    assert report["target"]["kind"] == "photon"
    assert (
        report["reproduce"]["tools"].get("openocd") is not None
        or "openocd" in report["reproduce"]["tools"]
    )
    regs = report["fault"]["registers"] if report.get("fault") else report["lockup"]["registers"]
    with ReplayServer(img).start(once=True) as srv:
        out = by_command(gdb_batch(img.elf, srv.port, ["info registers", "x/x 0x10000000"]))
    for name in ("r0", "sp", "lr", "pc"):
        assert f"0x{regs[name]:x}" in out["info registers"].split(name, 1)[1].split("\n")[0]
    assert "Cannot access memory at address 0x10000000" in out["x/x 0x10000000"]
