"""``photondbg sim``: the simulated Photon (QEMU netduino2 + the bridge), no debugger needed."""

from __future__ import annotations

import click

from photondbg.cli.sim_board import boot, netcut
from photondbg.cli.sim_run import run


@click.group("sim")
def sim():
    """Run the simulated Photon: boot it, load it with HTTP, cut its WiFi.

    \b
    Examples:
      photondbg sim run --variant none --cycles 5
      photondbg sim run --variant clients --cycles 10 --json
      photondbg sim boot --app simple-server
    """


sim.add_command(run)
sim.add_command(boot)
sim.add_command(netcut)
