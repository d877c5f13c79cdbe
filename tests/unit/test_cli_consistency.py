"""One CLI: the same option names in every verb, help without arguments, durations that are
numbers, one error line, and a configuration file that describes the bench once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from photondbg import config
from photondbg.cli import VERBS, cli

FAKE_OPENOCD = Path(__file__).resolve().parents[1] / "fakes" / "fake_openocd.py"


def run(*args, cwd=None, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "photondbg", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def all_commands():
    ctx = click.Context(cli)
    for verb in VERBS:
        cmd = cli.get_command(ctx, verb)
        if isinstance(cmd, click.Group):
            for sub in cmd.commands.values():
                yield f"{verb} {sub.name}", sub
        elif cmd is not None:
            yield verb, cmd


def test_option_names_are_the_same_everywhere():
    seen = {}
    for name, cmd in all_commands():
        for p in cmd.params:
            for opt in getattr(p, "opts", []):
                seen.setdefault(opt, []).append(name)
    assert "--interface" not in seen, seen.get("--interface")
    assert "--serial-port" not in seen, seen.get("--serial-port")
    assert {"capture-fault", "flash", "openocd", "campaign", "verify-fix"} <= set(seen["--probe"])
    assert {"capture-fault", "campaign", "verify-fix"} <= set(seen["--serial"])


def test_one_default_variant():
    defaults = {}
    for name, cmd in all_commands():
        for p in cmd.params:
            if (
                p.name in ("variant", "baseline")
                and isinstance(p.type, click.Choice)
                and "none" in p.type.choices
            ):
                defaults[f"{name} --{p.name}"] = p.default
    assert defaults and set(defaults.values()) <= {"none", None}, defaults


@pytest.mark.parametrize("args", [[], ["sim"]])
def test_no_arguments_prints_help_exit_0(args):
    p = run(*args)
    assert p.returncode == 0 and p.stdout.startswith("Usage: photondbg") and p.stderr == ""


@pytest.mark.parametrize(
    "verb", [["capture-fault"], ["sim", "run"], ["openocd"], ["campaign", "--target", "photon"]]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0"])
def test_timeout_must_be_a_finite_positive_duration(verb, value):
    p = run(*verb, "--timeout", value)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].count("photondbg: error:") == 1, p.stderr
    assert "--timeout" in lines[0]


def test_config_file_describes_the_bench_and_the_command_line_wins(tmp_path):
    env = dict(os.environ, PHOTONDBG_OPENOCD=str(FAKE_OPENOCD))
    env.pop("PHOTONDBG_PROBE", None)
    env.pop("FAKE_OPENOCD_SCENARIO", None)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")  # no user file from the machine
    project = tmp_path / "bench"
    (project / "sub").mkdir(parents=True)
    (project / "photondbg.toml").write_text('[bench]\nprobe = "stlink"\n')
    # the fake OpenOCD replays the recorded no-probe log of the probe it was given
    p = run("openocd", "--timeout", "10", cwd=project / "sub", env=env)  # found in a parent
    assert p.returncode == 2 and "ST-Link" in p.stderr, p.stderr
    p = run("openocd", "--timeout", "10", "--probe", "cmsis-dap", cwd=project / "sub", env=env)
    assert p.returncode == 2 and "CMSIS-DAP" in p.stderr, p.stderr
    # the user's file is weaker than the project's
    (tmp_path / "xdg" / "photondbg").mkdir(parents=True)
    (tmp_path / "xdg" / "photondbg" / "config.toml").write_text('[bench]\nprobe = "cmsis-dap"\n')
    p = run("openocd", "--timeout", "10", cwd=project, env=env)
    assert "ST-Link" in p.stderr, p.stderr
    p = run("openocd", "--timeout", "10", cwd=tmp_path, env=env)
    assert "CMSIS-DAP" in p.stderr, p.stderr


@pytest.mark.parametrize(
    "text,error",
    [
        ("[bench\n", "not valid TOML"),
        ('[bench]\nprobes = "stlink"\n', "unknown [bench] key 'probes'"),
        ('[bench]\nprobe = "jlink"\n', "Invalid value for '--probe'"),
        ('[capture-fault]\ntimeout = "nan"\n', "--timeout"),
        ("[capture-fault]\nno_such_option = 1\n", "capture-fault has no option --no-such-option"),
    ],
)
def test_bad_config_is_one_line(text, error, tmp_path):
    (tmp_path / "photondbg.toml").write_text(text)
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    verb = "openocd" if "probe" in text else "capture-fault"
    p = run(verb, cwd=tmp_path, env=env)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and error in lines[0], p.stderr


def test_defaults_for_takes_only_the_verbs_own_options():
    from photondbg.cli.capture_fault import capture_fault

    cfg = {
        "bench": {"probe": "stlink", "host": "10.0.0.2", "serial": "/dev/ttyACM1"},
        "capture-fault": {"timeout": 42},
    }
    assert config.defaults_for(capture_fault, "capture-fault", cfg) == {
        "probe": "stlink",
        "serial": "/dev/ttyACM1",
        "timeout": 42,
    }


def test_tcpserver_elf_without_scenario_hints_wifi_loss(tmp_path):
    """--elf of the multi-server app with nothing happening: suggest --scenario wifi-loss."""
    from photondbg import firmware

    elf = firmware.build("multi-server", "all")
    p = run(
        "capture-fault",
        "--elf",
        elf,
        "--scenario",
        "none",
        "--timeout",
        "2",
        "--quiet",
        "--out",
        tmp_path / "caps",
        cwd=tmp_path,
    )
    assert p.returncode == 3, p.stderr
    assert p.stderr.strip().splitlines()[-1] == (
        f"photondbg: hint: {Path(elf).name} is a TCPServer app of the simulated Photon: its "
        "fault comes with WiFi cuts, try --scenario wifi-loss"
    )
