"""The ``photondbg`` command: one verb per module, loaded only when used (fast ``--help``)."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from photondbg.errors import PhotondbgError

# verb -> (module, attribute, one-line help). Modules are imported lazily.
VERBS = {
    "doctor": ("photondbg.cli.doctor", "doctor", "Check the external tools a target needs."),
    "build": ("photondbg.cli.build", "build", "Build firmware for the sim or a real Photon."),
    "sim": (
        "photondbg.cli.sim",
        "sim",
        "Run the simulated Photon: boot it, load it, cut its WiFi.",
    ),
    "capture-fault": (
        "photondbg.cli.capture_fault",
        "capture_fault",
        "Run until the first fault and write a full fault report.",
    ),
    "flash": (
        "photondbg.cli.flash",
        "flash",
        "Flash a real Photon (particle-cli, dfu-util, OpenOCD).",
    ),
    "openocd": ("photondbg.cli.openocd", "openocd", "Run an OpenOCD session for a real Photon."),
    "campaign": (
        "photondbg.cli.campaign",
        "campaign",
        "Cut a real Photon's WiFi again and again under HTTP load; classify each cycle.",
    ),
    "analyze": (
        "photondbg.cli.analyze",
        "analyze",
        "Name the use-after-free behind a capture (heap walk, dangling pointers).",
    ),
    "verify-fix": (
        "photondbg.cli.verify_fix",
        "verify_fix",
        "Compare two firmware variants over many WiFi cuts, with statistics.",
    ),
    "replay": (
        "photondbg.cli.replay",
        "replay",
        "Serve a capture to GDB as the halted board (GDB remote protocol, 127.0.0.1).",
    ),
    "report": (
        "photondbg.cli.report",
        "report",
        "Re-render a capture as Markdown, JSON or one self-contained HTML page.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [v for v, (mod, _, _) in VERBS.items() if importlib.util.find_spec(mod) is not None]

    def get_command(self, ctx, name):
        if name not in VERBS:
            return None
        mod, attr, _ = VERBS[name]
        try:
            command = getattr(importlib.import_module(mod), attr)
        except ModuleNotFoundError as e:
            if e.name == mod:
                return None
            raise
        _config_defaults(ctx, name, command)
        _add_verbose(command)
        return command

    def format_commands(self, ctx, formatter):
        rows = [(v, VERBS[v][2]) for v in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _verbosity(ctx, param, value) -> None:
    if value:
        from photondbg import log

        log.setup(value)


def _verbose_option() -> click.Option:
    return click.Option(
        ["-v", "--verbose"],
        count=True,
        expose_value=False,
        is_eager=True,
        callback=_verbosity,
        help="Log progress on stderr (-vv: debug). Every run directory gets "
        "the full log in photondbg.log anyway.",
    )


def _add_verbose(command: click.Command) -> None:
    """Every verb (and its subcommands) takes -v/--verbose, after the verb too."""
    if not any(p.name == "verbose" for p in command.params):
        command.params.append(_verbose_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_verbose(sub)


@click.group(
    cls=LazyGroup, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="photondbg")
@click.option(
    "-v",
    "--verbose",
    count=True,
    expose_value=False,
    is_eager=True,
    callback=_verbosity,
    help="Log progress on stderr (-vv: debug).",
)
def cli():
    """photondbg: catch the first fault of a Particle Photon that crashes after WiFi loss.

    \b
    Default target is a simulated Photon (QEMU netduino2, an STM32F205):
      photondbg capture-fault            # build, boot, load, cut WiFi, catch the fault
      photondbg sim run --variant none --cycles 5
      photondbg doctor
    """


def _config_defaults(ctx, name: str, command) -> None:
    """photondbg.toml / ~/.config/photondbg/config.toml as click defaults of this verb (the
    command line still wins): photondbg.config."""
    from photondbg import config

    if "photondbg.config" not in ctx.meta:
        ctx.meta["photondbg.config"] = config.load()
    defaults = config.defaults_for(command, name, ctx.meta["photondbg.config"])
    if defaults:
        current = dict(ctx.default_map or {})
        current[name] = {**defaults, **current.get(name, {})}
        ctx.default_map = current


def main(argv=None) -> None:
    from photondbg import log
    from photondbg.procs import install_signal_handlers

    install_signal_handlers()  # SIGTERM and SIGHUP unwind like Ctrl-C, children stop with us
    log.setup(0)  # warnings on stderr; -v / -vv raise it
    try:
        cli.main(args=argv, prog_name="photondbg", standalone_mode=False)
    except PhotondbgError as e:
        _say(f"photondbg: error: {e}")
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.NoArgsIsHelpError as e:  # `photondbg`, `photondbg sim`: help, exit 0
        click.echo(e.ctx.get_help())
        sys.exit(0)
    except click.UsageError as e:  # bad usage is one line, like every other error
        ctx = f"{e.ctx.command_path}: " if e.ctx is not None else ""
        _say(f"photondbg: error: {ctx}{e.format_message()}")
        sys.exit(2)
    except click.ClickException as e:
        _say(f"photondbg: error: {e.format_message()}")
        sys.exit(2 if e.exit_code in (1, 2) else e.exit_code)
    except click.exceptions.Abort as e:  # click wraps a KeyboardInterrupt (or EOF at a prompt)
        _interrupted(
            e.__cause__ if isinstance(e.__cause__, KeyboardInterrupt) else KeyboardInterrupt()
        )
    except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM, SIGHUP (photondbg.procs.Interrupted)
        _interrupted(e)
    sys.exit(0)


def _say(line: str) -> None:
    """One line on stderr; a closed terminal (after SIGHUP) must not turn it into a traceback."""
    try:
        click.echo(line, err=True)
    except OSError:
        pass


def _interrupted(e: BaseException) -> None:
    """Stop every child, then say what stopped us and where the partial output is (last line)."""
    from photondbg.procs import close_all, interruption

    close_all()
    intr = interruption(e)
    where = f"; partial output: {intr.partial}" if intr.partial else ""
    _say(f"photondbg: {intr.reason}{where}")
    sys.exit(intr.exit_code)  # 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP
