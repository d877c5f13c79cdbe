"""Command-line assembly of every wrapper, checked exactly (pure functions, no programs run)."""

import pytest

from photondbg.errors import UsageError
from photondbg.photon import deviceos, dfu, openocd_argv, particle

VC = "cortex_m vector_catch hard_err int_err bus_err state_err chk_err nocp_err mm_err reset"


def test_particle_compile_argv():
    assert particle.compile_argv("particle", "/src/app", "/out/app.bin") == [
        "particle",
        "compile",
        "photon",
        "/src/app",
        "--target",
        "0.6.0",
        "--saveTo",
        "/out/app.bin",
    ]
    assert particle.compile_argv("p", "a", "b", device_os="0.7.0")[5] == "0.7.0"


def test_particle_other_argv():
    assert particle.flash_usb_argv("particle", "/x/app.bin") == [
        "particle",
        "flash",
        "--usb",
        "/x/app.bin",
    ]
    assert particle.usb_list_argv("particle") == ["particle", "usb", "list"]
    assert particle.serial_list_argv("particle") == ["particle", "serial", "list"]


def test_dfu_argv():
    assert dfu.list_argv("dfu-util") == ["dfu-util", "-l"]
    assert dfu.download_argv("dfu-util", "app.bin", 0x080A0000) == [
        "dfu-util",
        "-d",
        "2b04:d006",
        "-a",
        "0",
        "-s",
        "0x080A0000:leave",
        "-D",
        "app.bin",
    ]
    assert dfu.download_argv(
        "dfu-util", "mono.bin", 0x08020000, leave=False, serial="00000000010C"
    ) == [
        "dfu-util",
        "-d",
        "2b04:d006",
        "-a",
        "0",
        "-S",
        "00000000010C",
        "-s",
        "0x08020000",
        "-D",
        "mono.bin",
    ]


def test_openocd_session_argv_cmsis_dap_with_rtos():
    assert openocd_argv.session_argv(
        "openocd", interface="cmsis-dap", gdb_port=50001, telnet_port=50002, rtos="FreeRTOS"
    ) == [
        "openocd",
        "-f",
        "interface/cmsis-dap.cfg",
        "-f",
        "target/stm32f2x.cfg",
        "-c",
        "bindto 127.0.0.1",
        "-c",
        "gdb_port 50001",
        "-c",
        "telnet_port 50002",
        "-c",
        "tcl_port disabled",
        "-c",
        "$_TARGETNAME configure -rtos FreeRTOS",
        "-c",
        "init",
        "-c",
        VC,
    ]


def test_openocd_session_argv_stlink_plain():
    argv = openocd_argv.session_argv(
        ["python3", "fake.py"],
        interface="stlink",
        gdb_port=1,
        telnet_port=2,
        vector_catch=False,
        search=["/cfg"],
        extra_commands=["reset halt"],
    )
    assert argv == [
        "python3",
        "fake.py",
        "-s",
        "/cfg",
        "-f",
        "interface/stlink.cfg",
        "-f",
        "target/stm32f2x.cfg",
        "-c",
        "bindto 127.0.0.1",
        "-c",
        "gdb_port 1",
        "-c",
        "telnet_port 2",
        "-c",
        "tcl_port disabled",
        "-c",
        "init",
        "-c",
        "reset halt",
    ]


def test_openocd_vector_catch_comes_after_init_and_before_any_reset():
    argv = openocd_argv.session_argv(
        "openocd", interface="cmsis-dap", gdb_port=1, telnet_port=2, extra_commands=["reset halt"]
    )
    cmds = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert cmds.index("init") < cmds.index(VC) < cmds.index("reset halt")


def test_openocd_program_argv():
    assert openocd_argv.program_argv("openocd", "/fw/app.elf", interface="cmsis-dap") == [
        "openocd",
        "-f",
        "interface/cmsis-dap.cfg",
        "-f",
        "target/stm32f2x.cfg",
        "-c",
        "gdb_port disabled",
        "-c",
        "telnet_port disabled",
        "-c",
        "tcl_port disabled",
        "-c",
        "program {/fw/app.elf} verify reset exit",
    ]
    assert (
        openocd_argv.program_argv("openocd", "/fw/m.bin", interface="stlink", address=0x08020000)[
            -1
        ]
        == "program {/fw/m.bin} 0x08020000 verify reset exit"
    )


@pytest.mark.parametrize("kw", [{"interface": "jlink"}, {"interface": "stlink", "rtos": "zephyr"}])
def test_openocd_bad_choices_are_usage_errors(kw):
    with pytest.raises(UsageError):
        openocd_argv.session_argv("openocd", gdb_port=1, telnet_port=2, **kw)


def test_deviceos_make_and_worktree_argv():
    assert deviceos.make_argv("make", "/wt/abc", "/b/app/multi-server") == [
        "make",
        "-C",
        "/wt/abc/main",
        "PLATFORM=photon",
        "APPDIR=/b/app/multi-server",
        "MODULAR=n",
        "DEBUG_BUILD=y",
        "USE_SWD_JTAG=y",
    ]
    assert deviceos.make_argv("make", "/wt", "/a", jobs=4)[-1] == "-j4"
    assert deviceos.worktree_argv("git", "/dos", "/wt/abc", "f00d") == [
        "git",
        "-C",
        "/dos",
        "worktree",
        "add",
        "--detach",
        "/wt/abc",
        "f00d",
    ]
