"""``photondbg doctor``: which external tools are here, which are missing, how to get them."""

import click

from photondbg import tools
from photondbg.errors import EXIT_USAGE


@click.command("doctor")
@click.option(
    "--target",
    type=click.Choice(["sim", "photon", "all"]),
    default="all",
    show_default=True,
    help="Only check what this target needs.",
)
def doctor(target):
    """Check every external tool photondbg drives and say how to install what is missing.

    \b
    Examples:
      photondbg doctor --target sim
      photondbg doctor --target photon   # also: is a probe / Photon attached?
    Exit 0 when everything the target needs is present, 2 otherwise.
    """
    missing = []
    for tool in tools.TOOLS:
        if target != "all" and target not in tool.targets:
            continue
        ver = tools.version(tool)
        if ver is None:
            missing.append(tool)
            click.echo(f"  MISSING  {tool.name:<18} {tool.purpose}; install: {tool.package}")
        else:
            click.echo(f"  ok       {tool.name:<18} {ver}")
    if target == "photon":
        _photon_hardware()
    if missing:
        click.echo(f"{len(missing)} tool(s) missing", err=True)
        raise SystemExit(EXIT_USAGE)
    click.echo("all tools present")


def _photon_hardware() -> None:
    """What a real-board session would find attached right now (information, not a failure)."""
    from photondbg.photon.survey import survey

    click.echo("photon hardware (information; a machine without a board is fine for --target sim):")
    for f in survey(
        tools.which("openocd"),
        with_particle=tools.which("particle") is not None,
        with_dfu=tools.which("dfu-util") is not None,
    ):
        click.echo(f"  {'found' if f.found else 'none':<8} {f.check:<21} {f.detail}")
