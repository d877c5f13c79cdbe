"""``photondbg build``: firmware for the simulated Photon, or a Device OS debug build for a real
one."""

from __future__ import annotations

import json
from pathlib import Path

import click

from photondbg.errors import UsageError


@click.command("build")
@click.option(
    "--target",
    type=click.Choice(["sim", "photon"]),
    default="sim",
    show_default=True,
    help="sim: our platform under QEMU; photon: a local Device OS checkout.",
)
@click.option("--app", default="multi-server", show_default=True, help="Which test app.")
@click.option(
    "--variant",
    default="none",
    show_default=True,
    help="sim: which fixes are built in (none, clients, all).",
)
@click.option("--debug", is_flag=True, help="sim: debug build (blink SOS forever, no reset).")
@click.option(
    "--device-os",
    "device_os",
    type=click.Path(path_type=Path),
    default=None,
    help="photon: a Device OS git checkout (github.com/particle-iot/device-os).",
)
@click.option("--ref", default=None, help="photon: the git ref to build (branch, tag, commit).")
@click.option(
    "--appdir",
    type=click.Path(path_type=Path),
    default=None,
    help="photon: build these app sources instead of --app's.",
)
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None, help="photon: make -j.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
def build(target, app, variant, debug, device_os, ref, appdir, jobs, as_json):
    """Build firmware and print the ELF's path.

    \b
    Examples:
      photondbg build --app multi-server --variant none
      photondbg build --target photon --device-os ~/device-os --ref v0.6.0
    Exit 0 built, 2 bad usage or missing checkout/ref/toolchain, 1 the build failed.
    """
    if target == "sim":
        for opt, val in (("--device-os", device_os), ("--ref", ref), ("--appdir", appdir)):
            if val is not None:
                raise UsageError(f"{opt} is for --target photon")
        from photondbg import firmware

        firmware.check(app, variant)
        elf = firmware.build(app, variant, debug=debug)
        info = {"target": "sim", "app": app, "variant": variant, "elf": str(elf)}
    else:
        if device_os is None or ref is None:
            raise UsageError("--target photon needs --device-os PATH and --ref REF")
        if variant != "none" or debug:
            raise UsageError(
                "--variant/--debug are for --target sim; on a Photon a variant is a Device OS --ref"
            )
        from photondbg.photon import deviceos

        res = deviceos.build(device_os, ref, app=app, appdir=appdir, jobs=jobs)
        elf = res.elf
        info = {
            "target": "photon",
            "app": app,
            "ref": ref,
            "commit": res.commit,
            "elf": str(res.elf),
            "bin": str(res.bin) if res.bin else None,
            "worktree": str(res.worktree),
            "log": str(res.log),
        }
    click.echo(json.dumps(info) if as_json else str(elf))
